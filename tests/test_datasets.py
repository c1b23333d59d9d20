"""Dataset layouts on generated folder trees (and the real Dresden sample when present)."""
from __future__ import annotations

import shutil
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from camlib.datasets import (
    KAGGLE_CLASSES, LayoutError, Record, class_names, load_records, read_dresden, read_folder, read_kaggle,
    records_frame, scan_readable, split_records,
)
from camlib.download import COMPETITION, DownloadError, download_kaggle, extract_kaggle_zip


def tiny_image(path, seed: int = 0, size=(16, 12)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3)).astype(np.uint8)
    Image.fromarray(pixels).save(path)


def kaggle_tree(root, labels: bool) -> None:
    for index, camera in enumerate(KAGGLE_CLASSES):
        for shot in range(3):
            suffix = ".JPG" if shot == 2 else ".jpg"
            tiny_image(root / "train" / camera / f"({camera})_{shot}{suffix}", seed=index * 10 + shot)
    names = ["img_0001a_unalt.tif", "img_0002b_manip.tif", "img_0003c_unalt.tif"]
    for seed, name in enumerate(names):
        tiny_image(root / "test" / name, seed=100 + seed)
    (root / "train" / ".hidden").mkdir()  # hidden folders are not classes
    pd.DataFrame({"fname": names, "camera": "iPhone-6"}).to_csv(root / "sample_submission.csv", index=False)
    if labels:
        pd.DataFrame({"fname": names, "camera": ["iPhone-6", "Sony-NEX-7", "Motorola-X"],
                      "manipulation": ["unalt", "jpg70", "unalt"]}).to_csv(root / "test_labels.csv", index=False)


def test_kaggle_without_labels(tmp_path):
    kaggle_tree(tmp_path, labels=False)
    records = load_records("kaggle", tmp_path)
    assert class_names(records) == sorted(KAGGLE_CLASSES)
    train = [r for r in records if r.split == "train"]
    test = [r for r in records if r.split == "test"]
    assert len(train) == 30 and Counter(r.camera for r in train) == {c: 3 for c in KAGGLE_CLASSES}
    assert [(r.camera, r.manipulation) for r in sorted(test, key=lambda r: r.path)] == [
        (None, "unalt"), (None, "manip"), (None, "unalt")]


def test_kaggle_with_labels(tmp_path):
    kaggle_tree(tmp_path, labels=True)
    test = {r.path.split("/")[-1]: r for r in read_kaggle(tmp_path) if r.split == "test"}
    assert (test["img_0002b_manip.tif"].camera, test["img_0002b_manip.tif"].manipulation) == ("Sony-NEX-7", "jpg70")
    assert test["img_0001a_unalt.tif"].camera == "iPhone-6"
    frame = records_frame(load_records("kaggle", tmp_path))
    assert list(frame.columns) == ["path", "camera", "device", "split", "manipulation", "scene"] and len(frame) == 33


def test_kaggle_layout_errors(tmp_path):
    kaggle_tree(tmp_path, labels=True)
    labels = pd.read_csv(tmp_path / "test_labels.csv")
    labels.loc[0, "camera"] = "Nokia-3310"
    labels.to_csv(tmp_path / "test_labels.csv", index=False)
    with pytest.raises(LayoutError, match="Nokia-3310 has no training image"):
        load_records("kaggle", tmp_path)
    labels[["fname"]].to_csv(tmp_path / "test_labels.csv", index=False)
    with pytest.raises(LayoutError, match="fname,camera"):
        load_records("kaggle", tmp_path)
    (tmp_path / "test_labels.csv").unlink()
    (tmp_path / "train" / "Empty-Phone").mkdir()
    with pytest.raises(LayoutError, match="Empty-Phone has no training image"):
        load_records("kaggle", tmp_path)
    with pytest.raises(LayoutError, match="no train/ folder"):
        load_records("kaggle", tmp_path / "train")


def test_parameter_errors_are_one_line(tmp_path):
    tiny_image(tmp_path / "cam" / "a.jpg")
    cases = [("nonsense", tmp_path, "unknown layout 'nonsense'"), ("folder", tmp_path / "nope", "data folder not found"),
             ("folder", tmp_path / "cam" / "a.jpg", "is a file"), ("dresden", tmp_path, "Brand_Model_Device_Shot")]
    for layout, root, fragment in cases:
        with pytest.raises(LayoutError) as caught:
            load_records(layout, root)
        assert fragment in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(LayoutError, match="test_fraction"):
        load_records("folder", tmp_path, test_fraction=1.5)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LayoutError, match="no class folders"):
        load_records("folder", empty)
    with pytest.raises(LayoutError, match="class empty has no training image"):
        load_records("folder", tmp_path)


def test_dresden_nested_folders_split_by_device(tmp_path):
    names = {"flat/a/Nikon_D70_0_100.JPG": 0, "flat/b/Nikon_D70_0_101.jpg": 1, "natural/Nikon_D70_1_200.JPG": 2,
             "Nikon_D70s_0_300.JPG": 3, "x/y/z/Nikon_D70s_1_400.JPG": 4, "Nikon_D70s_2_401.JPG": 5,
             "Canon_Ixus70_2_1.jpg": 6, "Canon_Ixus70_10_2.jpg": 7, "Canon_Ixus70_10_3.jpg": 8,
             "notes/readme_photo.jpg": 9}
    for name, seed in names.items():
        tiny_image(tmp_path / name, seed)
    records = load_records("dresden", tmp_path)
    table = {(r.camera, r.device, r.split) for r in records}
    assert table == {("Nikon_D70", "0", "train"), ("Nikon_D70", "1", "test"), ("Nikon_D70s", "0", "train"),
                     ("Nikon_D70s", "1", "test"), ("Nikon_D70s", "2", "test"),
                     ("Canon_Ixus70", "2", "train"), ("Canon_Ixus70", "10", "test")}  # devices sort as numbers
    assert len(records) == 9 and class_names(records) == ["Canon_Ixus70", "Nikon_D70", "Nikon_D70s"]


def test_folder_nested_devices_split_by_device(tmp_path):
    for camera in ("camA", "camB"):
        for device in ("dev1", "dev2", "dev3"):
            for shot in range(2):
                tiny_image(tmp_path / camera / device / f"{shot}.png", seed=shot)
    records = read_folder(tmp_path)
    assert {(r.camera, r.device, r.split) for r in records} == {
        (c, d, "train" if d == "dev1" else "test") for c in ("camA", "camB") for d in ("dev1", "dev2", "dev3")}


def test_folder_flat_random_split_is_stratified_and_reproducible(tmp_path):
    for camera, count in (("camA", 10), ("camB", 7), ("camC", 1)):
        for shot in range(count):
            tiny_image(tmp_path / camera / f"{shot:02d}.jpg", seed=shot)
    first = load_records("folder", tmp_path, seed=3)
    assert first == load_records("folder", tmp_path, seed=3)
    tests = Counter(r.camera for r in first if r.split == "test")
    assert tests == {"camA": 3, "camB": 2}  # round(0.3 * n); the single camC image trains
    assert class_names(first) == ["camA", "camB", "camC"]
    others = [load_records("folder", tmp_path, seed=s) for s in range(4, 9)]
    assert any({r.path for r in o if r.split == "test"} != {r.path for r in first if r.split == "test"} for o in others)
    assert all(r.device is None for r in first)


def test_split_records_unknown_device_trains():
    rows = [("a1", "A", "0"), ("a2", "A", "1"), ("a3", "A", None)]
    assert [r.split for r in split_records(rows)] == ["train", "test", "train"]


def test_scan_readable_keeps_the_good_and_lists_the_bad(tmp_path):
    tiny_image(tmp_path / "good.jpg", size=(64, 48))
    tiny_image(tmp_path / "small.jpg", size=(16, 12))
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not an image")
    records = [Record(str(tmp_path / n), "A") for n in ("good.jpg", "small.jpg", "empty.jpg", "text.jpg", "gone.jpg")]
    ok, bad = scan_readable(records, min_size=32, progress=False)
    assert ok == records[:1]
    assert list(bad.columns) == ["path", "reason"] and len(bad) == 4
    reasons = dict(zip(bad.path.str.split("/").str[-1], bad.reason))
    assert "smaller" in reasons["small.jpg"] and "empty" in reasons["empty.jpg"]
    assert "not an image" in reasons["text.jpg"] and "not found" in reasons["gone.jpg"]
    ok, bad = scan_readable([r.path for r in records], progress=True)  # plain paths work too
    assert len(ok) == 2 and len(bad) == 3


def test_real_dresden_sample(dresden_nikon):
    records = load_records("dresden", dresden_nikon)
    assert class_names(records) == ["Nikon_D200", "Nikon_D70", "Nikon_D70s"]
    counts = Counter((r.camera, r.device, r.split) for r in records)
    assert counts == {("Nikon_D200", "0", "train"): 11, ("Nikon_D200", "1", "test"): 11,
                      ("Nikon_D70", "0", "train"): 12, ("Nikon_D70", "1", "test"): 14,
                      ("Nikon_D70s", "0", "train"): 13, ("Nikon_D70s", "1", "test"): 15}
    ok, bad = scan_readable(records)
    assert len(ok) == 76 and bad.empty
    assert read_dresden(dresden_nikon) == records


# --- getting the data (camlib.download): no network, a fake `kaggle` CLI -------------------------------

def kaggle_bundle(folder, nested: bool = True):
    """A zip shaped like the challenge download: train.zip, test.zip, sample_submission.csv.zip inside."""
    import zipfile

    source = folder / "source"
    kaggle_tree(source, labels=False)
    bundle = folder / f"{COMPETITION}.zip"
    with zipfile.ZipFile(bundle, "w") as outer:
        for part in ("train", "test"):
            if nested:
                inner = folder / f"{part}.zip"
                with zipfile.ZipFile(inner, "w") as archive:
                    for path in (source / part).rglob("*"):
                        archive.write(path, path.relative_to(source).as_posix())
                outer.write(inner, inner.name)
            else:
                for path in (source / part).rglob("*"):
                    outer.write(path, path.relative_to(source).as_posix())
        outer.write(source / "sample_submission.csv", "sample_submission.csv")
    return bundle


FAKE_KAGGLE = """#!/bin/sh
echo "$2" >> "$FAKE_KAGGLE_LOG"
case "$2" in
  files) echo "name,totalBytes,creationDate"; echo "$FAKE_ZIP_NAME,$FAKE_ZIP_SIZE,2018-01-01 00:00:00";;
  download) cp "$FAKE_ZIP" "$6/$FAKE_ZIP_NAME";;
esac
"""


@pytest.fixture()
def fake_kaggle(tmp_path, monkeypatch):
    """A `kaggle` on PATH that lists and 'downloads' a local zip; returns (log file, zip)."""
    import os
    import stat

    bundle = kaggle_bundle(tmp_path / "upstream")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "kaggle"
    script.write_text(FAKE_KAGGLE)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "kaggle.log"
    for name, value in {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_KAGGLE_LOG": str(log),
                        "FAKE_ZIP": str(bundle), "FAKE_ZIP_NAME": bundle.name,
                        "FAKE_ZIP_SIZE": str(bundle.stat().st_size), "HOME": str(tmp_path / "home"),
                        "KAGGLE_USERNAME": "someone", "KAGGLE_KEY": "not-a-real-key"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KAGGLE_CONFIG_DIR", raising=False)
    return log, bundle


def calls(log) -> list[str]:
    return log.read_text().split() if log.exists() else []


def test_download_without_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(DownloadError, match="pip install kaggle"):
        download_kaggle(tmp_path / "data")


def test_download_without_credentials(tmp_path, fake_kaggle, monkeypatch):
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(DownloadError, match="no Kaggle credentials") as caught:
        download_kaggle(tmp_path / "data")
    assert "\n" not in str(caught.value) and calls(fake_kaggle[0]) == []
    (tmp_path / "home" / ".kaggle").mkdir(parents=True)
    (tmp_path / "home" / ".kaggle" / "kaggle.json").write_text('{"username": "u", "key": "k"}')
    monkeypatch.delenv("KAGGLE_USERNAME", raising=False)
    assert download_kaggle(tmp_path / "data").is_dir()  # kaggle.json is enough


def test_download_is_resumable_and_unpacks_atomically(tmp_path, fake_kaggle):
    log, bundle = fake_kaggle
    dest = tmp_path / "data"
    root = download_kaggle(dest)
    assert root == dest / COMPETITION and calls(log) == ["files", "download"]
    records = load_records("kaggle", root)
    assert class_names(records) == sorted(KAGGLE_CLASSES) and sum(r.split == "test" for r in records) == 3
    assert sorted(p.name for p in dest.iterdir()) == [COMPETITION, bundle.name]  # no temporary folder left

    assert download_kaggle(dest) == root and calls(log) == ["files", "download"]  # already unpacked: nothing run
    shutil.rmtree(root)
    download_kaggle(dest)
    assert calls(log) == ["files", "download", "files"]  # the zip's size matches the listing: not fetched again
    shutil.rmtree(root)
    (dest / bundle.name).write_bytes(bundle.read_bytes()[:1000])  # an interrupted download
    download_kaggle(dest)
    assert calls(log)[-2:] == ["files", "download"] and load_records("kaggle", root)


def test_extract_checks_the_layout(tmp_path):
    import zipfile

    for nested in (True, False):
        bundle = kaggle_bundle(tmp_path / f"up{nested}", nested=nested)
        root = extract_kaggle_zip(bundle, tmp_path / f"out{nested}")
        assert (root / "train" / "iPhone-6").is_dir() and (root / "sample_submission.csv").is_file()
        assert not list(root.rglob("*.zip"))
    wrong = tmp_path / "wrong.zip"
    with zipfile.ZipFile(wrong, "w") as archive:
        archive.writestr("readme.txt", "no images here")
    with pytest.raises(DownloadError, match="no train/ folder"):
        extract_kaggle_zip(wrong, tmp_path / "out3")
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(DownloadError, match="cannot unzip"):
        extract_kaggle_zip(tmp_path / "broken.zip", tmp_path / "out3")
    assert list((tmp_path / "out3").iterdir()) == []  # failed extractions leave nothing behind


def test_scene_type_from_the_folders_and_counts_per_camera_and_device(tmp_path):
    from camlib.datasets import scene_counts
    for device in (0, 1):
        for shot in range(3):
            tiny_image(tmp_path / "dresden" / "flatfield" / f"Nikon_D70_{device}_{10 + shot}.JPG", seed=shot)
        tiny_image(tmp_path / "dresden" / "Natural" / f"Nikon_D70_{device}_20.JPG")
        tiny_image(tmp_path / "dresden" / "flat-field" / f"Nikon_D200_{device}_30.JPG")
        tiny_image(tmp_path / "dresden" / "other" / f"Nikon_D200_{device}_40.JPG")
    records = load_records("dresden", tmp_path / "dresden")
    counts = {(c["split"], c["camera"], c["device"], c["scene"]): c["count"] for c in scene_counts(records)}
    assert counts == {(split, camera, device, scene): n for split, device in (("train", "0"), ("test", "1"))
                      for camera, scene, n in (("Nikon_D70", "flatfield", 3), ("Nikon_D70", "natural", 1),
                                               ("Nikon_D200", "flatfield", 1), ("Nikon_D200", "unknown", 1))}
    # a layout whose folders name no scene type: every photo is 'unknown'
    for camera in ("a", "b"):
        for shot in range(3):
            tiny_image(tmp_path / "folder" / camera / f"{shot}.jpg", seed=shot)
    assert {r.scene for r in load_records("folder", tmp_path / "folder")} == {"unknown"}


def test_flat_fields_of_one_device_form_one_series_and_natural_photos_their_own():
    from camlib.datasets import series_id
    flats = {series_id(f"flatfield/Nikon_D70_{device}_{shot}.JPG", "Nikon_D70") for device in (0, 1) for shot in range(10)}
    assert len(flats) == 2  # one series per device
    assert series_id("flatfield/Nikon_D70_0_1.JPG", "Nikon_D70") != series_id("flatfield/Nikon_D70s_0_1.JPG", "Nikon_D70s")
    naturals = {series_id(f"natural/Nikon_D70_0_{shot}.JPG", "Nikon_D70") for shot in range(5)}
    assert len(naturals) == 5
    # folder layout <camera>/<device>/flat/<image>: the folder names the device
    assert series_id("a/dev1/flat/1.jpg", "a") == series_id("a/dev1/flat/2.jpg", "a") != series_id("a/dev2/flat/1.jpg", "a")
    assert series_id("test/img_1_unalt.tif", None) == "test/img_1_unalt.tif"


def test_real_dresden_sample_is_mostly_flat_fields(dresden_nikon):
    from camlib.datasets import scene_counts
    counts = Counter()
    for row in scene_counts(load_records("dresden", dresden_nikon)):
        counts[row["scene"]] += row["count"]
    assert counts == {"flatfield": 60, "natural": 16}


def test_the_data_facts_give_flat_field_and_natural_counts_per_camera_and_device():
    from camlib.datasets import scene_counts
    from camlib.stages.exploration import SceneCount
    from camlib.summary import DataFacts
    records = [Record(f"/d/flatfield/A_x_{d}_{i}.JPG", "A_x", str(d), "train" if d == 0 else "test", scene="flatfield")
               for d in (0, 1) for i in range(10)] + [Record("/d/natural/A_x_1_99.JPG", "A_x", "1", "test", scene="natural")]
    facts = DataFacts(name="d", simulated=False, layout="dresden", classes=["A_x"], n_train_images=10, n_test_images=11,
                      n_test_unlabelled=0, test_is_holdout=False, split_by_device=True, n_bad_files=0, excluded_cameras={},
                      scenes=[SceneCount(**row) for row in scene_counts(records)])
    assert facts.scene_rows() == [
        {"split": "train", "camera": "A_x", "device": "0", "flatfield": 10, "natural": 0},
        {"split": "test", "camera": "A_x", "device": "1", "flatfield": 10, "natural": 1}]
    assert (facts.scene_total("flatfield"), facts.scene_total("natural")) == (20, 1)
    # a scene type named by the folder's index (real-crops: aerial) gets its own column, unnamed ones come last
    records += [Record("/d/B_y_0_1.JPG", "B_y", "0", "train", scene="aerial"), Record("/d/B_y_0_2.JPG", "B_y", "0", "train")]
    facts = facts.model_copy(update={"scenes": [SceneCount(**row) for row in scene_counts(records)]})
    assert facts.scene_types() == ["flatfield", "natural", "aerial", "unknown"]
    assert {"split": "train", "camera": "B_y", "device": "0", "flatfield": 0, "natural": 0, "aerial": 1,
            "unknown": 1} in facts.scene_rows()
