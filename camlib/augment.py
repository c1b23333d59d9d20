"""The seed's training augmentation as albumentations pipelines, in three named recipes.

- `writeup` (the default; the team's write-up): random crop `pre_crop` (the seed's 960) -> D4 -> gamma with
  probability `manipulation_prob` -> JPEG with probability `manipulation_prob`, each drawn independently from
  its training range -> bicubic rescale of every crop -> crop `crop` (the seed's 480).
- `released` (the team's released code, src/ilya/pipeline/core/custom_dataset.py): random crop `pre_crop` ->
  with probability `manipulation_prob` one of the challenge's 8 exact test operations -> crop `crop` -> D4.
- `oneof` (camlib's earlier default): crop -> D4 -> with probability `manipulation_prob` one of gamma / JPEG /
  rescale drawn from the training ranges -> crop.

The pixel work is done by `camlib.manipulations`, the same code that makes the test set and the robustness
study; the classes below only draw parameters from albumentations' seeded generator.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import albumentations as A
import numpy as np

from . import manipulations
from .choices import RECIPES, SEED_GAMMA_RANGE, SEED_JPEG_RANGE, SEED_SCALE_RANGE

JPEG_GRID = 8  # the 8x8 block grid of a JPEG


class RandomGammaManip(A.ImageOnlyTransform):
    """Gamma correction with gamma drawn uniformly in `gamma_range` (seed: 0.8-1.2)."""

    def __init__(self, gamma_range=SEED_GAMMA_RANGE, p: float = 1.0):
        super().__init__(p=p)
        low, high = gamma_range
        if not 0 < low <= high:
            raise ValueError(f"gamma_range must satisfy 0 < low <= high, got {gamma_range}")
        self.gamma_range = (float(low), float(high))

    def get_params(self):
        return {"gamma_value": self.py_random.uniform(*self.gamma_range)}

    def apply(self, img, gamma_value=1.0, **params):
        return manipulations.gamma(img, gamma_value)


class RandomJpegManip(A.ImageOnlyTransform):
    """JPEG round trip with quality drawn uniformly (integers) in `quality_range` (seed: 70-90)."""

    def __init__(self, quality_range=SEED_JPEG_RANGE, p: float = 1.0):
        super().__init__(p=p)
        low, high = quality_range
        if not 1 <= low <= high <= 100:
            raise ValueError(f"quality_range must satisfy 1 <= low <= high <= 100, got {quality_range}")
        self.quality_range = (int(low), int(high))

    def get_params(self):
        return {"quality": self.py_random.randint(*self.quality_range)}

    def apply(self, img, quality=90, **params):
        return manipulations.jpeg(img, quality)


class RandomResizeManip(A.ImageOnlyTransform):
    """Rescale by a factor drawn log-uniformly in `scale_range` (seed: 0.5-2) with one of `interpolations`."""

    def __init__(self, scale_range=SEED_SCALE_RANGE, interpolations=("bicubic",), p: float = 1.0):
        super().__init__(p=p)
        low, high = scale_range
        if not 0 < low <= high:
            raise ValueError(f"scale_range must satisfy 0 < low <= high, got {scale_range}")
        unknown = set(interpolations) - set(manipulations.INTERPOLATIONS)
        if unknown or not interpolations:
            raise ValueError(f"unknown interpolations {sorted(unknown)}; choose from {sorted(manipulations.INTERPOLATIONS)}")
        self.scale_range, self.interpolations = (float(low), float(high)), tuple(interpolations)

    def get_params(self):
        log_low, log_high = np.log(self.scale_range)
        return {"factor": float(np.exp(self.py_random.uniform(log_low, log_high))),
                "interpolation": self.py_random.choice(self.interpolations)}

    def apply(self, img, factor=1.0, interpolation="bicubic", **params):
        return manipulations.resize(img, factor, interpolation)


class ChallengeManip(A.ImageOnlyTransform):
    """One of the challenge's exact test operations (`manipulations.CHALLENGE_MANIPULATIONS`), chosen uniformly."""

    def __init__(self, names=tuple(manipulations.CHALLENGE_MANIPULATIONS), p: float = 1.0):
        super().__init__(p=p)
        unknown = set(names) - set(manipulations.CHALLENGE_MANIPULATIONS)
        if unknown or not names:
            raise ValueError(f"unknown challenge operations {sorted(unknown)}; choose from "
                             f"{list(manipulations.CHALLENGE_MANIPULATIONS)}")
        self.names = tuple(names)

    def get_params(self):
        return {"name": self.py_random.choice(self.names)}

    def apply(self, img, name="jpg90", **params):
        return manipulations.challenge_manipulation(img, name)


class RandomCropOnGrid(A.ImageOnlyTransform):
    """A random `size` square whose corner lies on the JPEG 8x8 grid of the frame (zero-padded when too small).

    A later JPEG recompression of such a crop is aligned with the camera's own blocks, as the challenge's
    test crops were (`jpeg_aligned`)."""

    def __init__(self, size: int, grid: int = JPEG_GRID, p: float = 1.0):
        super().__init__(p=p)
        self.size, self.grid = int(size), int(grid)

    def get_params_dependent_on_data(self, params, data):
        height, width = params["shape"][:2]
        top = self.py_random.randint(0, max(0, height - self.size) // self.grid) * self.grid
        left = self.py_random.randint(0, max(0, width - self.size) // self.grid) * self.grid
        return {"top": top, "left": left}

    def apply(self, img, top=0, left=0, **params):
        crop = img[top:top + self.size, left:left + self.size]
        if crop.shape[0] < self.size or crop.shape[1] < self.size:
            padded = np.zeros((self.size, self.size) + crop.shape[2:], dtype=crop.dtype)
            padded[:crop.shape[0], :crop.shape[1]] = crop
            crop = padded
        return crop


@dataclass
class AugmentConfig:
    """The seed's augmentation recipe; set a range to None (or d4=False) to switch that piece off."""

    crop: int = 480  # final training crop (seed: 480)
    pre_crop: int | None = None  # first random crop; None = 2 x crop (seed: 960)
    d4: bool = True  # random 90-degree rotations and flips
    gamma_range: tuple[float, float] | None = SEED_GAMMA_RANGE
    jpeg_range: tuple[int, int] | None = SEED_JPEG_RANGE
    scale_range: tuple[float, float] | None = SEED_SCALE_RANGE
    interpolations: tuple[str, ...] = ("bicubic",)  # or all of manipulations.INTERPOLATIONS
    manipulation_prob: float = 0.5  # writeup: of gamma and of JPEG, each; released/oneof: of one manipulation
    recipe: str = "writeup"  # one of RECIPES
    jpeg_aligned: bool = False  # first crop on the frame's 8x8 grid (a later JPEG is aligned with the camera's)

    def __post_init__(self):
        if self.recipe not in RECIPES:
            raise ValueError(f"unknown augmentation recipe {self.recipe!r}; choose from {', '.join(RECIPES)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def manipulations_on(self) -> bool:
        return any(r is not None for r in (self.gamma_range, self.jpeg_range, self.scale_range))


def manipulation_steps(config: AugmentConfig) -> list:
    """The manipulation transforms switched on in `config` (gamma, JPEG, rescale), in that order, each p=1."""
    steps = []
    if config.gamma_range is not None:
        steps.append(RandomGammaManip(config.gamma_range))
    if config.jpeg_range is not None:
        steps.append(RandomJpegManip(config.jpeg_range))
    if config.scale_range is not None:
        steps.append(RandomResizeManip(config.scale_range, config.interpolations))
    return steps


def challenge_operations(config: AugmentConfig) -> list[str]:
    """The released recipe's operations: the challenge's 8, less the families switched off in `config`."""
    on = {"jpeg": config.jpeg_range is not None, "gamma": config.gamma_range is not None,
          "resize": config.scale_range is not None}
    return [name for name, (family, _) in manipulations.CHALLENGE_MANIPULATIONS.items() if on[family]]


def recipe_manipulations(config: AugmentConfig) -> list:
    """The manipulation part of `config.recipe`, as albumentations transforms (empty when none is on)."""
    prob = config.manipulation_prob
    if not config.manipulations_on or (prob <= 0 and config.recipe != "writeup"):
        return []
    if config.recipe == "writeup":  # gamma and JPEG each with p, every crop rescaled
        steps = []
        if config.gamma_range is not None and prob > 0:
            steps.append(RandomGammaManip(config.gamma_range, p=prob))
        if config.jpeg_range is not None and prob > 0:
            steps.append(RandomJpegManip(config.jpeg_range, p=prob))
        if config.scale_range is not None:
            steps.append(RandomResizeManip(config.scale_range, config.interpolations, p=1.0))
        return steps
    if config.recipe == "released":
        return [ChallengeManip(challenge_operations(config), p=prob)]
    return [A.OneOf(manipulation_steps(config), p=prob)]


def manipulation_step(config: AugmentConfig, seed: int | None = None) -> A.Compose | None:
    """The recipe's manipulations alone, as one pipeline (None when there is none)."""
    steps = recipe_manipulations(config)
    return A.Compose(steps, seed=seed) if steps else None


def training_pipeline(config: AugmentConfig, seed: int | None = None, save_applied_params: bool = False) -> A.Compose:
    """The recipe's pipeline (first crop, D4, manipulations, final crop) for HxWx3 uint8 images."""
    if config.crop < 8:
        raise ValueError(f"crop must be at least 8 pixels, got {config.crop}")
    if not 0 <= config.manipulation_prob <= 1:
        raise ValueError(f"manipulation_prob must be in [0, 1], got {config.manipulation_prob}")
    pre_crop = config.pre_crop or 2 * config.crop
    if pre_crop < config.crop:
        raise ValueError(f"pre_crop ({pre_crop}) must be at least crop ({config.crop})")
    first = (RandomCropOnGrid(pre_crop) if config.jpeg_aligned
             else A.RandomCrop(pre_crop, pre_crop, pad_if_needed=True, border_mode=0))
    final = A.RandomCrop(config.crop, config.crop, pad_if_needed=True, border_mode=0)
    d4 = [A.D4(p=1.0)] if config.d4 else []
    manipulation_steps(config)  # checks every range and interpolation, whichever the recipe uses
    manip = recipe_manipulations(config)
    if config.recipe == "released":  # the released code turns the crop after manipulating and cropping it
        steps = [first, *manip, final, *d4]
    else:
        steps = [first, *d4, *manip, final]
    return A.Compose(steps, seed=seed, save_applied_params=save_applied_params)


_FAMILY_OF = {"RandomGammaManip": "gamma", "RandomJpegManip": "jpeg", "RandomResizeManip": "resize"}


def applied_manipulations(applied_transforms) -> list[str]:
    """The manipulation families ('gamma', 'jpeg', 'resize') that a pipeline with save_applied_params applied."""
    families = []
    for name, params in applied_transforms:
        if name == "ChallengeManip":
            families.append(manipulations.CHALLENGE_MANIPULATIONS[params["name"]][0])
        elif name in _FAMILY_OF:
            families.append(_FAMILY_OF[name])
    return families



def augment(pipeline: A.Compose, image: np.ndarray) -> np.ndarray:
    """Run a pipeline on one HxWx3 uint8 image."""
    return pipeline(image=image)["image"]
