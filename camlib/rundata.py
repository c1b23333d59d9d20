"""The data of a run: the layout read into records, split into training and test devices, bad files listed."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from . import datasets
from .runs import params_hash
from .settings import REPO_ROOT, Settings


@dataclass
class RunData:
    """The records of a run, split, with the class list, the files that could not be read and the cameras left out."""

    settings: Settings
    root: Path
    records: list
    classes: list
    train: list
    test: list  # labelled test-device images (all, manipulated or not)
    test_unlabelled: list
    bad_files: pd.DataFrame  # path, reason
    test_is_holdout: bool = False  # no labelled test device: scored on held-out training-device images
    split_by_device: bool = True  # False: a random split of each camera's photos (same devices on both sides)
    excluded_cameras: dict = field(default_factory=dict)  # camera -> number of photos, below the minimum

    @property
    def test_unaltered(self) -> list:
        return [r for r in self.test if (r.manipulation or "unalt") == "unalt"]

    def key(self, records=None) -> str:
        """Hash of a record list (default: all) with sizes and times: changes when the data changes."""
        return records_key(self.records if records is None else records)


def zoo_root(settings: Settings) -> Path:
    base = Path(settings.data_dir) if settings.data_dir else Path(os.environ.get("CAMLIB_DATA", REPO_ROOT / "data"))
    return base / f"zoo-{settings.profile}-seed{settings.zoo_seed}-{settings.zoo_difficulty}"


def build_data(settings: Settings) -> Path:
    """The data folder of the run; for the zoo layout, builds (or reuses) the simulated dataset."""
    if settings.layout != "zoo":
        return Path(settings.data_dir)
    from .zoo import build_zoo
    return build_zoo(zoo_root(settings), profile=settings.profile, seed=settings.zoo_seed,
                     difficulty=settings.zoo_difficulty)


def _records(settings: Settings, root) -> list:
    layout = "kaggle" if settings.layout == "zoo" else settings.layout
    return datasets.load_records(layout, root, seed=settings.split_seed)


def load_data(settings: Settings, progress: bool | None = None) -> RunData:
    """Read the run's layout; unreadable files are listed in `bad_files` and left out, and so are cameras
    with fewer than `min_images_per_camera` photos (named in `excluded_cameras`). `progress` False: no bars."""
    root = build_data(settings)
    records, bad = datasets.scan_readable(_records(settings, root), progress=progress)
    excluded = {}
    if settings.layout != "zoo":
        records, excluded = datasets.drop_small_cameras(records, settings.min_images_per_camera)
    classes = datasets.class_names(records)
    train = [r for r in records if r.split == "train"]
    test = [r for r in records if r.split == "test" and r.camera in classes]
    unlabelled = [r for r in records if r.split == "test" and r.camera is None]
    holdout = not test
    if holdout:  # e.g. Kaggle's unlabelled test folder: score on a stratified 20% of the training device
        train, held = datasets.stratified_split(train, 0.2, settings.split_seed)
        test = [replace(r, split="test", manipulation="unalt") for r in held]
    by_device = all(r.device is not None for r in records if r.camera in classes) and not holdout
    by_device = by_device and datasets.split_is_by_device(records)
    return RunData(settings, Path(root), records, classes, train, test, unlabelled, bad, holdout, by_device, excluded)


def check_data(settings: Settings) -> str:
    """Fail early, with one line, on data that cannot make a run; returns a one-line description."""
    if settings.layout == "zoo":
        return f"simulated zoo ({settings.profile} profile, zoo_seed {settings.zoo_seed}) at {zoo_root(settings)}"
    records = _records(settings, settings.data_dir)
    records, excluded = datasets.drop_small_cameras(records, settings.min_images_per_camera)
    classes = datasets.class_names(records)
    if len(classes) < 2:
        raise datasets.LayoutError(f"{settings.data_dir}: found {len(classes)} camera(s) with at least "
                                   f"{settings.min_images_per_camera} photos; at least 2 are needed")
    train = [r for r in records if r.split == "train"]
    from .io import ImageReadError, read_size
    sizes = []
    for record in train:
        try:
            sizes.append(min(read_size(record.path)))
        except ImageReadError:
            continue
    if not sizes:
        raise datasets.LayoutError(f"{settings.data_dir}: no readable training image")
    if max(sizes) < settings.crop:
        raise ValueError(f"-p crop {settings.crop}: larger than every training image (largest short side {max(sizes)} px); "
                         f"pass a smaller crop, e.g. -p crop {max(16, max(sizes) // 2)}")
    left_out = f"; left out (fewer than {settings.min_images_per_camera} photos): " + ", ".join(
        f"{camera} ({count})" for camera, count in excluded.items()) if excluded else ""
    return f"{settings.layout} layout at {settings.data_dir}: {len(train)} training images, {len(classes)} cameras{left_out}"


def records_key(records) -> str:
    """Hash of a record list (paths, labels, sizes, mtimes): changes when the data changes."""
    items = []
    for record in records:
        try:
            stat = os.stat(record.path)
            items.append((record.path, record.camera, record.split, stat.st_size, int(stat.st_mtime)))
        except OSError:
            items.append((record.path, record.camera, record.split, None, None))
    return params_hash({"records": items})
