"""Run settings (profiles + overrides), the data of a run, and each stage of the report with caching."""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import torch

from . import datasets
from .augment import NO_AUGMENTATION, AugmentConfig
from .infer import TTAConfig
from .runs import environment, params_hash, read_json, write_json
from .train import TrainConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
LAYOUTS = ("zoo",) + datasets.LAYOUTS


@dataclass
class Settings:
    """Every parameter of a report run; a profile fills the defaults, papermill `-p` overrides any field."""

    profile: str = "cpu"  # smoke | cpu | gpu
    run_dir: str = "runs/default"
    layout: str = "zoo"  # zoo (simulated, built on the fly) | kaggle | dresden | folder
    data_dir: str = ""  # root of the data for kaggle/dresden/folder; for zoo: where to build it ('' = data/)
    seed: int = 0
    zoo_difficulty: str = "default"
    test_center_crop: int = 0  # crop real test frames to this centre square first (0 = use as stored)
    # main model and its training recipe (the seed's: densenet161, crop 960 -> 480, Adam 1e-3, cyclic LR)
    arch: str = "efficientnet_lite0"
    weights: str = "imagenet"
    epochs: int = 12
    batch_size: int = 32
    crops_per_image: int = 4
    crop: int = 96  # final training crop (the seed: 480; the first crop is twice this)
    lr: float = 1e-3
    schedule: str = "cosine_restarts"
    cycle_epochs: float = 2.0
    images_per_epoch: int = 0  # 0 = all training images each epoch
    average_last: int = 0
    center_fraction: float = 1.0  # train on the central part of each frame (0.8 helped on Kaggle's real photos)
    workers: int = 0  # DataLoader processes (on 2 cores a worker competes with the training step; use more on big machines)
    frame_cache_gib: float = 2.0  # decoded training frames kept in memory between epochs (0 = decode each time)
    eval_every: int = 3  # validation/test curve every k epochs (and after the last)
    aug_d4: bool = True
    aug_gamma: bool = True
    aug_jpeg: bool = True
    aug_scale: bool = True
    manipulation_prob: float = 0.5
    # TTA
    tta_crops: str = "grid"  # tiles spread over the whole test image: more of its pixels vote
    tta_transforms: str = "flip"
    tta_grid: int = 4
    # studies
    robustness_images_per_class: int = 6
    robustness_tta_crops: str = "five"
    robustness_tta_transforms: str = "none"
    robustness_sweep: str = "full"  # full | short
    crop_sizes: list = field(default_factory=lambda: [32, 48, 64, 96, 128, 192, 256, 384, 512])
    train_sizes: list = field(default_factory=lambda: [5, 15, 40])
    study_epochs: int = 3  # each study model: this many epochs, one LR cycle that ends annealed
    study_tta_crops: str = "five"  # how the study models (training-set size, architectures) are scored
    study_tta_transforms: str = "none"
    arch_study: list = field(default_factory=lambda: ["efficientnet_lite0:none"])  # + "resnet18:none": ~1 min more
    baseline_crop: int = 256
    baseline_crops_per_image: int = 4
    baseline_max_iter: int = 200

    def __post_init__(self):
        for name, item_type in (("crop_sizes", int), ("train_sizes", int), ("arch_study", str)):
            setattr(self, name, _as_list(getattr(self, name), item_type, name))
        if self.profile not in PROFILES:
            raise ValueError(f"unknown profile {self.profile!r}; choose from {', '.join(PROFILES)}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"unknown layout {self.layout!r}; choose from {', '.join(LAYOUTS)}")
        if self.layout != "zoo" and not self.data_dir:
            raise ValueError(f"layout {self.layout!r} needs data_dir: the folder that holds the photos")
        from .models import list_models
        for name in ("arch",) + tuple(v.partition(":")[0] for v in self.arch_study):
            arch = self.arch if name == "arch" else name
            if arch not in list_models():
                raise ValueError(f"unknown arch {arch!r}; choose from {', '.join(list_models())}")
        if self.weights not in ("imagenet", "none") and not Path(self.weights).is_file():
            raise ValueError(f"weights {self.weights!r} is neither 'imagenet', 'none' nor an existing file")
        if self.crop < 16 or self.epochs < 1 or self.study_epochs < 1:
            raise ValueError("crop must be >= 16 and epochs, study_epochs >= 1")
        self.train_config()  # validates schedule, batch size and augmentation values
        self.tta_config()
        self.study_tta_config()

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def run_path(self) -> Path:
        path = Path(self.run_dir)
        return path if path.is_absolute() else REPO_ROOT / path

    def augment_config(self, augmented: bool = True) -> AugmentConfig:
        config = AugmentConfig(crop=self.crop, manipulation_prob=self.manipulation_prob, d4=self.aug_d4,
                               gamma_range=(0.8, 1.2) if self.aug_gamma else None,
                               jpeg_range=(70, 90) if self.aug_jpeg else None,
                               scale_range=(0.5, 2.0) if self.aug_scale else None)
        return config if augmented else replace(config, **NO_AUGMENTATION)

    def train_config(self, augmented: bool = True, epochs: int | None = None) -> TrainConfig:
        return TrainConfig(arch=self.arch, weights=self.weights, epochs=epochs or self.epochs, batch_size=self.batch_size,
                           crops_per_image=self.crops_per_image, lr=self.lr, schedule=self.schedule,
                           cycle_epochs=self.cycle_epochs, images_per_epoch=self.images_per_epoch or None,
                           average_last=self.average_last, center_fraction=self.center_fraction,
                           workers=self.workers, frame_cache_gib=self.frame_cache_gib, eval_every=self.eval_every,
                           seed=self.seed,
                           augment=self.augment_config(augmented))

    def study_config(self) -> TrainConfig:
        """The main recipe for `study_epochs`, with one LR cycle over them (a short run ends at a low LR)."""
        return replace(self.train_config(epochs=self.study_epochs), cycle_epochs=float(self.study_epochs))

    def robustness_sweeps(self) -> dict:
        from .studies import ROBUSTNESS_SWEEPS, SHORT_ROBUSTNESS_SWEEPS
        return ROBUSTNESS_SWEEPS if self.robustness_sweep == "full" else SHORT_ROBUSTNESS_SWEEPS

    def robustness_tta_config(self) -> TTAConfig:
        return TTAConfig(crop=self.crop, crops=self.robustness_tta_crops, transforms=self.robustness_tta_transforms)

    def arch_variants(self) -> list[str]:
        """'arch:weights' of the architecture study: the main model first, then `arch_study` without it."""
        main = f"{self.arch}:{self.weights}"
        return [main] + [variant for variant in self.arch_study if variant != main]

    def study_tta_config(self) -> TTAConfig:
        return TTAConfig(crop=self.crop, crops=self.study_tta_crops, transforms=self.study_tta_transforms,
                         grid_size=self.tta_grid)

    def tta_config(self) -> TTAConfig:
        return TTAConfig(crop=self.crop, crops=self.tta_crops, transforms=self.tta_transforms, grid_size=self.tta_grid)


PROFILES: dict[str, dict] = {
    "smoke": dict(epochs=1, batch_size=16, crop=64, crops_per_image=4, workers=0, tta_crops="center", tta_transforms="flip",
                  robustness_images_per_class=2, robustness_sweep="short", robustness_tta_crops="center",
                  study_tta_crops="center",
                  crop_sizes=[32, 64, 128], train_sizes=[2, 4], study_epochs=1, arch_study=["efficientnet_lite0:none"],
                  baseline_crop=128, baseline_crops_per_image=2, baseline_max_iter=30),
    "cpu": dict(),
    "gpu": dict(arch="densenet161", weights="imagenet", epochs=30, batch_size=16, crops_per_image=2, crop=480,
                cycle_epochs=5.0, workers=8, eval_every=1, frame_cache_gib=0.0, average_last=3, tta_crops="five", tta_transforms="d4",
                robustness_images_per_class=50, robustness_tta_crops="five", robustness_tta_transforms="flip",
                study_tta_transforms="flip",
                crop_sizes=[64, 128, 192, 256, 320, 384, 448, 512], train_sizes=[10, 25, 50, 100, 250],
                study_epochs=10, arch_study=["densenet161:imagenet", "densenet201:imagenet", "densenet161:none",
                                             "efficientnet_lite0:imagenet"],
                baseline_crop=512, baseline_crops_per_image=8, baseline_max_iter=500),
}


def _as_list(value, item_type, name: str) -> list:
    """A list field given as a list, a JSON list or comma-separated text (as `run_all.sh -p NAME a,b` passes it)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text) if text.startswith("[") else [part.strip() for part in text.split(",") if part.strip()]
        except json.JSONDecodeError as exc:
            raise ValueError(f"{name}: cannot read {value!r} as a list ({exc.msg}); write e.g. a,b,c") from None
    if not isinstance(value, (list, tuple)):
        value = [value]
    try:
        return [item_type(item) for item in value]
    except (TypeError, ValueError):
        raise ValueError(f"{name}: every item must be {item_type.__name__}, got {value!r}") from None


def resolve(profile: str = "cpu", overrides: dict | None = None) -> Settings:
    """Settings of `profile`, then every known, non-None field of `overrides` (e.g. a notebook's globals())."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    known = {f.name: f for f in fields(Settings)}
    values = dict(PROFILES[profile])
    for name, value in (overrides or {}).items():
        if name in known and name != "profile" and value is not None and not name.startswith("_"):
            values[name] = value
    return Settings(profile=profile, **values)


@dataclass
class RunData:
    """The records of a run, split, with the class list and the files that could not be read."""

    settings: Settings
    root: Path
    records: list
    classes: list
    train: list
    test: list  # labelled test-device images (all, manipulated or not)
    test_unlabelled: list
    bad_files: object  # DataFrame[path, reason]
    test_is_holdout: bool = False  # no labelled test device: scored on held-out training-device images

    @property
    def test_unaltered(self) -> list:
        return [r for r in self.test if (r.manipulation or "unalt") == "unalt"]


def zoo_root(settings: Settings) -> Path:
    base = Path(settings.data_dir) if settings.data_dir else Path(os.environ.get("CAMLIB_DATA", REPO_ROOT / "data"))
    return base / f"zoo-{settings.profile}-seed{settings.seed}-{settings.zoo_difficulty}"


def build_data(settings: Settings, progress=True) -> Path:
    """The data folder of the run; for the zoo layout, builds (or reuses) the simulated dataset."""
    if settings.layout != "zoo":
        return Path(settings.data_dir)
    from .zoo import build_zoo
    zoo_profile = settings.profile if settings.profile in ("smoke", "cpu", "gpu") else "cpu"
    return build_zoo(zoo_root(settings), profile=zoo_profile, seed=settings.seed, difficulty=settings.zoo_difficulty)


def load_data(settings: Settings, progress=True) -> RunData:
    """Read the run's layout; unreadable files are listed in `bad_files` and left out."""
    root = build_data(settings, progress)
    layout = "kaggle" if settings.layout == "zoo" else settings.layout
    records = datasets.load_records(layout, root, seed=settings.seed)
    scan = getattr(datasets, "scan_readable", None)
    bad = None
    if scan is not None:
        records, bad = scan(records)
    classes = datasets.class_names(records)
    train = [r for r in records if r.split == "train"]
    test = [r for r in records if r.split == "test" and r.camera in classes]
    unlabelled = [r for r in records if r.split == "test" and r.camera is None]
    holdout = not test
    if holdout:  # e.g. Kaggle's unlabelled test folder: score on a stratified 20% of the training device
        from .train import stratified_split
        train, held = stratified_split(train, 0.2, settings.seed)
        test = [datasets.Record(r.path, r.camera, r.device, "test", "unalt") for r in held]
    return RunData(settings, Path(root), records, classes, train, test, unlabelled, bad, holdout)


def check_data(settings: Settings) -> str:
    """Fail early, with one line, on data that cannot make a run; returns a one-line description."""
    if settings.layout == "zoo":
        return f"simulated zoo ({settings.profile} profile) at {zoo_root(settings)}"
    records = datasets.load_records(settings.layout, settings.data_dir, seed=settings.seed)
    classes = datasets.class_names(records)
    if len(classes) < 2:
        raise datasets.LayoutError(f"{settings.data_dir}: found {len(classes)} camera(s); at least 2 are needed")
    train = [r for r in records if r.split == "train"]
    sizes = []
    from .io import ImageReadError, read_size
    for record in train:
        try:
            sizes.append(min(read_size(record.path)))
        except ImageReadError:
            continue
    if not sizes:
        raise datasets.LayoutError(f"{settings.data_dir}: no readable training image")
    if max(sizes) < settings.crop:
        raise ValueError(f"crop {settings.crop} px is larger than every training image (largest short side {max(sizes)} px): "
                         f"pass a smaller crop, e.g. -p crop {max(16, max(sizes) // 2)}")
    return f"{settings.layout} layout at {settings.data_dir}: {len(train)} training images, {len(classes)} cameras"


def save_settings(settings: Settings) -> Path:
    """settings.json (parameters) and environment.json (versions, hardware, commit) in the run folder."""
    run = settings.run_path
    run.mkdir(parents=True, exist_ok=True)
    write_json(run / "settings.json", settings.to_dict())
    write_json(run / "environment.json", environment())
    return run


def stage_result(settings: Settings, name: str, params: dict, compute):
    """Cached result of a study stage in run_dir/stages/<name>.json (recomputed when params change)."""
    from .runs import cached_json
    start = time.perf_counter()
    result = cached_json(settings.run_path / "stages" / f"{name}.json", params, compute)
    timings = read_json(settings.run_path / "stage_seconds.json", {})
    timings[name] = round(time.perf_counter() - start, 2)
    write_json(settings.run_path / "stage_seconds.json", timings)
    return result


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


def set_threads():
    """Use every core for torch ops (notebook kernels sometimes start with fewer)."""
    torch.set_num_threads(max(1, os.cpu_count() or 1))
