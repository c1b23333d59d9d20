"""The JPEG quantisation-table baseline on generated JPEGs of known quality (and the real Dresden sample)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from camlib.datasets import Record, class_names, load_records
from camlib.io import ImageReadError
from camlib.outcomes import outcome_from_predictions
from camlib.qtable import (
    NO_TABLES, fit_qtables, predict_qtables, qtable_fingerprint, read_qtables, table_distance,
)

CLASSES = ["cam-a", "cam-b", "cam-c"]
# (camera, JPEG quality) of the training photos: cam-c mostly saves at 90 and once at 95; cam-a once at 90
TRAINING = [("cam-a", 70), ("cam-a", 70), ("cam-a", 90), ("cam-b", 80), ("cam-b", 80),
            ("cam-c", 90), ("cam-c", 90), ("cam-c", 95)]


def scene(seed: int, size: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3)).astype(np.uint8)


def save(path, seed: int, **options):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(scene(seed)).save(path, **options)
    return str(path)


@pytest.fixture()
def model(tmp_path):
    train = [Record(save(tmp_path / "train" / f"{camera}_{i}.jpg", i, quality=quality), camera)
             for i, (camera, quality) in enumerate(TRAINING)]
    return fit_qtables(train, CLASSES)


def test_read_qtables_gives_the_files_tables(tmp_path):
    tables = read_qtables(save(tmp_path / "a.jpg", 0, quality=50))
    assert [key for key, _ in tables] == [0, 1]
    assert all(len(values) == 64 for _, values in tables)
    assert tables[0][1][0] == 16  # quality 50 is the Annex K luminance table itself, whose DC entry is 16


def test_fingerprint_is_the_tables_not_the_pixels(tmp_path):
    first = qtable_fingerprint(read_qtables(save(tmp_path / "a.jpg", 0, quality=80)))
    other_scene = qtable_fingerprint(read_qtables(save(tmp_path / "b.jpg", 1, quality=80)))
    other_quality = qtable_fingerprint(read_qtables(save(tmp_path / "c.jpg", 0, quality=81)))
    assert first == other_scene != other_quality
    # stable across runs and machines: sha1 of "0:0,1,...,63" (checked with the shell's sha1sum)
    assert qtable_fingerprint(((0, tuple(range(64))),)) == "4fc1bb242d6a6466"


def test_table_distance():
    ones, threes = ((0, (1,) * 64), (1, (1,) * 64)), ((0, (3,) * 64), (1, (5,) * 64))
    assert table_distance(ones, threes) == 3.0  # (2 * 64 + 4 * 64) / 128
    assert table_distance(ones, ones) == 0.0
    assert table_distance(((0, (1,) * 64),), threes) == 2.0  # only the table both have
    assert table_distance(((2, (1,) * 64),), threes) == float("inf")


def test_fit_counts_each_cameras_tables(model):
    per_camera = {}
    for counts in model.counts.values():
        for camera, count in counts.items():
            per_camera.setdefault(camera, []).append(count)
    assert {camera: sorted(c) for camera, c in per_camera.items()} == {
        "cam-a": [1, 2], "cam-b": [2], "cam-c": [1, 2]}
    assert len(model.tables) == 4 and model.skipped == []


def test_exact_match_and_ties_split_by_counts(model, tmp_path):
    test = [Record(save(tmp_path / "test" / f"{quality}.jpg", 100 + quality, quality=quality), camera)
            for camera, quality in [("cam-a", 70), ("cam-b", 80), ("cam-c", 90)]]
    table = predict_qtables(model, test).set_index("camera")
    assert list(table.pred) == ["cam-a", "cam-b", "cam-c"]
    assert (table.match == "exact").all() and (table.error == "").all() and (table.qtable_distance == 0).all()
    assert table.loc["cam-a", "confidence"] == 1.0
    # quality 90: two cam-c photos and one cam-a photo in training
    assert table.loc["cam-c", ["p_cam-a", "p_cam-b", "p_cam-c"]].tolist() == pytest.approx([1 / 3, 0, 2 / 3])


def test_unknown_tables_go_to_the_nearest(model, tmp_path):
    test = [Record(save(tmp_path / "test" / f"{quality}.jpg", 7, quality=quality), "?")
            for quality in (72, 97, 78)]
    table = predict_qtables(model, test)
    assert list(table.match) == ["nearest"] * 3
    assert list(table.pred) == ["cam-a", "cam-c", "cam-b"]  # nearest: 70, 95, 80
    assert (table.qtable_distance > 0).all() and (table.confidence == 1.0).all()


def test_images_without_tables_get_an_error_and_the_batch_goes_on(model, tmp_path):
    good = save(tmp_path / "good.jpg", 1, quality=80)
    png, tiff = save(tmp_path / "a.png", 2), save(tmp_path / "a.tif", 3)
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(np.random.default_rng(0).bytes(600))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes((tmp_path / "good.jpg").read_bytes()[:20])
    paths = [png, str(garbage), good, tiff, str(truncated), str(tmp_path / "missing.jpg")]
    table = predict_qtables(model, [Record(p, "cam-b") for p in paths])
    assert list(table.path) == paths
    assert table.error.tolist()[0] == NO_TABLES and table.error.tolist()[3] == NO_TABLES
    assert table.loc[2, "pred"] == "cam-b" and table.loc[2, "error"] == ""
    failed = table.drop(index=2)
    assert (failed.error != "").all() and failed.pred.isna().all() and (failed.match == "").all()
    assert failed[[f"p_{c}" for c in CLASSES]].isna().all().all()
    assert all("\n" not in e for e in table.error)
    assert table.loc[5, "error"] == "file not found"
    outcome = outcome_from_predictions("qtable", CLASSES, {0: table})
    assert outcome.predictions == [[-1, -1, 1, -1, -1, -1]]


def test_read_qtables_errors_are_one_line_naming_the_file(tmp_path):
    png = save(tmp_path / "a.png", 0)
    with pytest.raises(ImageReadError) as caught:
        read_qtables(png)
    assert str(caught.value) == f"{png}: {NO_TABLES}"
    garbage = tmp_path / "x.jpg"
    garbage.write_bytes(b"\xff\xd8\xff\xe0" + bytes(30))
    with pytest.raises(ImageReadError, match="x.jpg: ") as caught:
        read_qtables(garbage)
    assert "\n" not in str(caught.value)


def test_fit_skips_and_lists_bad_training_files(tmp_path):
    good = [Record(save(tmp_path / f"{c}.jpg", i, quality=q), c) for i, (c, q) in enumerate([("a", 70), ("b", 90)])]
    bad = tmp_path / "bad.jpg"
    bad.write_text("not a photo")
    model = fit_qtables(good + [Record(str(bad), "a"), Record(save(tmp_path / "p.png", 5), "b")], ["a", "b"])
    assert [path for path, _ in model.skipped] == [str(bad), str(tmp_path / "p.png")]
    assert model.skipped[1][1] == NO_TABLES
    assert sum(sum(c.values()) for c in model.counts.values()) == 2
    with pytest.raises(ValueError, match="no training photo has JPEG quantisation tables"):
        fit_qtables([Record(str(bad), "a")], ["a"])


def test_dresden_nikon_device_split(dresden_nikon):
    """Fit on device 0, predict device 1. What the sample shows: the D200 saves every photo but one with one
    fixed table set of its own; the D70 and D70s share a table set for the flat-field shots (so those are
    exact but tied 50/50), and scale their tables per natural photo."""
    records = load_records("dresden", dresden_nikon, seed=0)
    classes = class_names(records)
    model = fit_qtables([r for r in records if r.split == "train"], classes)
    assert model.skipped == []
    table = predict_qtables(model, [r for r in records if r.split == "test"])
    assert (table.error == "").all() and set(table.match) <= {"exact", "nearest"}
    d200 = table[table.camera == "Nikon_D200"]
    assert len(d200) == 11 and (d200.match == "exact").all() and (d200.pred == "Nikon_D200").all()
    assert (d200.confidence == 1.0).all()
    flat = table[table.path.str.contains("/flatfield/") & (table.camera != "Nikon_D200")]
    assert len(flat) == 20 and (flat.match == "exact").all()
    assert flat[["p_Nikon_D70", "p_Nikon_D70s"]].to_numpy() == pytest.approx(np.full((20, 2), 0.5))


def test_shared_with_training_counts_test_photos_saved_with_a_training_table(tmp_path):
    from camlib.qtable import shared_with_training
    rng = np.random.default_rng(0)

    def photo(name, quality):
        path = tmp_path / f"{name}.jpg"
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path, quality=quality)
        return str(path)

    train = [Record(photo("a0", 80), "A", "d0", "train"), Record(photo("b0", 60), "B", "d0", "train")]
    test = [Record(photo("a1", 80), "A", "d1", "test"), Record(photo("a2", 95), "A", "d1", "test"),
            Record(photo("b1", 80), "B", "d1", "test"),  # A's table, never B's
            Record(str(tmp_path / "missing.jpg"), "B", "d1", "test")]  # unreadable: not counted
    assert shared_with_training(train, test) == {"A": (1, 2), "B": (0, 1)}
