"""The studies of the original write-up as functions returning tidy DataFrames: robustness to each
manipulation, test crop size, training-set size and architectures (transfer vs scratch)."""
from __future__ import annotations

from dataclasses import replace

import pandas as pd
from tqdm import tqdm

from . import manipulations
from .infer import (TTAConfig, accuracy_metrics, image_views, predict_records, prediction_row, probabilities_by_item,
                    read_test_image, score_block)
from .train import TrainConfig, stratified_split, train

# Sweeps of the original figures (values of each manipulation family).
ROBUSTNESS_SWEEPS = {
    "jpeg": [5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95],
    "gamma": [0.25, 0.5, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.35, 1.5, 1.75],
    "resize": [0.25, 0.4, 0.5, 0.65, 0.8, 1.0, 1.25, 1.5, 2.0, 2.5],
}
SHORT_ROBUSTNESS_SWEEPS = {"jpeg": [50, 90], "gamma": [0.8, 1.2], "resize": [0.5, 2.0]}  # the smoke profile's


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


def _accuracy(prediction_rows: list[dict]) -> dict:
    """Accuracy and number of scored images of a list of prediction rows."""
    metrics = accuracy_metrics(pd.DataFrame(prediction_rows))
    return {"accuracy": metrics.get("accuracy"), "n_images": metrics.get("n_images", 0)}


def robustness(models: dict, records, classes, tta: TTAConfig, sweeps=None, center_crop: int = 0, progress=True) -> pd.DataFrame:
    """Accuracy of each model variant on `records` after each manipulation value.

    models: {variant label: model}; records: unaltered test-device images (centre-cropped first when
    `center_crop` is set, so real full frames are manipulated like the challenge's 512 px crops).
    Each image is decoded once and each manipulation made once, then scored by every model."""
    sweeps = sweeps or ROBUSTNESS_SWEEPS
    points = [(family, value) for family, values in sweeps.items() for value in values]
    predictions = {(family, value, variant): [] for family, value in points for variant in models}
    for model in models.values():
        model.eval()
    for record in tqdm(records, desc=f"robustness ({len(points)} manipulations)", disable=not progress, leave=False):
        image, error = read_test_image(record, _centre_cropper(center_crop))
        views = [] if image is None else [image_views(manipulations.apply(image, family, value), tta) for family, value in points]
        for variant, model in models.items():
            probabilities = probabilities_by_item(model, views, tta.batch_size) if views else [None] * len(points)
            for (family, value), point_probabilities in zip(points, probabilities):
                predictions[(family, value, variant)].append(prediction_row(record, classes, point_probabilities, error))
    return pd.DataFrame([{"family": family, "value": float(value), "variant": variant, **_accuracy(rows)}
                         for (family, value, variant), rows in predictions.items()])


def crop_size(model, records, classes, sizes, transforms: str = "none", center_crop: int = 0, progress=True) -> pd.DataFrame:
    """Accuracy vs the side of one centre test crop (the model pools globally, so any size works);
    each image is decoded once for all sizes."""
    model.eval()
    records, images_per_pass = list(records), 16
    configs = {int(size): TTAConfig(crop=int(size), crops="center", transforms=transforms, batch_size=images_per_pass)
               for size in sizes}
    predictions = {size: [] for size in configs}
    with tqdm(total=len(records), desc=f"crop sizes {min(configs)}-{max(configs)}", disable=not progress, leave=False) as bar:
        for start in range(0, len(records), images_per_pass):
            block = [(record, *read_test_image(record, _centre_cropper(center_crop)))
                     for record in records[start:start + images_per_pass]]
            for size, tta in configs.items():
                predictions[size] += score_block(model, block, classes, tta)
            bar.update(len(block))
    return pd.DataFrame([{"crop": size, **_accuracy(rows)} for size, rows in predictions.items()])


def train_and_score(train_records, classes, config: TrainConfig, out_dir, test_records, tta: TTAConfig,
                    progress=True) -> dict:
    """Train (or resume) one model and score it on the test records with TTA."""
    result = train(train_records, classes, config, out_dir, progress=progress)
    metrics = accuracy_metrics(predict_records(result.model, test_records, classes, tta, progress=progress))
    metrics.pop("per_class", None)
    metrics["train_seconds"] = float(result.history.get("train_seconds", pd.Series(dtype=float)).sum())
    return metrics


def main_epoch_images(train_records, config: TrainConfig) -> int:
    """Images per epoch of a model trained on all of `train_records` (those left after its validation split)."""
    return config.images_per_epoch or len(stratified_split(train_records, config.val_fraction, config.seed)[0])


def study_model_dir(root, config: TrainConfig, images_per_class: int | None = None) -> str:
    """One folder per (arch, weights, subset): studies that need the same model share its training."""
    weights = config.weights if config.weights in ("imagenet", "none") else "file"
    return f"{root}/{config.arch}-{weights}-n{images_per_class or 'all'}"


def train_size(train_records, classes, config: TrainConfig, counts, out_dir, test_records, tta, progress=True) -> pd.DataFrame:
    """Accuracy vs number of training images per class. Every model gets the same compute: each epoch
    draws as many images as an epoch on the full training set (small subsets are repeated, augmented anew)."""
    rows = []
    available = min(sum(r.camera == c for r in train_records) for c in classes)
    fixed_compute = replace(config, images_per_epoch=main_epoch_images(train_records, config))
    for count in sorted({min(int(c), available) for c in counts}):
        subset = per_class_subset(train_records, count)
        folder = study_model_dir(out_dir, fixed_compute, None if count == available else count)
        metrics = train_and_score(subset, classes, fixed_compute, folder, test_records, tta, progress)
        rows.append({"images_per_class": count, **metrics})
    return pd.DataFrame(rows)


def architectures(train_records, classes, config: TrainConfig, variants, out_dir, test_records, tta, progress=True) -> pd.DataFrame:
    """Accuracy of each 'arch:weights' variant (e.g. efficientnet_lite0:imagenet vs efficientnet_lite0:none)."""
    rows = []
    for variant in variants:
        arch, _, weights = variant.partition(":")
        variant_config = replace(config, arch=arch, weights=weights or "none",
                                 images_per_epoch=main_epoch_images(train_records, config))
        label = f"{arch} ({'ImageNet' if weights == 'imagenet' else 'scratch' if weights in ('', 'none') else weights})"
        metrics = train_and_score(train_records, classes, variant_config, study_model_dir(out_dir, variant_config),
                                  test_records, tta, progress)
        rows.append({"variant": label, "arch": arch, "weights": weights or "none", **metrics})
    return pd.DataFrame(rows)
