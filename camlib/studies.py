"""The studies' shared prediction passes: robustness to each manipulation and test crop size, for many models at once."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from tqdm import tqdm

from . import manipulations
from .datasets import stratified_split
from .infer import TTAConfig, image_views, prediction_row, probabilities_by_item, read_test_image, score_block
from .train import TrainConfig, epoch_draws

# Sweeps of the original figures (values of each manipulation family).
ROBUSTNESS_SWEEPS = {
    "jpeg": [5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95],
    "gamma": [0.25, 0.5, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.35, 1.5, 1.75],
    "resize": [0.25, 0.4, 0.5, 0.65, 0.8, 1.0, 1.25, 1.5, 2.0, 2.5],
}
# Every challenge value, a setting on each side of 1 inside the training ranges, and values well outside them.
COARSE_ROBUSTNESS_SWEEPS = {
    "jpeg": [30, 50, 70, 80, 90],
    "gamma": [0.5, 0.8, 0.9, 1.1, 1.2, 1.5],
    "resize": [0.25, 0.5, 0.8, 1.25, 1.5, 2.0, 2.5],
}
SHORT_ROBUSTNESS_SWEEPS = {"jpeg": [50, 90], "gamma": [0.8, 1.2], "resize": [0.5, 2.0]}  # the smoke profile's
SWEEPS = {"full": ROBUSTNESS_SWEEPS, "coarse": COARSE_ROBUSTNESS_SWEEPS, "short": SHORT_ROBUSTNESS_SWEEPS}


def per_class_subset(records, images_per_class: int | None):
    """The first `images_per_class` records of each camera (all when None), order kept."""
    if not images_per_class:
        return list(records)
    counts: dict[str, int] = {}
    subset = []
    for record in records:
        if counts.get(record.camera, 0) < images_per_class:
            subset.append(record)
            counts[record.camera] = counts.get(record.camera, 0) + 1
    return subset


def _centre_cropper(center_crop: int):
    """image -> its centre `center_crop` square (as the challenge's 512 px test crops), when larger."""
    def crop(image):
        if center_crop and min(image.shape[:2]) > center_crop:
            return manipulations.center_crop(image, center_crop)
        return image
    return crop


def robustness(models: dict, records, classes, tta: TTAConfig, sweeps=None, center_crop: int = 0,
               progress=True) -> dict:
    """Predictions of each model on `records` after each manipulation value: {(family, value, model key): table}.

    models: {key: model} (e.g. (variant, seed)); records: unaltered test-device images (centre-cropped first
    when `center_crop` is set, so real full frames are manipulated like the challenge's 512 px crops).
    Each image is decoded once and each manipulation made once, then scored by every model."""
    sweeps = sweeps or ROBUSTNESS_SWEEPS
    points = [(family, float(value)) for family, values in sweeps.items() for value in values]
    predictions: dict[tuple, list] = {(family, value, key): [] for family, value in points for key in models}
    for model in models.values():
        model.eval()
    for record in tqdm(records, desc=f"robustness ({len(points)} manipulations x {len(models)} models)",
                       disable=not progress, leave=False):
        image, error = read_test_image(record, _centre_cropper(center_crop))
        views = [] if image is None else [image_views(manipulations.apply(image, family, value), tta) for family, value in points]
        for key, model in models.items():
            probabilities = probabilities_by_item(model, views, tta.batch_size) if views else [None] * len(points)
            for (family, value), point_probabilities in zip(points, probabilities):
                predictions[(family, value, key)].append(prediction_row(record, classes, point_probabilities, error))
    return {key: pd.DataFrame(rows) for key, rows in predictions.items()}


def crop_size(models: dict, records, classes, sizes, transforms: str = "none", center_crop: int = 0,
              progress=True) -> dict:
    """Predictions from one centre crop of each side (the models pool globally, so any size works):
    {(size, model key): table}; each image is decoded once for all sizes and models."""
    records, images_per_pass = list(records), 16
    configs = {int(size): TTAConfig(crop=int(size), crops="center", transforms=transforms, batch_size=images_per_pass)
               for size in sizes}
    predictions: dict[tuple, list] = {(size, key): [] for size in configs for key in models}
    with tqdm(total=len(records), desc=f"crop sizes {min(configs)}-{max(configs)}", disable=not progress, leave=False) as bar:
        for start in range(0, len(records), images_per_pass):
            block = [(record, *read_test_image(record, _centre_cropper(center_crop)))
                     for record in records[start:start + images_per_pass]]
            for key, model in models.items():
                model.eval()
                for size, tta in configs.items():
                    predictions[(size, key)] += score_block(model, block, classes, tta)[""]
            bar.update(len(block))
    return {key: pd.DataFrame(rows) for key, rows in predictions.items()}


def subset_sizes(train_records, classes, counts) -> list[int]:
    """The data-size study's images per camera, capped at what every camera has, without repeats."""
    available = min(sum(r.camera == c for r in train_records) for c in classes)
    return sorted({min(int(c), available) for c in counts})


def main_epoch_images(train_records, config: TrainConfig) -> int:
    """Images per epoch of a model trained on all of `train_records` (those left after its validation split)."""
    kept = stratified_split(train_records, config.val_fraction, config.seed)[0]
    return epoch_draws(config, len(kept), len({r.camera for r in kept}))


def noisy_labels(records, classes, fraction: float, seed: int = 0) -> list:
    """The records with round(fraction x n) of them, drawn at random, given another camera drawn at random
    (the label-noise study); the others unchanged, order kept."""
    records = list(records)
    rng = np.random.default_rng([seed, int(round(fraction * 1e6))])
    wrong = set(rng.choice(len(records), size=int(round(fraction * len(records))), replace=False).tolist())
    noisy = []
    for index, record in enumerate(records):
        if index in wrong:
            others = [c for c in classes if c != record.camera]
            record = replace(record, camera=others[int(rng.integers(len(others)))])
        noisy.append(record)
    return noisy
