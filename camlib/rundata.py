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
    camera_splits: dict[str, datasets.CameraSplit] = field(default_factory=dict)  # camera -> "unseen device" | "random"

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


def _usable(settings: Settings, root, progress: bool | None = None) -> datasets.Usable:
    if settings.layout == "zoo":  # generated: every file readable, every camera large enough
        return datasets.load_usable("kaggle", root, seed=settings.split_seed, min_images=1, progress=progress)
    return datasets.load_usable(settings.layout, root, seed=settings.split_seed,
                                min_images=settings.min_images_per_camera, progress=progress)


def load_data(settings: Settings, progress: bool | None = None) -> RunData:
    """Read the run's layout; unreadable files are listed in `bad_files` and left out, and so are cameras
    with fewer than `min_images_per_camera` readable photos (named in `excluded_cameras`), before the split.
    NoUsableData (one line) when fewer than two cameras are left. `progress` False: no bars."""
    root = build_data(settings)
    usable = _usable(settings, root, progress)
    records = usable.records
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
    return RunData(settings, Path(root), records, classes, train, test, unlabelled, usable.bad, holdout, by_device,
                   usable.excluded, datasets.camera_splits(train, test))


def describe(data: RunData) -> list[str]:
    """What the run found, before any training: counts, each camera's split, each file and camera set aside."""
    labelled = [r for r in data.train + data.test if r.camera in data.classes]
    devices = {(r.camera, r.device) for r in labelled if r.device is not None}
    lines = [f"{len(labelled) + len(data.test_unlabelled)} photos ({len(data.train)} training, {len(data.test)} test"
             + (f", {len(data.test_unlabelled)} unlabelled" if data.test_unlabelled else "")
             + f"), {len(data.classes)} cameras, {len(devices) or 'no named'} devices"]
    for camera in data.classes:
        train = [r for r in data.train if r.camera == camera]
        test = [r for r in data.test if r.camera == camera]
        lines.append(f"  {camera}: {data.camera_splits.get(camera, datasets.RANDOM)} split, "
                     f"train {_by_device(train)}, test {_by_device(test)}")
    if data.bad_files is not None and len(data.bad_files):
        lines.append(f"{len(data.bad_files)} unreadable files left out:")
        lines += [f"  {_shown(path, data.root)}: {reason}" for path, reason in zip(data.bad_files.path, data.bad_files.reason)]
    if data.excluded_cameras:
        lines.append(f"{len(data.excluded_cameras)} cameras left out (fewer than "
                     f"{data.settings.min_images_per_camera} readable photos):")
        lines += [f"  {camera}: {count} readable photo{'s' if count != 1 else ''}"
                  for camera, count in data.excluded_cameras.items()]
    return lines


def _by_device(records) -> str:
    counts: dict = {}
    for record in records:
        counts[record.device] = counts.get(record.device, 0) + 1
    if list(counts) in ([], [None]):
        return str(len(records))
    return ", ".join(f"{device or '(no device)'}: {n}" for device, n in sorted(counts.items(), key=lambda i: str(i[0])))


def _shown(path, root) -> str:
    try:
        return os.path.relpath(path, root)
    except ValueError:
        return str(path)


def check_data(settings: Settings) -> str:
    """Fail early, with one line, on data that cannot make a run; returns what the run found (several lines)."""
    if settings.layout == "zoo":
        return f"simulated zoo ({settings.profile} profile, zoo_seed {settings.zoo_seed}) at {zoo_root(settings)}"
    data = load_data(settings, progress=False)
    from .io import ImageReadError, read_size
    sizes = []
    for record in data.train:
        try:
            sizes.append(min(read_size(record.path)))
        except ImageReadError:
            continue
    if max(sizes) < settings.crop:
        raise ValueError(f"-p crop {settings.crop}: larger than every training image (largest short side {max(sizes)} px); "
                         f"pass a smaller crop, e.g. -p crop {max(16, max(sizes) // 2)}")
    first, *rest = describe(data)
    from .estimate import describe_budget
    budget = describe_budget(data.train, data.classes, settings.train_config(), models=2 * settings.replicates)
    return "\n".join([f"{settings.layout} layout at {settings.data_dir}: {first}", *rest,
                      budget + " (the main and no-augmentation models; the studies add more)"])


def records_key(records) -> str:
    """Hash of a record list (paths, labels, sizes, mtimes): changes when the data changes."""
    items: list[tuple] = []
    for record in records:
        try:
            stat = os.stat(record.path)
            items.append((record.path, record.camera, record.split, stat.st_size, int(stat.st_mtime)))
        except OSError:
            items.append((record.path, record.camera, record.split, None, None))
    return params_hash({"records": items})
