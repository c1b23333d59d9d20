"""Bad data folders: unreadable files and too-small cameras are named and set aside, the run goes on; and the
real-crops folder (camera/device/photo) is tested on unseen devices where a camera has two."""
from __future__ import annotations

import time
from collections import Counter

import pytest

from camlib import validate
from camlib.cli import main
from camlib.io import read_image
from camlib.datasets import RANDOM, UNSEEN_DEVICE, NoUsableData, load_usable, scan_readable
from camlib.rundata import describe, load_data
from camlib.settings import resolve
from test_folder_layout import flat_tree, jpeg


def bad_tree(root) -> None:
    """camA (6 good photos + a broken link + a zero-byte file + a text file named .jpg), camB (5 good, on two
    devices: d1 has 3, d2 has 2), camC (one photo), camD (only a broken link)."""
    flat_tree(root, (("camA", 6), ("camC", 1)))
    for shot in range(5):
        jpeg(root / "camB" / ("d1" if shot < 3 else "d2") / f"{shot}.jpg", seed=shot)
    (root / "camA" / "gone.jpg").symlink_to(root / "nowhere" / "gone.jpg")
    (root / "camA" / "empty.jpg").write_bytes(b"")
    (root / "camA" / "notes.jpg").write_text("this is a note, not a photo\n")
    (root / "camD").mkdir()
    (root / "camD" / "lost.JPG").symlink_to(root / "nowhere" / "lost.JPG")


def folder_settings(root, **values):
    return resolve("smoke", {"layout": "folder", "data_dir": str(root), **values})


def test_bad_files_and_small_cameras_are_named_and_the_run_goes_on(tmp_path):
    bad_tree(tmp_path)
    data = load_data(folder_settings(tmp_path), progress=False)
    reasons = {path.rsplit("/", 1)[-1]: reason for path, reason in zip(data.bad_files.path, data.bad_files.reason)}
    assert sorted(reasons) == ["empty.jpg", "gone.jpg", "lost.JPG", "notes.jpg"]
    assert "broken link" in reasons["gone.jpg"] and "broken link" in reasons["lost.JPG"]
    assert "0 bytes" in reasons["empty.jpg"] and "text" in reasons["notes.jpg"]
    assert data.excluded_cameras == {"camC": 1, "camD": 0}
    assert data.classes == ["camA", "camB"]
    assert Counter((r.camera, r.split) for r in data.train + data.test) == {
        ("camA", "train"): 4, ("camA", "test"): 2, ("camB", "train"): 3, ("camB", "test"): 2}
    assert data.camera_splits == {"camA": RANDOM, "camB": UNSEEN_DEVICE}
    lines = describe(data)
    assert lines[0] == "11 photos (7 training, 4 test), 2 cameras, 2 devices"
    for name in ("camA/gone.jpg", "camA/empty.jpg", "camA/notes.jpg", "camD/lost.JPG"):
        assert sum(line.strip().startswith(f"{name}: ") for line in lines) == 1  # one line each, by name
    assert "4 unreadable files left out:" in lines and "2 cameras left out (fewer than 2 readable photos):" in lines
    assert "  camC: 1 readable photo" in lines and "  camD: 0 readable photos" in lines
    assert "  camB: unseen device split, train d1: 3, test d2: 2" in lines


def test_a_camera_whose_training_device_is_unreadable_trains_on_its_other_device(tmp_path):
    flat_tree(tmp_path, (("camA", 4),))
    for shot in range(3):
        (tmp_path / "camB" / "d1").mkdir(parents=True, exist_ok=True)
        (tmp_path / "camB" / "d1" / f"{shot}.jpg").write_bytes(b"")  # the first device: every file empty
        jpeg(tmp_path / "camB" / "d2" / f"{shot}.jpg", seed=shot)
    data = load_data(folder_settings(tmp_path), progress=False)
    assert data.classes == ["camA", "camB"] and len(data.bad_files) == 3
    assert {r.device for r in data.train if r.camera == "camB"} == {"d2"} and data.camera_splits["camB"] == RANDOM


def nothing_usable_tree(root) -> None:
    """Every camera holds only unreadable files or a single photo."""
    (root / "camA").mkdir(parents=True)
    (root / "camA" / "gone.jpg").symlink_to(root / "nowhere.jpg")
    (root / "camA" / "empty.jpg").write_bytes(b"")
    (root / "camB" / "d1").mkdir(parents=True)
    (root / "camB" / "d1" / "notes.jpg").write_text("not a photo")
    flat_tree(root, (("camC", 1),))


def one_usable_camera_tree(root) -> None:
    bad_tree(root)
    for path in (root / "camB").rglob("*.jpg"):
        path.write_bytes(b"")


@pytest.mark.parametrize("make", [nothing_usable_tree, one_usable_camera_tree])
def test_nothing_usable_stops_with_one_line(tmp_path, make, capsys):
    root = tmp_path / "data"
    make(root)
    with pytest.raises(NoUsableData) as caught:
        load_data(folder_settings(root), progress=False)
    message = str(caught.value)
    assert "\n" not in message and str(root) in message and "at least 2 cameras" in message
    assert validate.main(["-p", "layout", "folder", "-p", "data_dir", str(root), "-p", "profile", "smoke"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "usable camera" in err


def test_validate_prints_what_it_found_before_training(tmp_path, capsys):
    bad_tree(tmp_path)
    args = ["-p", "layout", "folder", "-p", "data_dir", str(tmp_path), "-p", "profile", "smoke", "-p", "crop", "16"]
    assert validate.main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"== data: folder layout at {tmp_path}: 11 photos (7 training, 4 test), 2 cameras, 2 devices\n")
    assert "camA/notes.jpg: not an image: the file holds text" in out and "camC: 1 readable photo\n" in out


def test_scenes_come_from_the_index_when_there_is_one(tmp_path):
    flat_tree(tmp_path, (("camA", 3), ("camB", 3)))
    (tmp_path / "INDEX.tsv").write_text("path\tcamera\tscene\ncamA/000.jpg\tcamA\taerial\ncamB/001.jpg\tcamB\tflat\n")
    scenes = {r.path.split("/", 1)[-1][-len("camA/000.jpg"):]: r.scene for r in load_usable("folder", tmp_path).records}
    assert scenes == {"camA/000.jpg": "aerial", "camA/001.jpg": "unknown", "camA/002.jpg": "unknown",
                      "camB/000.jpg": "unknown", "camB/001.jpg": "flat", "camB/002.jpg": "unknown"}
    (tmp_path / "INDEX.tsv").write_text("path\tnote\ncamA/000.jpg\tother facts\n")  # no scene column: no scenes
    assert {r.scene for r in load_usable("folder", tmp_path).records} == {"unknown"}


@pytest.fixture(scope="module")
def real_crops(shared_data):
    folder = shared_data / "real-crops"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    return folder


def test_real_crops_test_on_an_unseen_device_where_a_camera_has_two(real_crops):
    data = load_data(folder_settings(real_crops), progress=False)
    by_camera = {c: {r.device for r in data.records if r.camera == c} for c in data.classes}
    assert len(data.classes) >= 2 and data.bad_files.empty and not data.excluded_cameras
    for camera, found in by_camera.items():
        trained = {r.device for r in data.train if r.camera == camera}
        tested = {r.device for r in data.test if r.camera == camera}
        if len(found) >= 2:
            assert data.camera_splits[camera] == UNSEEN_DEVICE and tested and not trained & tested, camera
        else:
            assert data.camera_splits[camera] == RANDOM and trained == tested == found, camera
    assert UNSEEN_DEVICE in data.camera_splits.values()
    assert {r.scene for r in data.records} <= {"natural", "aerial"} and None not in {r.scene for r in data.records}


def test_the_header_check_is_cheap_on_real_crops(real_crops):
    paths = sorted(str(p) for p in real_crops.rglob("*.jpg"))[::10]
    scan_readable(paths, progress=False)  # warm the file cache: compare the work, not the disk
    start = time.perf_counter()
    readable, bad = scan_readable(paths, progress=False)
    check = time.perf_counter() - start
    start = time.perf_counter()
    for path in paths:
        read_image(path)
    decode = time.perf_counter() - start
    assert len(readable) == len(paths) and bad.empty
    assert check < decode / 5, f"header check {check:.3f} s, full decode {decode:.3f} s for {len(paths)} photos"


def test_camlib_train_on_a_folder_with_nothing_usable_fails_with_one_line(tmp_path, capsys):
    nothing_usable_tree(tmp_path / "data")
    assert main(["train", "--profile", "smoke", "--out", str(tmp_path / "run"), "--layout", "folder",
                 "--data-dir", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "0 usable cameras" in err and "camB: 0" in err
