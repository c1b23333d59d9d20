"""TTA prediction (crops x D4, softmax averaged over views) and submission files."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from .choices import CROP_MODES, TRANSFORM_MODES
from .io import ImageReadError, read_image
from .runs import atomic_write_text

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
    height, width = image.shape[:2]
    boxes = crop_boxes(height, width, tta)
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
    height, width = views.shape[-2:]
    chunk_size = views_per_pass(batch_size, height, width, device)
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


def predict_records(model, records, classes, tta: TTAConfig, manipulate=None, progress=True, desc="TTA",
                    view_subsets: dict | None = None):
    """One row per record: true camera, prediction, confidence, crop-level accuracy, p_<class>, error.

    `manipulate(image) -> image`, when given, is applied after decoding (robustness study). Images with
    few views (e.g. five crops) share forward passes, up to `tta.batch_size` views each. With
    `view_subsets` ({name: number of leading views, None = all}) the same forward passes give one table per
    subset, as a dict: e.g. {'flip': None, 'crops only': n_crops} (the first n_crops views are unflipped)."""
    model.eval()
    records = list(records)
    subsets = view_subsets or {"": None}
    images_per_pass = 1 if tta.crops == "full" else max(1, tta.batch_size // tta.views_per_image)
    rows: dict[str, list] = {name: [] for name in subsets}
    with tqdm(total=len(records), desc=desc, disable=not progress, leave=False) as bar:
        for start in range(0, len(records), images_per_pass):
            block = [(record, *read_test_image(record, manipulate)) for record in records[start:start + images_per_pass]]
            for name, block_rows in score_block(model, block, classes, tta, subsets).items():
                rows[name] += block_rows
            bar.update(len(block))
    tables = {name: pd.DataFrame(block_rows) for name, block_rows in rows.items()}
    return tables if view_subsets else tables[""]


def score_block(model, block, classes, tta: TTAConfig, subsets: dict | None = None) -> dict[str, list[dict]]:
    """Prediction rows of [(record, image or None, error)] per view subset ({name: leading views or None}),
    the readable images' views in shared forward passes."""
    subsets = subsets or {"": None}
    readable = [image_views(image, tta) for _, image, _ in block if image is not None]
    probabilities = probabilities_by_item(model, readable, tta.batch_size)
    out = {}
    for name, leading in subsets.items():
        views = iter(probabilities)
        out[name] = [prediction_row(record, classes, None if image is None else next(views)[:leading], error)
                     for record, image, error in block]
    return out


def identity_views(tta: TTAConfig) -> int:
    """How many of an image's TTA views are untransformed crops (they come first)."""
    return tta.views_per_image // TRANSFORM_MODES[tta.transforms]


def write_submission(predictions: pd.DataFrame, path) -> Path:
    """Kaggle submission CSV (fname,camera), written atomically."""
    table = predictions[predictions.error == ""][["fname", "pred"]].rename(columns={"pred": "camera"})
    return atomic_write_text(path, table.to_csv(index=False))


def write_predictions(predictions: pd.DataFrame, path) -> Path:
    """All columns (probabilities included), written atomically."""
    return atomic_write_text(path, predictions.to_csv(index=False))
