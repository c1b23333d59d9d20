"""The folder layout on small generated trees: device-wise and random splits, orientation, small cameras."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from PIL import Image

from camlib.datasets import class_names, drop_small_cameras, load_records, scan_readable, split_is_by_device
from camlib.io import read_image


def jpeg(path, seed: int = 0, size=(40, 30), exif=None) -> None:
    """A tiny JPEG of size (width, height) with random pixels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3)).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=90, **({"exif": exif} if exif is not None else {}))


def by_device_tree(root) -> None:
    """camA: devices d1 (3 photos), d2 (2), d3 (1); camB: devices 10 and 9 (2 each), numbers sort as numbers."""
    for camera, devices in {"camA": {"d1": 3, "d2": 2, "d3": 1}, "camB": {"10": 2, "9": 2}}.items():
        for device, count in devices.items():
            for shot in range(count):
                jpeg(root / camera / device / f"IMG_{shot}.JPG", seed=shot)


def flat_tree(root, counts=(("camA", 10), ("camB", 4), ("camC", 1))) -> None:
    for camera, count in counts:
        for shot in range(count):
            jpeg(root / camera / f"{shot:03d}.jpg", seed=shot)


def test_device_folders_split_by_device(tmp_path):
    by_device_tree(tmp_path)
    records = load_records("folder", tmp_path, seed=0)
    assert Counter((r.camera, r.device, r.split) for r in records) == {
        ("camA", "d1", "train"): 3, ("camA", "d2", "test"): 2, ("camA", "d3", "test"): 1,
        ("camB", "9", "train"): 2, ("camB", "10", "test"): 2}
    assert split_is_by_device(records)
    assert load_records("folder", tmp_path, seed=5) == records  # the seed plays no part in a device split


def test_flat_folders_split_at_random_per_camera(tmp_path):
    flat_tree(tmp_path)
    records = load_records("folder", tmp_path, seed=1)
    assert not split_is_by_device(records)
    assert all(r.device is None for r in records)
    assert Counter(r.camera for r in records if r.split == "test") == {"camA": 3, "camB": 1}  # round(0.3 n)
    assert Counter(r.camera for r in records if r.split == "train") == {"camA": 7, "camB": 3, "camC": 1}
    assert class_names(records) == ["camA", "camB", "camC"]  # even the one-photo camera trains


def test_random_split_depends_on_the_seed_and_is_reproducible(tmp_path):
    flat_tree(tmp_path)
    test_paths = lambda seed: {r.path for r in load_records("folder", tmp_path, seed=seed) if r.split == "test"}  # noqa: E731
    assert test_paths(1) == test_paths(1)
    assert len({frozenset(test_paths(seed)) for seed in range(6)}) > 1


def test_adding_a_camera_leaves_the_other_cameras_split_alone(tmp_path):
    flat_tree(tmp_path, (("camA", 10), ("camC", 6)))
    before = {r.path: r.split for r in load_records("folder", tmp_path, seed=2)}
    flat_tree(tmp_path, (("camB", 5),))
    after = {r.path: r.split for r in load_records("folder", tmp_path, seed=2)}
    assert {p: s for p, s in after.items() if p in before} == before and len(after) == len(before) + 5


def test_one_device_folder_splits_at_random_and_is_not_by_device(tmp_path):
    by_device_tree(tmp_path)
    for shot in range(5):
        jpeg(tmp_path / "camC" / "only" / f"{shot}.jpg", seed=shot)
    records = load_records("folder", tmp_path, seed=0)
    camc = [r for r in records if r.camera == "camC"]
    assert {r.device for r in camc} == {"only"} and Counter(r.split for r in camc) == {"train": 3, "test": 2}
    assert not split_is_by_device(records)  # camC's test photos come from its training device


def test_portrait_and_landscape_photos_are_the_same_class(tmp_path):
    jpeg(tmp_path / "camA" / "landscape.jpg", 1, size=(48, 32))
    jpeg(tmp_path / "camA" / "portrait.jpg", 2, size=(32, 48))  # stored upright
    exif = Image.Exif()
    exif[0x0112] = 6  # landscape pixels, shown rotated 90 degrees
    jpeg(tmp_path / "camA" / "rotated.jpg", 3, size=(48, 32), exif=exif)
    flat_tree(tmp_path, (("camB", 3),))
    records = load_records("folder", tmp_path, seed=0)
    cam_a = {r.path.rsplit("/", 1)[-1]: r for r in records if r.camera == "camA"}
    assert sorted(cam_a) == ["landscape.jpg", "portrait.jpg", "rotated.jpg"]
    assert class_names(records) == ["camA", "camB"]
    readable, bad = scan_readable(records, min_size=30, progress=False)
    assert len(readable) == len(records) and bad.empty
    # the pixels stay in the stored grid (the EXIF rotation is not applied): the sensor traces keep their place
    assert [read_image(cam_a[n].path).shape for n in sorted(cam_a)] == [(32, 48, 3), (48, 32, 3), (32, 48, 3)]


def test_drop_small_cameras_names_and_removes_them(tmp_path):
    flat_tree(tmp_path, (("camA", 6), ("camB", 3), ("camC", 2), ("camD", 1)))
    records = load_records("folder", tmp_path, seed=0)
    kept, dropped = drop_small_cameras(records, minimum=3)
    assert dropped == {"camC": 2, "camD": 1}
    assert {r.camera for r in kept} == {"camA", "camB"} and len(kept) == 9  # camB has exactly the minimum
    assert [r for r in records if r.camera in ("camA", "camB")] == kept  # order and splits unchanged
    assert drop_small_cameras(records, minimum=1) == (records, {})


def test_split_is_by_device_rejects_shared_or_unknown_devices(tmp_path):
    by_device_tree(tmp_path)
    records = load_records("folder", tmp_path, seed=0)
    leaked = [r if r.split == "train" or r.camera != "camA" else type(r)(r.path, r.camera, "d1", "test")
              for r in records]
    assert not split_is_by_device(leaked)
    unknown = [type(r)(r.path, r.camera, None, r.split) if r.device == "9" else r for r in records]
    assert not split_is_by_device(unknown)


@pytest.mark.parametrize("layout_error, make", [
    ("has no training image", lambda root: (root / "camA").mkdir(parents=True)),
    ("no class folders", lambda root: root.mkdir()),
])
def test_folder_layout_errors_are_one_line(tmp_path, layout_error, make):
    root = tmp_path / "data"
    make(root)
    if layout_error == "has no training image":
        (root / "camA" / "notes.txt").write_text("not a photo")
    with pytest.raises(ValueError, match=layout_error) as caught:
        load_records("folder", root)
    assert "\n" not in str(caught.value) and str(root) in str(caught.value)
