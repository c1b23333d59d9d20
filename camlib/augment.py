"""The seed's training augmentation as one albumentations pipeline whose every piece can be switched off.

crop `pre_crop` (the seed's 960) -> D4 -> with probability `manipulation_prob` one of gamma / JPEG /
rescale (the challenge's manipulations, drawn from the training ranges) -> crop `crop` (the seed's 480).
The pixel work is done by `camlib.manipulations`, the same code that makes the test set and the
robustness study; the classes below only draw parameters from albumentations' seeded generator.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import albumentations as A
import numpy as np

from . import manipulations

# The seed's training ranges (its write-up: gamma 0.8-1.2, JPEG quality 70-90, rescale 0.5-2).
SEED_GAMMA_RANGE = (0.8, 1.2)
SEED_JPEG_RANGE = (70, 90)
SEED_SCALE_RANGE = (0.5, 2.0)


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
    manipulation_prob: float = 0.5  # chance that one manipulation is applied to a crop

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def manipulations_on(self) -> bool:
        return any(r is not None for r in (self.gamma_range, self.jpeg_range, self.scale_range))


NO_AUGMENTATION = dict(d4=False, gamma_range=None, jpeg_range=None, scale_range=None)


def manipulation_steps(config: AugmentConfig) -> list:
    """The manipulation transforms switched on in `config` (gamma, JPEG, rescale), in that order."""
    steps = []
    if config.gamma_range is not None:
        steps.append(RandomGammaManip(config.gamma_range))
    if config.jpeg_range is not None:
        steps.append(RandomJpegManip(config.jpeg_range))
    if config.scale_range is not None:
        steps.append(RandomResizeManip(config.scale_range, config.interpolations))
    return steps


def manipulation_step(config: AugmentConfig, seed: int | None = None) -> A.Compose | None:
    """OneOf(the manipulations) with probability `manipulation_prob`, alone (None when there is none)."""
    steps = manipulation_steps(config)
    if not steps or config.manipulation_prob <= 0:
        return None
    return A.Compose([A.OneOf(steps, p=config.manipulation_prob)], seed=seed)


def training_pipeline(config: AugmentConfig, seed: int | None = None) -> A.Compose:
    """Random crop -> D4 -> OneOf(gamma, JPEG, rescale) -> final crop, for HxWx3 uint8 images."""
    if config.crop < 8:
        raise ValueError(f"crop must be at least 8 pixels, got {config.crop}")
    if not 0 <= config.manipulation_prob <= 1:
        raise ValueError(f"manipulation_prob must be in [0, 1], got {config.manipulation_prob}")
    pre_crop = config.pre_crop or 2 * config.crop
    if pre_crop < config.crop:
        raise ValueError(f"pre_crop ({pre_crop}) must be at least crop ({config.crop})")
    steps = [A.RandomCrop(pre_crop, pre_crop, pad_if_needed=True, border_mode=0)]
    if config.d4:
        steps.append(A.D4(p=1.0))
    manipulations_on = manipulation_steps(config)
    if manipulations_on and config.manipulation_prob > 0:
        steps.append(A.OneOf(manipulations_on, p=config.manipulation_prob))
    steps.append(A.RandomCrop(config.crop, config.crop, pad_if_needed=True, border_mode=0))
    return A.Compose(steps, seed=seed)


def augment(pipeline: A.Compose, image: np.ndarray) -> np.ndarray:
    """Run a pipeline on one HxWx3 uint8 image."""
    return pipeline(image=image)["image"]
