"""Transductive pseudo-labelling: confident test predictions become training labels for a short fine-tune."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .datasets import Record
from .stats import Estimate, wilson
from .train import TrainConfig, TrainResult, load_checkpoint, train

PSEUDO_DEVICE = "pseudo-label"  # the device of a pseudo-labelled record: its label is a prediction
REQUIRED_COLUMNS = ("path", "camera", "manipulation", "pred", "confidence", "error")


@dataclass
class PseudoLabels:
    """Test photos relabelled with their predicted camera, their true cameras, and how often the labels are right."""

    records: list[Record]  # camera = the predicted camera, split 'train'
    true_cameras: list[str | None]  # per record, its real camera (None when unknown)
    accuracy: Estimate | None  # share of pseudo-labels that are right (Wilson), over records with a known camera


def confident_records(predictions: pd.DataFrame, threshold: float) -> PseudoLabels:
    """Rows of a `predict_records` table (test photos) read without error and predicted with
    confidence >= threshold, as training records labelled with the predicted camera."""
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a probability in [0, 1], got {threshold}")
    missing = [c for c in REQUIRED_COLUMNS if c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions table lacks the column(s) {', '.join(missing)} (expected a predict_records table)")
    errors = predictions.error.fillna("").astype(str)
    chosen = predictions[(errors == "") & predictions.pred.notna() & (predictions.confidence >= threshold)]
    records, true_cameras = [], []
    for row in chosen.itertuples(index=False):
        manipulation = None if pd.isna(row.manipulation) else row.manipulation
        records.append(Record(str(row.path), str(row.pred), PSEUDO_DEVICE, "train", manipulation))
        true_cameras.append(None if pd.isna(row.camera) else str(row.camera))
    labelled = [(record.camera, truth) for record, truth in zip(records, true_cameras) if truth is not None]
    accuracy = None
    if labelled:
        right = sum(predicted == truth for predicted, truth in labelled)
        low, high = wilson(right, len(labelled))
        accuracy = Estimate(value=right / len(labelled), low=low, high=high, n_images=len(labelled), method="wilson")
    return PseudoLabels(records, true_cameras, accuracy)


def fine_tune(checkpoint, train_records, pseudo_records, classes, config: TrainConfig, out_dir,
              progress: bool = False) -> TrainResult:
    """Continue training the checkpoint's model on the training records plus the pseudo-labelled test records.

    `config` sets the short schedule (epochs, lr, crop, ...); the model starts from the checkpoint's weights,
    head included (`TrainConfig.init_checkpoint`). The held-out validation part (`config.val_fraction`) is
    drawn from both sets of records, pseudo-labels included."""
    payload = load_checkpoint(checkpoint)
    model_config = payload["model_config"]
    if list(model_config["classes"]) != list(classes):
        raise ValueError(f"{checkpoint}: trained for classes {model_config['classes']}, but classes is {list(classes)}")
    outside = sorted({r.camera for r in pseudo_records} - set(classes))
    if outside:
        raise ValueError(f"pseudo_records have cameras outside the class list: {outside}")
    out_dir = Path(out_dir)
    tuned = dataclasses.replace(config, arch=model_config["arch"], weights="none", init_checkpoint=str(checkpoint))
    return train(list(train_records) + list(pseudo_records), classes, tuned, out_dir, progress=progress)
