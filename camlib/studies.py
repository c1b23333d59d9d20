"""The studies of the original write-up as functions returning tidy DataFrames: robustness to each
manipulation, test crop size, training-set size and architectures (transfer vs scratch)."""
from __future__ import annotations

from dataclasses import replace
import pandas as pd

from . import manipulations
from .infer import TTAConfig, accuracy_metrics, predict_records
from .train import TrainConfig, train

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


def _manipulation(family: str, value: float, center_crop: int = 0):
    """image -> (optional centre crop, as the challenge's 512 test crops) -> manipulation."""
    def manipulate(image):
        if center_crop and min(image.shape[:2]) > center_crop:
            image = manipulations.center_crop(image, center_crop)
        return manipulations.apply(image, family, value)
    return manipulate


def robustness(models: dict, records, classes, tta: TTAConfig, sweeps=None, center_crop: int = 0, progress=True) -> pd.DataFrame:
    """Accuracy of each model variant on `records` after each manipulation value.

    models: {variant label: model}; records: unaltered test-device images (centre-cropped first when
    `center_crop` is set, so real full frames are manipulated like the challenge's 512 px crops)."""
    sweeps = sweeps or ROBUSTNESS_SWEEPS
    rows = []
    for family, values in sweeps.items():
        for value in values:
            for variant, model in models.items():
                predictions = predict_records(model, records, classes, tta,
                                              manipulate=_manipulation(family, value, center_crop),
                                              progress=progress, desc=f"{variant} {family}={value}")
                metrics = accuracy_metrics(predictions)
                rows.append({"family": family, "value": float(value), "variant": variant,
                             "accuracy": metrics.get("accuracy"), "n_images": metrics.get("n_images", 0)})
    return pd.DataFrame(rows)


def crop_size(model, records, classes, sizes, transforms: str = "none", center_crop: int = 0, progress=True) -> pd.DataFrame:
    """Accuracy vs the side of one centre test crop (the model pools globally, so any size works)."""
    rows = []
    for size in sizes:
        tta = TTAConfig(crop=int(size), crops="center", transforms=transforms, batch_size=16)
        metrics = accuracy_metrics(predict_records(model, records, classes, tta, manipulate=_manipulation("none", 0, center_crop),
                                                   progress=progress, desc=f"crop {size}"))
        rows.append({"crop": int(size), "accuracy": metrics.get("accuracy"), "n_images": metrics.get("n_images", 0)})
    return pd.DataFrame(rows)


def train_and_score(train_records, classes, config: TrainConfig, out_dir, test_records, tta: TTAConfig,
                    progress=True) -> dict:
    """Train (or resume) one model and score it on the test records with TTA."""
    result = train(train_records, classes, config, out_dir, progress=progress)
    metrics = accuracy_metrics(predict_records(result.model, test_records, classes, tta, progress=progress))
    metrics.pop("per_class", None)
    metrics["train_seconds"] = float(result.history.get("train_seconds", pd.Series(dtype=float)).sum())
    return metrics


def study_model_dir(root, config: TrainConfig, images_per_class: int | None = None) -> str:
    """One folder per (arch, weights, subset): studies that need the same model share its training."""
    weights = config.weights if config.weights in ("imagenet", "none") else "file"
    return f"{root}/{config.arch}-{weights}-n{images_per_class or 'all'}"


def train_size(train_records, classes, config: TrainConfig, counts, out_dir, test_records, tta, progress=True) -> pd.DataFrame:
    """Accuracy vs number of training images per class. Every model gets the same compute: each epoch
    draws as many images as the full training set has (small subsets are repeated, augmented anew)."""
    rows = []
    available = min(sum(r.camera == c for r in train_records) for c in classes)
    fixed_compute = replace(config, images_per_epoch=config.images_per_epoch or len(train_records))
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
                                 images_per_epoch=config.images_per_epoch or len(train_records))
        label = f"{arch} ({'ImageNet' if weights == 'imagenet' else 'scratch' if weights in ('', 'none') else weights})"
        metrics = train_and_score(train_records, classes, variant_config, study_model_dir(out_dir, variant_config),
                                  test_records, tta, progress)
        rows.append({"variant": label, "arch": arch, "weights": weights or "none", **metrics})
    return pd.DataFrame(rows)
