"""Dataset layouts (kaggle, folder, dresden) read into one list of records, and the splits."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Final, Literal

import numpy as np
import pandas as pd
from tqdm import tqdm

from .io import ImageReadError, is_image_path, read_size

LAYOUTS = ("kaggle", "folder", "dresden")
KAGGLE_CLASSES = (
    "HTC-1-M7", "iPhone-4s", "iPhone-6", "LG-Nexus-5x", "Motorola-Droid-Maxx",
    "Motorola-Nexus-6", "Motorola-X", "Samsung-Galaxy-Note3", "Samsung-Galaxy-S4", "Sony-NEX-7",
)
PROGRESS_MIN_FILES = 200  # scans shorter than this show no progress bar
INDEX_NAMES = ("INDEX.tsv", "index.tsv", "INDEX.csv", "index.csv")  # optional per-photo facts at the data root
UNSEEN_DEVICE: Final = "unseen device"
RANDOM: Final = "random"
CameraSplit = Literal["unseen device", "random"]  # how one camera's test photos were chosen


@dataclass(frozen=True)
class Record:
    """One image of a dataset: where it is, which camera and device took it, and its role."""

    path: str
    camera: str | None  # class label; None when unknown (e.g. Kaggle test without labels)
    device: str | None = None
    split: str = "train"  # "train" or "test"
    manipulation: str | None = None  # "unalt", "jpg70", ... for challenge-style test images
    scene: str = "unknown"  # from the data folder's index when it has one, else "flatfield"/"natural" when a folder names it


SCENE_FOLDERS = {"flatfield": "flatfield", "flatfields": "flatfield", "flat": "flatfield", "flats": "flatfield",
                 "natural": "natural", "naturals": "natural"}  # folder name (lower case, no - _ or space) -> scene


def _scene_of_parts(parts) -> str:
    for part in reversed(parts):
        scene = SCENE_FOLDERS.get(re.sub(r"[-_ ]", "", part.lower()))
        if scene:
            return scene
    return "unknown"


def scene_of(path, root) -> str:
    """The scene type a folder between `root` and the file names (e.g. Dresden's flatfield/ and natural/):
    'flatfield' (frames of a uniform surface), 'natural', or 'unknown' when no folder says it."""
    try:
        parts = Path(path).relative_to(root).parts[:-1]
    except ValueError:
        parts = Path(path).parts[:-1]
    return _scene_of_parts(parts)


def series_id(name: str, camera: str | None) -> str:
    """The photo series of an image (its name relative to the data folder), the unit of the cluster bootstrap.

    Flat fields of one camera and device are near-identical frames of one uniform scene: they stand or fall
    together and form one series (device from a Brand_Model_Device_Shot name, else the folder). Every other
    photo is its own series: no name says that two natural photos repeat a scene."""
    path = Path(name)
    if _scene_of_parts(path.parts[:-1]) != "flatfield":
        return name
    match = DRESDEN_NAME.match(path.stem)
    return f"{camera}|{path.parent.as_posix()}|{match['device'] if match else ''}|flatfield"


def _with_scenes(records, root) -> list["Record"]:
    return [replace(r, scene=scene_of(r.path, root)) for r in records]


def scene_counts(records) -> list[dict]:
    """Photos per (split, camera, device, scene), sorted: what a data section must say about real photos."""
    counts: dict[tuple, int] = {}
    for r in records:
        key = (r.split, r.camera or "", "" if r.device is None else str(r.device), r.scene)
        counts[key] = counts.get(key, 0) + 1
    return [{"split": split, "camera": camera, "device": device, "scene": scene, "count": count}
            for (split, camera, device, scene), count in sorted(counts.items())]


class LayoutError(ValueError):
    """A data folder that does not match the requested layout; str() says what to do."""


class NoUsableData(LayoutError):
    """Nothing left to train on once unreadable files and too-small cameras are set aside; str() says what to fix."""


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _images_in(folder: Path) -> list[Path]:
    """Files with an image name, broken links included (so that the check names them instead of skipping them)."""
    return sorted(p for p in folder.rglob("*") if (p.is_file() or p.is_symlink() and not p.exists())
                  and is_image_path(p) and not _hidden(p, folder))


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _cell(value) -> str | None:
    """A CSV cell as text, None for an empty cell."""
    return None if pd.isna(value) or str(value).strip() == "" else str(value).strip()


def _kaggle_test_labels(csv_path: Path) -> dict[str, tuple[str | None, str | None]]:
    try:
        table = pd.read_csv(csv_path, dtype=str)
    except Exception as exc:
        raise LayoutError(f"{csv_path}: cannot read ({' '.join(str(exc).split())})") from None
    if not {"fname", "camera"} <= set(table.columns):
        raise LayoutError(f"{csv_path}: needs the columns fname,camera[,manipulation]; found {', '.join(table.columns)}")
    manipulations = table["manipulation"] if "manipulation" in table else [None] * len(table)
    return {str(f).strip(): (_cell(c), _cell(m)) for f, c, m in zip(table["fname"], table["camera"], manipulations)}


def read_kaggle(root) -> list[Record]:
    """Kaggle layout: train/<Camera>/*, test/img_<id>_(unalt|manip).tif, optional test_labels.csv."""
    root = Path(root)
    if not (root / "train").is_dir():
        raise LayoutError(f"{root}: no train/ folder; the kaggle layout needs train/<Camera>/*.jpg")
    camera_dirs = _subfolders(root / "train")
    if not camera_dirs:
        raise LayoutError(f"{root / 'train'}: no class folders; the kaggle layout needs train/<Camera>/*.jpg")
    records = []
    for camera_dir in camera_dirs:
        images = _images_in(camera_dir)
        if not images:
            raise LayoutError(f"{camera_dir}: class {camera_dir.name} has no training image")
        records += [Record(str(p), camera_dir.name, "train-device", "train") for p in images]
    labels = _kaggle_test_labels(root / "test_labels.csv") if (root / "test_labels.csv").is_file() else {}
    if (root / "test").is_dir():
        for path in _images_in(root / "test"):
            camera, manipulation = labels.get(path.name, (None, None))
            if manipulation is None:
                manipulation = "manip" if "_manip" in path.stem else "unalt"
            records.append(Record(str(path), camera, "test-device", "test", manipulation))
    return _with_scenes(records, root)


def folder_rows(root) -> tuple[list[tuple], list[str]]:
    """(path, camera, device) of every image-named file of <root>/<camera>/* or <root>/<camera>/<device>/*,
    and every camera folder's name (with photos or not)."""
    root = Path(root)
    cameras = _subfolders(root) if root.is_dir() else []
    if not cameras:
        raise LayoutError(f"{root}: no class folders; the folder layout needs <root>/<camera>/<images>")
    rows = []
    for camera_dir in cameras:
        for path in _images_in(camera_dir):
            relative = path.relative_to(camera_dir).parts
            rows.append((str(path), camera_dir.name, relative[0] if len(relative) > 1 else None))
    return rows, [c.name for c in cameras]


def read_folder(root, seed: int = 0, test_fraction: float = 0.3) -> list[Record]:
    """Folder layout: <root>/<camera>/* or <root>/<camera>/<device>/*; split by device when known."""
    rows, cameras = folder_rows(root)
    empty = sorted(set(cameras) - {camera for _, camera, _ in rows})
    if empty:
        raise LayoutError(f"{Path(root) / empty[0]}: class {empty[0]} has no training image")
    return with_scenes(split_records(rows, seed=seed, test_fraction=test_fraction), root)


def read_index(root) -> dict[str, str]:
    """{photo path relative to root: scene} from an optional INDEX.tsv/.csv with `path` and `scene` columns;
    {} when there is none or it has no such columns (it may describe other things)."""
    for name in INDEX_NAMES:
        index = Path(root) / name
        if index.is_file():
            try:
                table = pd.read_csv(index, sep="\t" if name.endswith(".tsv") else ",", dtype=str)
            except Exception as exc:
                raise LayoutError(f"{index}: cannot read ({' '.join(str(exc).split())}); fix or remove it") from None
            if not {"path", "scene"} <= set(table.columns):
                return {}
            return {str(Path(p)): str(_cell(s)) for p, s in zip(table["path"], table["scene"]) if _cell(p) and _cell(s)}
    return {}


def with_scenes(records, root) -> list[Record]:
    """Records with the scene of each photo: the folder's (flatfield/natural), overridden by the data folder's index."""
    records = _with_scenes(records, root)
    scenes = read_index(root)
    if not scenes:
        return records
    root = Path(root)
    relative = lambda path: str(Path(path).relative_to(root)) if Path(path).is_relative_to(root) else ""  # noqa: E731
    return [replace(r, scene=scenes.get(relative(r.path), r.scene)) for r in records]


DRESDEN_NAME = re.compile(r"^(?P<brand>[^_]+)_(?P<model>.+)_(?P<device>\d+)_(?P<shot>\d+)$")


def dresden_rows(root) -> list[tuple]:
    """(path, camera, device) of every file named Brand_Model_Device_Shot.<ext> below root; camera = Brand_Model."""
    rows = []
    for path in _images_in(Path(root)):
        match = DRESDEN_NAME.match(path.stem)
        if match:
            rows.append((str(path), f"{match['brand']}_{match['model']}", match["device"]))
    if not rows:
        raise LayoutError(f"{root}: no file named Brand_Model_Device_Shot.<ext>; is this the dresden layout?")
    return rows


def read_dresden(root, seed: int = 0, test_fraction: float = 0.3) -> list[Record]:
    """Dresden naming Brand_Model_Device_Shot.<ext> anywhere below root; camera = Brand_Model."""
    return with_scenes(split_records(dresden_rows(root), seed=seed, test_fraction=test_fraction), root)


def _device_order(device) -> tuple:
    text = str(device)
    return (0, int(text), text) if text.isdigit() else (1, 0, text)


def split_records(rows, seed: int = 0, test_fraction: float = 0.3) -> list[Record]:
    """(path, camera, device) rows -> records: first device of each camera trains, the others test;
    cameras without known devices (or with one) are split at random, stratified, with `seed`."""
    if not 0 < test_fraction < 1:
        raise LayoutError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    frame = pd.DataFrame(rows, columns=["path", "camera", "device"])
    records = []
    for camera, group in frame.groupby("camera", sort=True):
        devices = sorted(group.device.dropna().unique(), key=_device_order)
        if len(devices) >= 2:
            for row in group.itertuples():
                # images of unknown device cannot be placed by device; they can only train
                split = "test" if pd.notna(row.device) and row.device != devices[0] else "train"
                records.append(Record(row.path, camera, row.device, split))
        else:
            n_test = min(round(len(group) * test_fraction), len(group) - 1)  # every class keeps a train image
            test = set(group.sample(n=n_test, random_state=seed).index) if n_test > 0 else set()
            for index, row in zip(group.index, group.itertuples()):
                device = row.device if pd.notna(row.device) else None
                records.append(Record(row.path, camera, device, "test" if index in test else "train"))
    return sorted(records, key=lambda r: r.path)


def load_records(layout: str, root, seed: int = 0, test_fraction: float = 0.3) -> list[Record]:
    """Read `root` in the named layout; raises LayoutError with a one-line reason."""
    root = Path(root)
    _check_request(layout, root, test_fraction)
    readers = {
        "kaggle": read_kaggle,
        "folder": lambda r: read_folder(r, seed, test_fraction),
        "dresden": lambda r: read_dresden(r, seed, test_fraction),
    }
    records = readers[layout](root)
    trained = {r.camera for r in records if r.split == "train"}
    if not trained:
        raise LayoutError(f"{root}: no training images found in the {layout} layout")
    untrained = sorted({r.camera for r in records if r.camera} - trained)
    if untrained:
        raise LayoutError(f"{root}: class {untrained[0]} has no training image ({len(untrained)} such classes)")
    return records


def scan_readable(records, min_size: int = 0, progress: bool | None = None) -> tuple[list, pd.DataFrame]:
    """Check each file's header (cheap: no decoding); -> (readable records, DataFrame[path, reason]).

    The run goes on with the readable ones; the table of the others is for the data-exploration report.
    `records` may hold Records or plain paths; `progress` None shows a bar for long scans only.
    """
    records = list(records)
    show = len(records) >= PROGRESS_MIN_FILES if progress is None else progress
    readable, bad = [], []
    for record in tqdm(records, desc="checking image headers", unit="file", disable=not show):
        path = record.path if isinstance(record, Record) else str(record)
        try:
            read_size(path, min_size=min_size)
            readable.append(record)
        except ImageReadError as exc:
            bad.append((path, exc.reason))
    return readable, pd.DataFrame(bad, columns=["path", "reason"])


@dataclass
class Usable:
    """What a run can use of a data folder: the split records, the files set aside and the cameras left out."""

    records: list[Record]
    bad: pd.DataFrame  # path, reason: unreadable files (broken links, empty files, not images, ...)
    excluded: dict[str, int]  # camera -> readable photos, fewer than the minimum


def load_usable(layout: str, root, seed: int = 0, test_fraction: float = 0.3, min_images: int = 2,
                progress: bool | None = None) -> Usable:
    """Read `root`, set aside unreadable files and cameras with fewer than `min_images` readable photos, then
    split what is left (so a bad file never leaves a camera without training photos). NoUsableData, one line,
    when fewer than two cameras are left; other problems of the layout raise LayoutError."""
    root = Path(root)
    if layout not in ("folder", "dresden"):  # kaggle: the folders are the split
        records, bad = scan_readable(load_records(layout, root, seed, test_fraction), progress=progress)
        records, excluded = drop_small_cameras(records, min_images)
    else:
        _check_request(layout, root, test_fraction)
        rows, cameras = folder_rows(root) if layout == "folder" else (dresden_rows(root), [])
        readable, bad = scan_readable([row[0] for row in rows], progress=progress)
        keep = set(readable)
        rows = [row for row in rows if row[0] in keep]
        counts = {camera: 0 for camera in cameras}
        for _, camera, _ in rows:
            counts[camera] = counts.get(camera, 0) + 1
        excluded = {camera: n for camera, n in sorted(counts.items()) if n < min_images}
        rows = [row for row in rows if row[1] not in excluded]
        records = with_scenes(split_records(rows, seed=seed, test_fraction=test_fraction), root) if rows else []
    if len(class_names(records)) < 2:
        raise NoUsableData(no_usable_message(root, layout, len(bad), excluded, min_images, len(class_names(records))))
    return Usable(records, bad, excluded)


def no_usable_message(root, layout: str, n_bad: int, excluded: dict, min_images: int, n_left: int) -> str:
    """The one line that says why nothing can be trained on and what to fix."""
    found = [f"{n_bad} unreadable file{'s' if n_bad != 1 else ''}"] if n_bad else []
    if excluded:
        found.append(f"{len(excluded)} camera{'s' if len(excluded) != 1 else ''} with fewer than {min_images} "
                     f"readable photos ({', '.join(f'{c}: {n}' for c, n in excluded.items())})")
    what = "; ".join(found) or "no photos"
    need = "<root>/<camera>/<photos> or <root>/<camera>/<device>/<photos>" if layout == "folder" else f"the {layout} layout"
    return (f"{root}: {n_left} usable camera{'s' if n_left != 1 else ''} ({what}); a run needs at least 2 cameras "
            f"with {min_images} or more readable photos each, as {need}")


def _check_request(layout: str, root: Path, test_fraction: float) -> None:
    """The checks of load_records that come before reading: layout name, split fraction, the folder itself."""
    if layout not in LAYOUTS:
        raise LayoutError(f"unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}")
    if not 0 < test_fraction < 1:
        raise LayoutError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    if not root.exists():
        raise LayoutError(f"{root}: data folder not found")
    if not root.is_dir():
        raise LayoutError(f"{root}: is a file; give the data folder")


def camera_splits(train, test) -> dict[str, CameraSplit]:
    """{camera: UNSEEN_DEVICE when all its test photos come from devices it was not trained on, else RANDOM}."""
    splits: dict[str, CameraSplit] = {}
    for camera in sorted({r.camera for r in train if r.camera}):
        trained = {r.device for r in train if r.camera == camera}
        tested = {r.device for r in test if r.camera == camera}
        unseen = tested and None not in trained | tested and not trained & tested
        splits[camera] = UNSEEN_DEVICE if unseen else RANDOM
    return splits


def records_frame(records) -> pd.DataFrame:
    """Records as a DataFrame (one row per image)."""
    return pd.DataFrame([asdict(r) for r in records], columns=list(Record.__dataclass_fields__))


def class_names(records) -> list[str]:
    """Sorted camera names of the training records: the class order of every model."""
    return sorted({r.camera for r in records if r.split == "train" and r.camera})


def stratified_split(records, fraction: float, seed: int):
    """(kept, held) with about `fraction` of each camera's images held out (none for cameras with < 3)."""
    rng = np.random.default_rng(seed)
    kept, held = [], []
    by_camera: dict[str, list] = {}
    for record in records:
        by_camera.setdefault(record.camera, []).append(record)
    for camera in sorted(by_camera):
        group = by_camera[camera]
        n_held = int(round(len(group) * fraction)) if len(group) >= 3 else 0
        order = rng.permutation(len(group))
        held += [group[i] for i in order[:n_held]]
        kept += [group[i] for i in order[n_held:]]
    return kept, held


def drop_small_cameras(records, minimum: int) -> tuple[list, dict]:
    """(records of cameras with at least `minimum` photos, {left-out camera: its number of photos})."""
    counts: dict[str, int] = {}
    for record in records:
        if record.camera:
            counts[record.camera] = counts.get(record.camera, 0) + 1
    small = {camera: count for camera, count in sorted(counts.items()) if count < minimum}
    return [r for r in records if r.camera not in small], small


def split_is_by_device(records) -> bool:
    """True when every camera's test photos come from other devices than its training photos."""
    for camera in {r.camera for r in records if r.camera}:
        train = {r.device for r in records if r.camera == camera and r.split == "train"}
        test = {r.device for r in records if r.camera == camera and r.split == "test"}
        if None in train | test or train & test:
            return False
    return True
