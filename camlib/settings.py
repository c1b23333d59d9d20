"""Every parameter of a report run, typed and ranged (pydantic), and the profiles (which chapter reads which: the
stages' declarations, camlib.stages.CHAPTER_FIELDS)."""
from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from .choices import (ARCHS, CROP_MODES, DEFAULT_DIFFICULTY, DIFFICULTY_NAMES, NO_AUGMENTATION, RECIPES, SCHEDULES,
                      SEED_GAMMA_RANGE, SEED_JPEG_RANGE, SEED_SCALE_RANGE, TRANSFORM_MODES)

if TYPE_CHECKING:  # the config classes' modules import torch: checking parameters must not
    from .augment import AugmentConfig
    from .infer import TTAConfig
    from .train import TrainConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = {  # the chapters on the original study's open questions: name -> title
    "manipulation_head": "Is the image manipulated, and how?",
    "averaging": "Checkpoint averaging and ensembling",
    "balanced": "Balanced test classes",
    "pseudo_labels": "Pseudo-labelling",
    "saliency": "What the network looks at",
    "metric": "The metric",
    "open_set": "A camera it has never seen",
}
DEFAULT_QUESTIONS = ["manipulation_head", "averaging", "balanced", "saliency", "metric", "open_set"]  # pseudo_labels: opt-in
LAYOUTS = ("zoo", "kaggle", "dresden", "folder")


class SettingsError(ValueError):
    """A parameter that cannot make a run; str() is one line naming it and what is allowed.

    In a notebook it renders as that one line, not as a traceback (IPython's `_render_traceback_`)."""

    def _render_traceback_(self):
        return [f"SettingsError: {self}"]


def _comma_list(value):
    """A list given as a list, a JSON list or comma-separated text (as `run_all.sh -p NAME a,b` passes it)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                raise ValueError(f"cannot read {value!r} as a list; write e.g. a,b,c") from None
        return [part.strip() for part in text.split(",") if part.strip()]
    if isinstance(value, (int, float)):
        return [value]
    return value


def _pair(value):
    """A (low, high) range given as a pair or as text 'low,high'."""
    value = _comma_list(value)
    if isinstance(value, (list, tuple)) and len(value) != 2:
        raise ValueError(f"needs two values low,high; got {value!r}")
    return value


IntList = Annotated[list[Annotated[int, Field(ge=1)]], BeforeValidator(_comma_list)]
StrList = Annotated[list[str], BeforeValidator(_comma_list)]
FractionList = Annotated[list[Annotated[float, Field(gt=0, lt=1)]], BeforeValidator(_comma_list)]
FloatPair = Annotated[tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]], BeforeValidator(_pair)]
QualityPair = Annotated[tuple[Annotated[int, Field(ge=1, le=100)], Annotated[int, Field(ge=1, le=100)]], BeforeValidator(_pair)]


class Settings(BaseModel):
    """Every parameter of a report run. A profile fills the defaults; `-p NAME VALUE` overrides any field."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    # --- the run and its data
    profile: Literal["smoke", "cpu", "gpu"] = Field("cpu", description="smoke: minutes, for tests; cpu: a laptop; gpu: the seed's recipe")
    run_dir: str = Field("runs/default", description="every output of the run goes here")
    layout: Literal["zoo", "kaggle", "dresden", "folder"] = Field("zoo", description="where the photos come from: zoo is simulated, built on the fly")
    data_dir: str = Field("", description="photos for the kaggle/dresden/folder layouts; for zoo: where to build it (empty: data/)")
    zoo_seed: int = Field(0, ge=0, description="which simulated dataset (the zoo's cameras, devices and frames)")
    zoo_difficulty: Literal[DIFFICULTY_NAMES] = Field(DEFAULT_DIFFICULTY, description="how far apart the simulated camera models are")
    split_seed: int = Field(0, ge=0, description="random train/test split of cameras whose photos name no device")
    test_center_crop: int = Field(0, ge=0, description="crop real test frames to this centre square first (0: as stored)")
    min_images_per_camera: int = Field(2, ge=1, description="real layouts: cameras with fewer photos are named and left out")
    # --- the training recipe (main model; the study models use it too)
    arch: str = Field("efficientnet_lite0_s4", description="network (camlib.models registry; _s4: its first 4 stages)")
    weights: str = Field("imagenet", description="'imagenet', 'none' (from scratch) or a weights file")
    seed: int = Field(0, ge=0, description="first training seed (initialisation, augmentation, order); replicate k uses seed + k")
    replicates: int = Field(3, ge=1, le=20, description="training seeds of the main and the no-augmentation model")
    epochs: int = Field(4, ge=1, le=1000, description="training epochs")
    batch_size: int = Field(32, ge=1, le=4096, description="crops per optimisation step")
    crops_per_image: int = Field(4, ge=1, le=256, description="random crops per decoded frame")
    crop: int = Field(96, ge=16, le=4096, description="final training crop side in pixels (the first crop is twice this; the seed: 480)")
    lr: float = Field(2e-3, gt=0, le=1, description="Adam learning rate (the seed: 1e-3)")
    schedule: Literal[SCHEDULES] = Field("one_cycle", description="learning-rate schedule (the seed: cyclic)")
    cycle_epochs: float = Field(2.0, gt=0, description="cosine_restarts/triangular: epochs per LR cycle")
    warmup_fraction: float = Field(0.05, ge=0, lt=1, description="one_cycle: share of the steps spent warming up")
    images_per_epoch: int = Field(0, ge=0, description="images drawn per epoch (0: each training image once, or "
                                  "draws_per_camera)")
    draws_per_camera: int = Field(0, ge=0, description="with images_per_epoch 0: draws per camera per epoch, so the "
                                  "budget grows with the number of cameras (at least each training image once; 0: off)")
    average_last: int = Field(0, ge=0, description="average the weights of the last k epochs (0 or 1: off)")
    center_fraction: float = Field(1.0, gt=0, le=1, description="train on the central part of each frame")
    crop_mean: bool = Field(False, description="the network sees each crop minus its own mean colour, so it cannot use "
                            "colour cast or brightness (a shooting condition, not a camera trace)")
    balance_classes: bool = Field(False, description="draw every camera equally often in training, whatever its photo count")
    workers: int = Field(0, ge=0, le=256, description="DataLoader processes (on 2 cores a worker competes with the step)")
    train_processes: int = Field(0, ge=0, le=64, description="models trained at once, the cores split between them "
                                 "(0: 2 on a CPU, 1 with a GPU)")
    frame_cache_gib: float = Field(2.0, ge=0, description="decoded training frames kept in memory between epochs (0: off)")
    eval_every: int = Field(4, ge=1, description="validation/test curve every k epochs (and after the last)")
    aug_d4: bool = Field(True, description="random 90-degree rotations and flips")
    aug_gamma: bool = Field(True, description="gamma correction augmentation, in gamma_range")
    aug_jpeg: bool = Field(True, description="JPEG recompression augmentation, in jpeg_range")
    aug_scale: bool = Field(True, description="bicubic rescale augmentation, in scale_range")
    gamma_range: FloatPair = Field(SEED_GAMMA_RANGE, description="training gamma range low,high (the seed: 0.8,1.2)")
    jpeg_range: QualityPair = Field(SEED_JPEG_RANGE, description="training JPEG quality range low,high (the seed: 70,90)")
    scale_range: FloatPair = Field(SEED_SCALE_RANGE, description="training rescale factor range low,high (the seed: 0.5,2)")
    aug_recipe: Literal[RECIPES] = Field("writeup", description="augmentation recipe: writeup (the team's write-up: gamma and "
                                          "JPEG each with manipulation_prob, every crop rescaled), released (its code: one "
                                          "of the 8 test operations with manipulation_prob) or oneof (one of gamma/JPEG/rescale)")
    manipulation_prob: float = Field(0.5, ge=0, le=1, description="writeup: chance of gamma and of JPEG, each; "
                                     "released/oneof: chance that a crop gets one manipulation")
    aug_jpeg_aligned: bool = Field(False, description="first training crop on the frame's 8x8 JPEG grid, so a JPEG "
                                   "recompression is aligned with the camera's blocks (as the challenge's test crops)")
    # --- test-time augmentation of the main model
    tta_crops: Literal[CROP_MODES] = Field("grid", description="TTA crops: grid: tiles over the whole image")
    tta_transforms: Literal[tuple(TRANSFORM_MODES)] = Field("flip", description="TTA flips/rotations of each crop")
    tta_grid: int = Field(2, ge=1, le=64, description="grid: tiles per side")
    # --- studies
    robustness_images_per_class: int = Field(20, ge=1, description="unaltered test images per camera in each robustness point")
    robustness_sweep: Literal["full", "coarse", "short"] = Field("coarse", description="manipulation values: the original "
                                                                 "figures' (32), coarse (18) or two per family")
    robustness_tta_crops: Literal[CROP_MODES] = Field("center", description="TTA crops of the robustness study")
    robustness_tta_transforms: Literal[tuple(TRANSFORM_MODES)] = Field("none", description="TTA transforms of the robustness study")
    crop_sizes: IntList = Field([32, 48, 64, 96, 128, 192, 256], description="test crop sides of the crop-size study")
    train_sizes: IntList = Field([10, 20, 40], description="training images per camera of the data-size study")
    label_noise_levels: FractionList = Field([0.05, 0.15, 0.3], description="shares of training photos given a wrong "
                                             "camera in the label-noise study (empty: off)")
    schedule_study: bool = Field(True, description="train the main recipe with the other schedule (cosine_restarts "
                                 "against one_cycle) at equal epochs")
    study_replicates: int = Field(2, ge=1, le=20, description="training seeds of each study model")
    study_tta_crops: Literal[CROP_MODES] = Field("center", description="TTA crops of the study models")
    study_tta_transforms: Literal[tuple(TRANSFORM_MODES)] = Field("flip", description="TTA transforms of the study models")
    arch_study: StrList = Field(["efficientnet_lite0_s4:none:epochs=8:lr=4e-3", "efficientnet_lite1_s4:imagenet"], description="'arch:weights' compared with the main model; "
                                  "':epochs=E:lr=L' gives one its own budget")
    baseline_crop: int = Field(256, ge=16, description="crop side of the residual-statistics baseline")
    baseline_crops_per_image: int = Field(3, ge=1, description="crops per image of the baseline")
    baseline_max_iter: int = Field(120, ge=1, description="boosting iterations of the baseline")
    # --- the open questions (chapters 9-15)
    open_questions: StrList = Field(DEFAULT_QUESTIONS, description="chapters on the study's open questions to run")
    manipulation_crops: int = Field(4, ge=1, description="training crops per frame for the frozen manipulation head")
    average_epochs: int = Field(3, ge=2, description="averaging: the last k epochs' weights are averaged")
    pseudo_label_threshold: float = Field(0.9, gt=0, le=1, description="pseudo-labels: least confidence of a test photo")
    pseudo_label_epochs: int = Field(1, ge=1, description="pseudo-labels: epochs of the fine-tune")
    saliency_crops: int = Field(4, ge=1, description="saliency: flat and textured crops per image")
    open_set_cameras: int = Field(2, ge=2, le=10, description="open set: unknown virtual cameras rendered")
    open_set_frames: int = Field(60, ge=4, description="open set: test photos per unknown camera")
    open_set_keep: float = Field(0.95, gt=0, lt=1, description="open set: share of known validation photos kept")

    @field_validator("arch")
    @classmethod
    def _known_arch(cls, value):
        if value not in ARCHS:
            raise ValueError(f"unknown architecture {value!r}; choose from {', '.join(ARCHS)}")
        return value

    @field_validator("weights")
    @classmethod
    def _weights_source(cls, value):
        if value not in ("imagenet", "none") and not Path(value).is_file():
            raise ValueError(f"{value!r} is neither 'imagenet', 'none' nor an existing weights file")
        return value

    @field_validator("arch_study")
    @classmethod
    def _arch_variants(cls, value):
        for variant in value:
            parse_arch_variant(variant)
        return value

    @field_validator("open_questions")
    @classmethod
    def _known_questions(cls, value):
        unknown = [name for name in value if name not in QUESTIONS]
        if unknown:
            raise ValueError(f"unknown chapter {unknown[0]!r}; choose from {', '.join(QUESTIONS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self):
        if self.layout != "zoo" and not self.data_dir:
            raise ValueError(f"layout {self.layout!r} needs data_dir: the folder that holds the photos")
        if self.batch_size % self.crops_per_image:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of crops_per_image ({self.crops_per_image})")
        for name in ("gamma_range", "jpeg_range", "scale_range"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name}: low ({low}) must not exceed high ({high})")
        return self

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")

    @property
    def run_path(self) -> Path:
        path = Path(self.run_dir)
        return path if path.is_absolute() else REPO_ROOT / path

    @property
    def seeds(self) -> list[int]:
        """Training seeds of the main and the no-augmentation models."""
        return [self.seed + k for k in range(self.replicates)]

    @property
    def study_seeds(self) -> list[int]:
        """Training seeds of each study model: the first `study_replicates` of `seeds`."""
        return [self.seed + k for k in range(self.study_replicates)]

    def augment_config(self, augmented: bool = True) -> AugmentConfig:
        from .augment import AugmentConfig
        config = AugmentConfig(crop=self.crop, manipulation_prob=self.manipulation_prob, d4=self.aug_d4,
                               recipe=self.aug_recipe, jpeg_aligned=self.aug_jpeg_aligned,
                               gamma_range=tuple(self.gamma_range) if self.aug_gamma else None,
                               jpeg_range=tuple(self.jpeg_range) if self.aug_jpeg else None,
                               scale_range=tuple(self.scale_range) if self.aug_scale else None)
        if augmented:
            return config
        return AugmentConfig(**{**config.to_dict(), **NO_AUGMENTATION})

    def train_config(self, augmented: bool = True, seed: int | None = None, **changes) -> TrainConfig:
        """The recipe as a TrainConfig for training seed `seed` (default: the first), with `changes` applied."""
        from .train import TrainConfig
        values = dict(arch=self.arch, weights=self.weights, epochs=self.epochs, batch_size=self.batch_size,
                      crops_per_image=self.crops_per_image, lr=self.lr, schedule=self.schedule,
                      cycle_epochs=self.cycle_epochs, warmup_fraction=self.warmup_fraction,
                      images_per_epoch=self.images_per_epoch or None, draws_per_camera=self.draws_per_camera,
                      average_last=self.average_last,
                      center_fraction=self.center_fraction, crop_mean=self.crop_mean,
                      balance_classes=self.balance_classes, workers=self.workers,
                      frame_cache_gib=self.frame_cache_gib,
                      eval_every=self.eval_every, eval_crops=1, keep_epochs=self.average_epochs,
                      seed=self.seed if seed is None else seed,
                      augment=self.augment_config(augmented))
        values.update(changes)
        return TrainConfig(**values)

    def tta_config(self, purpose: str = "main") -> TTAConfig:
        """The one TTA factory: 'main' (the main results), 'study' (study models) or 'robustness'."""
        from .infer import TTAConfig
        prefix = {"main": "tta", "study": "study_tta", "robustness": "robustness_tta"}[purpose]
        return TTAConfig(crop=self.crop, crops=getattr(self, f"{prefix}_crops"),
                         transforms=getattr(self, f"{prefix}_transforms"), grid_size=self.tta_grid)

    def robustness_sweeps(self) -> dict:
        from .studies import SWEEPS
        return SWEEPS[self.robustness_sweep]

    def arch_variants(self) -> list[ArchVariant]:
        """The architecture study's variants: the main model first, then `arch_study` without it."""
        main = ArchVariant(self.arch, self.weights)
        variants = [parse_arch_variant(text) for text in self.arch_study]
        return [main] + [v for v in variants if v != main]


@dataclass(frozen=True)
class ArchVariant:
    """One model of the architecture study: a network, its start, and its own budget where it needs one."""

    arch: str
    weights: str = "none"
    epochs: int | None = None  # None: the main recipe's
    lr: float | None = None

    def changes(self) -> dict:
        """The TrainConfig fields in which this variant departs from the main recipe."""
        changes = dict(arch=self.arch, weights=self.weights)
        changes.update({k: v for k, v in (("epochs", self.epochs), ("lr", self.lr)) if v is not None})
        return changes

    @property
    def name(self) -> str:
        """A name that tells variants apart, budgets included (stage keys, model folders)."""
        budget = "".join(f"-{k}{v:g}" for k, v in (("e", self.epochs), ("lr", self.lr)) if v is not None)
        return f"{self.arch}-{self.weights}{budget}"

    @property
    def budget_text(self) -> str:
        parts = [f"{self.epochs} epochs" if self.epochs else "", f"lr {self.lr:g}" if self.lr else ""]
        return ", ".join(p for p in parts if p)


ARCH_VARIANT_OPTIONS = ("epochs", "lr")


def parse_arch_variant(text: str) -> ArchVariant:
    """'arch[:weights[:epochs=E[:lr=L]]]' -> ArchVariant; ValueError naming the part that is wrong.

    A model from scratch usually needs more epochs than a pretrained one: 'efficientnet_lite0_s4:none:epochs=8'."""
    arch, *rest = [part.strip() for part in str(text).split(":")]
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r} in {text!r}; choose from {', '.join(ARCHS)}")
    weights = (rest.pop(0) if rest else "") or "none"
    if weights not in ("imagenet", "none"):
        raise ValueError(f"{text!r}: weights must be 'imagenet' or 'none'")
    options = {}
    for part in rest:
        name, sep, value = part.partition("=")
        if not sep or name not in ARCH_VARIANT_OPTIONS:
            raise ValueError(f"{text!r}: {part!r} is not one of {', '.join(o + '=...' for o in ARCH_VARIANT_OPTIONS)}")
        try:
            options[name] = int(value) if name == "epochs" else float(value)
        except ValueError:
            raise ValueError(f"{text!r}: {name} must be a number, got {value!r}") from None
        if options[name] <= 0:
            raise ValueError(f"{text!r}: {name} must be positive, got {value!r}")
    return ArchVariant(arch, weights, **options)


PROFILES: dict[str, dict] = {
    "smoke": dict(epochs=1, batch_size=16, crop=64, crops_per_image=4, workers=0, replicates=2, study_replicates=1,
                  tta_crops="center", tta_transforms="flip", robustness_images_per_class=2, robustness_sweep="short",
                  robustness_tta_crops="center", study_tta_crops="center", crop_sizes=[32, 64, 128], train_sizes=[2, 4],
                  arch_study=["efficientnet_lite0_s4:none"], baseline_crop=128, baseline_crops_per_image=2,
                  baseline_max_iter=30, open_set_frames=4, manipulation_crops=2, saliency_crops=2),
    # The cpu default spends its 30 minutes on the main models, with and without augmentation (the write-up's recipe,
    # 10 epochs, 2 seeds each; benchmarks/robustness_diagnosis.md: 8 -> 16 epochs still gained), and cuts study
    # breadth: no data-size or architecture study, one label-noise level, one seed per study model and for the sweep
    # (the gpu profile keeps them all).
    "cpu": dict(epochs=10, replicates=2, study_replicates=1, train_sizes=[], arch_study=[], label_noise_levels=[0.15],
                robustness_tta_crops="grid", robustness_tta_transforms="none",
                open_questions=["averaging", "balanced", "metric"]),
    "gpu": dict(arch="densenet161", weights="imagenet", epochs=30, batch_size=16, crops_per_image=2, crop=480, lr=1e-3,
                schedule="cosine_restarts", cycle_epochs=5.0, workers=8, zoo_difficulty="subtle", robustness_sweep="full",
                robustness_tta_crops="five", tta_grid=4, crop_sizes=[64, 128, 192, 256, 320, 384, 448, 512], eval_every=1, frame_cache_gib=0.0, average_last=3, tta_crops="five",
                tta_transforms="d4", robustness_images_per_class=50, robustness_tta_transforms="flip",
                study_tta_transforms="flip", train_sizes=[10, 25, 50, 100, 250],
                arch_study=["densenet161:imagenet", "densenet201:imagenet", "densenet161:none",
                            "efficientnet_lite0:imagenet"],
                baseline_crop=512, baseline_crops_per_image=8, baseline_max_iter=500),
}

# What changes for real photos (kaggle, dresden, folder layouts), per profile, before any -p override: chosen by
# measurement on the Dresden Nikon photos (README, "Real photos").
# Dresden (train on device 0, test on device 1, lite0_s4, 4 epochs, 1 seed): the cpu recipe as it is for the zoo gave
# 0.33 (D200 0/11: its training flat fields have a colour cast that its test flat fields lack); each crop minus its own
# mean colour (crop_mean) gave 0.83, D200 11/11; without D4 0.70. The same 3 seeds scored with a 16x16 grid of 96 px
# tiles instead of 8x8 (a quarter of a 6 MP frame instead of 6%): 0.83 instead of 0.75, D70s 0.76 instead of 0.53.
# The label-noise and schedule studies need more photos than a real folder usually has: off for real photos.
_REAL_PHOTOS = dict(crop_mean=True, balance_classes=True, aug_scale=False, tta_grid=8, label_noise_levels=[],
                    schedule_study=False)
REAL_PHOTO_DEFAULTS: dict[str, dict] = {
    "smoke": dict(_REAL_PHOTOS, tta_grid=2),
    # the recipe measured on the Dresden photos and on real-crops (oneof, 4 epochs of 133 draws per camera, one cycle, 3
    # seeds; README "Real photos"): the epoch grows with the number of cameras, so a larger folder is not trained less;
    # its grid TTA is too costly for every point of the robustness sweep, which scores one centre crop on both sides
    "cpu": dict(_REAL_PHOTOS, aug_recipe="oneof", tta_grid=16, draws_per_camera=133, epochs=4, replicates=3, study_replicates=2,
                schedule="one_cycle", train_sizes=[3, 6], robustness_images_per_class=15, robustness_tta_crops="center",
                robustness_tta_transforms="none", open_questions=DEFAULT_QUESTIONS),
    "gpu": dict(_REAL_PHOTOS),
}

# Fields that say where and how fast a run computes, or which chapters it runs, never what a result is: stages
# declare them where they read them, but no cache key holds them (results do not depend on workers or caches).
UNKEYED_FIELDS = ("run_dir", "workers", "train_processes", "frame_cache_gib", "open_questions")


def field_names() -> list[str]:
    return list(Settings.model_fields)


def _one_line(error: ValidationError, values: dict) -> str:
    """The first problem of a pydantic error as `-p NAME VALUE: what is allowed`."""
    problem = error.errors()[0]
    location = [str(part) for part in problem.get("loc", ()) if not isinstance(part, int)]
    message = problem.get("msg", "invalid").removeprefix("Value error, ")
    if not location:  # a model-level rule
        return message
    name = location[0]
    given = values.get(name, problem.get("input"))
    return f"parameter {name} = {given!r}: {message}"


def check_names(names) -> None:
    """SettingsError for the first name that is not a parameter, with the nearest real one."""
    known = field_names()
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise SettingsError(f"unknown parameter {name!r}{hint}; `python -m camlib.settings` lists them all")


def resolve(profile: str = "cpu", overrides: dict | None = None) -> Settings:
    """Settings of `profile` (with REAL_PHOTO_DEFAULTS for a real-photo layout), then every non-None value of
    `overrides`; SettingsError (one line) on any bad name or value."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None and k != "profile"}
    if profile not in PROFILES:
        raise SettingsError(f"parameter profile = {profile!r}: choose from {', '.join(PROFILES)}")
    check_names(overrides)
    real = overrides.get("layout", PROFILES[profile].get("layout", "zoo")) != "zoo"
    values = {**PROFILES[profile], **(REAL_PHOTO_DEFAULTS.get(profile, {}) if real else {}), **overrides, "profile": profile}
    try:
        return Settings(**values)
    except ValidationError as error:
        raise SettingsError(_one_line(error, values)) from None


def describe(name: str) -> str:
    """'description [type; cpu: value]' of a parameter: the comment of its notebook line."""
    field = Settings.model_fields[name]
    cpu = Settings(**PROFILES["cpu"]).to_dict()[name]
    return f"{field.description} (cpu: {cpu!r})"


def main() -> int:
    """List every parameter with its cpu default and description: `python -m camlib.settings`."""
    cpu = Settings(**PROFILES["cpu"]).to_dict()
    for name in field_names():
        print(f"{name} = {cpu[name]!r}  # {Settings.model_fields[name].description}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
