"""TTA prediction (crops x D4, softmax averaged), metrics (weighted accuracy) and submission files."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from .io import ImageReadError, read_image
from .runs import atomic_write_text

CROP_MODES = ("center", "five", "grid", "full")
TRANSFORM_MODES = {"none": 1, "flip": 2, "d4": 8}
UNALTERED_WEIGHT, MANIPULATED_WEIGHT = 0.7, 0.3  # the challenge's weighting of its two test halves
MIN_INPUT_SIZE = 32  # smaller images carry too few pixels for the networks' strided stems
CPU_PIXELS_PER_PASS = 32 * 96 * 96  # CPU forward passes: 32 views of 96 px, 18 of 128, 4 of 256, 1 of 384+


@dataclass
class TTAConfig:
    """Which crops and transforms of each test image are averaged."""

    crop: int = 480  # side of each crop (the training crop)
    crops: str = "five"  # 'center', 'five' (4 corners + centre), 'grid' (evenly spread tiles), 'full' (whole image)
    grid_size: int = 4  # tiles per side for crops='grid'
    transforms: str = "d4"  # 'none', 'flip' (identity + horizontal flip) or 'd4' (8 rotations/flips)
    batch_size: int = 32  # views per forward pass (on CPU, 32 is faster per view than 64)

    def __post_init__(self):
        if self.crops not in CROP_MODES:
            raise ValueError(f"unknown TTA crops {self.crops!r}; choose from {', '.join(CROP_MODES)}")
        if self.transforms not in TRANSFORM_MODES:
            raise ValueError(f"unknown TTA transforms {self.transforms!r}; choose from {', '.join(TRANSFORM_MODES)}")
        if self.crop < 8:
            raise ValueError(f"TTA crop must be at least 8 pixels, got {self.crop}")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def views_per_image(self) -> int:
        crops = {"center": 1, "five": 5, "grid": self.grid_size ** 2, "full": 1}[self.crops]
        return crops * TRANSFORM_MODES[self.transforms]


def crop_boxes(height: int, width: int, tta: TTAConfig) -> list[tuple[int, int, int]]:
    """(top, left, side) of every TTA crop; images smaller than the crop are used whole."""
    side = min(tta.crop, height, width)
    if tta.crops == "full":
        return [(0, 0, -1)]
    center = ((height - side) // 2, (width - side) // 2, side)
    if tta.crops == "center":
        return [center]
    if tta.crops == "five":
        return [(0, 0, side), (0, width - side, side), (height - side, 0, side), (height - side, width - side, side), center]
    tops = np.linspace(0, height - side, tta.grid_size).round().astype(int)
    lefts = np.linspace(0, width - side, tta.grid_size).round().astype(int)
    return [(int(t), int(l), side) for t in tops for l in lefts]


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float in [0, 1]."""
    # The NHWC layout is kept (channels_last strides): CPU and GPU convolutions run faster on it.
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)


def d4_views(batch: torch.Tensor, mode: str) -> torch.Tensor:
    """Stack the TTA transforms of (N, 3, H, W) along the batch: (N * k, 3, H, W)."""
    if mode == "none":
        return batch
    views = [batch, batch.flip(-1)]
    if mode == "d4":
        views = [torch.rot90(v, k, dims=(-2, -1)) for v in views for k in range(4)]
    return torch.cat(views)


def image_views(image: np.ndarray, tta: TTAConfig) -> torch.Tensor:
    """All TTA views of one HxWx3 uint8 image as a float tensor (V, 3, h, w)."""
    boxes = crop_boxes(*image.shape[:2], tta)
    if boxes == [(0, 0, -1)]:
        crops = image[None]
    else:
        crops = np.stack([image[t:t + s, l:l + s] for t, l, s in boxes])
    return d4_views(to_tensor(crops), tta.transforms)


def views_per_pass(batch_size: int, height: int, width: int, device) -> int:
    """Views per forward pass: `batch_size`, fewer on CPU for large views, where a big batch overflows the
    caches and costs more per view (lite0 on 2 cores: 16 views of 512 px 2.1x slower each than one)."""
    if torch.device(device).type == "cuda":
        return batch_size
    return max(1, min(batch_size, CPU_PIXELS_PER_PASS // (height * width)))


@torch.no_grad()
def view_probabilities(model, views: torch.Tensor, batch_size: int, device=None) -> torch.Tensor:
    """Softmax of the model over (V, 3, h, w) views, in chunks (see views_per_pass): (V, num_classes)."""
    device = device or next(model.parameters()).device
    chunk_size = views_per_pass(batch_size, *views.shape[-2:], device)
    outputs = []
    for start in range(0, len(views), chunk_size):
        chunk = views[start:start + chunk_size].to(device, non_blocking=True)
        if device.type == "cuda":
            chunk = chunk.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                logits = model(chunk)
        else:
            logits = model(chunk)
        outputs.append(torch.softmax(logits.float(), dim=1).cpu())
    return torch.cat(outputs)


def prediction_row(record, classes, probabilities: torch.Tensor | None = None, error: str = "") -> dict:
    """One row of predictions for `record` from its (V, C) view probabilities, or with its read error."""
    row = {"path": record.path, "fname": Path(record.path).name, "camera": record.camera,
           "manipulation": record.manipulation, "pred": None, "confidence": np.nan,
           "crop_accuracy": np.nan, "error": error}
    if probabilities is None:
        return row
    mean = probabilities.mean(0).numpy()
    row["pred"], row["confidence"] = classes[int(mean.argmax())], float(mean.max())
    if record.camera in classes:
        row["crop_accuracy"] = float((probabilities.argmax(1) == classes.index(record.camera)).float().mean())
    row.update({f"p_{name}": float(p) for name, p in zip(classes, mean)})
    return row


def read_test_image(record, transform=None) -> tuple[np.ndarray | None, str]:
    """(image, '') decoded and passed through `transform` when given, or (None, reason) for a bad file."""
    try:
        image = read_image(record.path, min_size=MIN_INPUT_SIZE)
        return (transform(image) if transform is not None else image), ""
    except ImageReadError as exc:
        return None, exc.reason


def probabilities_by_item(model, view_sets: list[torch.Tensor], batch_size: int) -> list[torch.Tensor]:
    """view_probabilities over the views of several items at once, so forward passes fill `batch_size`
    across items; one (V_i, C) tensor per item, in order. Items whose views differ in shape run apart."""
    out: list = [None] * len(view_sets)
    groups: dict[tuple, list[int]] = {}
    for index, views in enumerate(view_sets):
        groups.setdefault(tuple(views.shape[1:]), []).append(index)
    for indices in groups.values():
        probabilities = view_probabilities(model, torch.cat([view_sets[i] for i in indices]), batch_size)
        for index, part in zip(indices, probabilities.split([len(view_sets[i]) for i in indices])):
            out[index] = part
    return out


def predict_records(model, records, classes, tta: TTAConfig, manipulate=None, progress=True, desc="TTA") -> pd.DataFrame:
    """One row per record: true camera, prediction, confidence, crop-level accuracy, p_<class>, error.

    `manipulate(image) -> image`, when given, is applied after decoding (robustness study). Images with
    few views (e.g. five crops) share forward passes, up to `tta.batch_size` views each."""
    model.eval()
    records = list(records)
    images_per_pass = 1 if tta.crops == "full" else max(1, tta.batch_size // tta.views_per_image)
    rows = []
    with tqdm(total=len(records), desc=desc, disable=not progress, leave=False) as bar:
        for start in range(0, len(records), images_per_pass):
            block = [(record, *read_test_image(record, manipulate)) for record in records[start:start + images_per_pass]]
            rows += score_block(model, block, classes, tta)
            bar.update(len(block))
    return pd.DataFrame(rows)


def score_block(model, block, classes, tta: TTAConfig) -> list[dict]:
    """Prediction rows of [(record, image or None, error)], the readable images' views in shared passes."""
    readable = [image_views(image, tta) for _, image, _ in block if image is not None]
    probabilities = iter(probabilities_by_item(model, readable, tta.batch_size))
    return [prediction_row(record, classes, None if image is None else next(probabilities), error)
            for record, image, error in block]


def weighted_accuracy(correct, manipulated) -> float:
    """The challenge metric: per-image weights 0.7 (unaltered) and 0.3 (manipulated), normalised.

    With as many manipulated as unaltered images this equals 0.7 * acc_unalt + 0.3 * acc_manip."""
    correct, manipulated = np.asarray(correct, dtype=float), np.asarray(manipulated, dtype=bool)
    if correct.size == 0:
        return float("nan")
    weights = np.where(manipulated, MANIPULATED_WEIGHT, UNALTERED_WEIGHT)
    return float((weights * correct).sum() / weights.sum())


def accuracy_metrics(predictions: pd.DataFrame) -> dict:
    """Accuracy overall, on unaltered and manipulated images, weighted, per class; crop-level too."""
    scored = predictions[predictions.camera.notna() & (predictions.error == "")]
    if scored.empty:
        return {"n_images": 0}
    correct = (scored.pred == scored.camera).to_numpy()
    manipulated = scored.manipulation.fillna("unalt").ne("unalt").to_numpy()

    def mean_or_nan(values):
        return float(np.mean(values)) if len(values) else float("nan")

    return {
        "n_images": int(len(scored)),
        "accuracy": mean_or_nan(correct),
        "accuracy_unalt": mean_or_nan(correct[~manipulated]),
        "accuracy_manip": mean_or_nan(correct[manipulated]),
        "weighted_accuracy": weighted_accuracy(correct, manipulated),
        "crop_accuracy": mean_or_nan(scored.crop_accuracy.dropna()),
        "per_class": {camera: float(group_correct.mean()) for camera, group_correct in
                      pd.Series(correct, index=scored.camera.to_numpy()).groupby(level=0)},
    }


def confusion(predictions: pd.DataFrame, classes) -> pd.DataFrame:
    """Confusion matrix (rows: true camera, columns: predicted), counts."""
    scored = predictions[predictions.camera.notna() & (predictions.error == "")]
    table = pd.crosstab(pd.Categorical(scored.camera, classes), pd.Categorical(scored.pred, classes), dropna=False)
    table.index.name, table.columns.name = "true", "predicted"
    return table


def write_submission(predictions: pd.DataFrame, path) -> Path:
    """Kaggle submission CSV (fname,camera), written atomically."""
    table = predictions[predictions.error == ""][["fname", "pred"]].rename(columns={"pred": "camera"})
    return atomic_write_text(path, table.to_csv(index=False))


def write_predictions(predictions: pd.DataFrame, path) -> Path:
    """All columns (probabilities included), written atomically."""
    return atomic_write_text(path, predictions.to_csv(index=False))


def evaluate_test(model, records, classes, tta: TTAConfig, out_dir=None, progress: bool = True) -> dict:
    """Scores of the labelled test records with `tta` and with one centre crop (the TTA gain), as a
    JSON-ready dict; writes predictions.csv and submission.csv to `out_dir` when given."""
    predictions = predict_records(model, records, classes, tta, progress=progress)
    if out_dir is not None:
        write_predictions(predictions, Path(out_dir) / "predictions.csv")
        write_submission(predictions, Path(out_dir) / "submission.csv")
    single = TTAConfig(crop=tta.crop, crops="center", transforms="none", batch_size=tta.batch_size)
    single_crop = predict_records(model, records, classes, single, progress=progress)
    return {"tta": accuracy_metrics(predictions), "single_crop": accuracy_metrics(single_crop),
            "tta_config": tta.to_dict(), "confusion": confusion(predictions, list(classes)).to_dict()}
