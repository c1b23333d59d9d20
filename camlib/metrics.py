"""Point metrics of predictions: the challenge's weighted accuracy, accuracy per half and per class, confusion."""
from __future__ import annotations

import numpy as np
import pandas as pd

UNALTERED_WEIGHT, MANIPULATED_WEIGHT = 0.7, 0.3  # the challenge's weighting of its two test halves


def image_weights(manipulated) -> np.ndarray:
    """Per-image weights of the challenge metric: 0.7 for unaltered, 0.3 for manipulated images."""
    return np.where(np.asarray(manipulated, dtype=bool), MANIPULATED_WEIGHT, UNALTERED_WEIGHT)


def weighted_accuracy(correct, manipulated) -> float:
    """The challenge metric: per-image weights 0.7 (unaltered) and 0.3 (manipulated), normalised.

    With as many manipulated as unaltered images this equals 0.7 * acc_unalt + 0.3 * acc_manip."""
    correct = np.asarray(correct, dtype=float)
    if correct.size == 0:
        return float("nan")
    weights = image_weights(manipulated)
    return float((weights * correct).sum() / weights.sum())


def majority_chance(labels) -> float:
    """Chance level of a set of scored images: the share of its most frequent true label, i.e. the accuracy of
    always giving that answer (nan for no labels; None and NaN labels are not scored).

    With balanced classes this is one over the number of classes; with unbalanced ones 1/classes would flatter a
    model (the manipulation families of the challenge's test set: resize is 4 of the 8 operations)."""
    counts = pd.Series(list(labels), dtype=object).dropna().value_counts()
    return float(counts.iloc[0] / counts.sum()) if len(counts) else float("nan")


def is_manipulated(manipulation) -> np.ndarray:
    """True where a test image's manipulation label is not 'unalt' (None counts as unaltered)."""
    return pd.Series(manipulation, dtype=object).fillna("unalt").ne("unalt").to_numpy()


def scored_rows(predictions: pd.DataFrame) -> pd.DataFrame:
    """The prediction rows that can be scored: a known camera and no read error."""
    return predictions[predictions.camera.notna() & (predictions.error == "")]


def accuracy_metrics(predictions: pd.DataFrame) -> dict:
    """Accuracy overall, on unaltered and manipulated images, weighted, per class; crop-level too.

    Crop-level accuracy: the share of single TTA views (crops) whose own prediction is right, before averaging."""
    scored = scored_rows(predictions)
    if scored.empty:
        return {"n_images": 0}
    correct = (scored.pred == scored.camera).to_numpy()
    manipulated = is_manipulated(scored.manipulation)

    def mean_or_nan(values):
        return float(np.mean(values)) if len(values) else float("nan")

    crop_accuracy = scored.crop_accuracy.dropna() if "crop_accuracy" in scored else []
    return {
        "n_images": int(len(scored)),
        "accuracy": mean_or_nan(correct),
        "accuracy_unalt": mean_or_nan(correct[~manipulated]),
        "accuracy_manip": mean_or_nan(correct[manipulated]),
        "weighted_accuracy": weighted_accuracy(correct, manipulated),
        "crop_accuracy": mean_or_nan(crop_accuracy),
        "per_class": {camera: float(group_correct.mean()) for camera, group_correct in
                      pd.Series(correct, index=scored.camera.to_numpy()).groupby(level=0)},
    }


def confusion(predictions: pd.DataFrame, classes) -> pd.DataFrame:
    """Confusion matrix (rows: true camera, columns: predicted), counts."""
    scored = scored_rows(predictions)
    table = pd.crosstab(pd.Categorical(scored.camera, classes), pd.Categorical(scored.pred, classes), dropna=False)
    table.index.name, table.columns.name = "true", "predicted"
    return table
