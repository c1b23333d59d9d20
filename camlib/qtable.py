"""JPEG quantisation-table lookup: the camera whose training photos were saved with the test photo's tables.

The tables are set by the camera's firmware (and its quality setting), so they are the first thing a
metadata-aware examiner compares. They are read from the file header alone: no pixel is decoded. Some
firmwares (e.g. the Nikon D70/D70s) scale their tables per photo to hit a file size, so an exact match
is not guaranteed even for the same camera; those photos go to the nearest table set seen in training.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from PIL import Image

from .io import ImageReadError, read_info

NO_TABLES = "no JPEG quantisation tables"

Tables = tuple[tuple[int, tuple[int, ...]], ...]  # ((table id, its 64 entries in the order Pillow gives), ...)


def read_qtables(path) -> Tables:
    """The quantisation tables of a JPEG file, sorted by table id; ImageReadError('path: reason') otherwise."""
    info = read_info(path)  # never raises; gives the same one-line reason read_image would
    if info.error:
        raise ImageReadError(path, info.error)
    if info.format not in ("JPEG", "MPO"):
        raise ImageReadError(path, NO_TABLES)
    try:
        with Image.open(path) as image:
            tables = getattr(image, "quantization", None) or {}
    except Exception as exc:  # the header parsed once already; this is a file changed under us
        raise ImageReadError(path, f"cannot read header: {exc}") from None
    if not tables:
        raise ImageReadError(path, NO_TABLES)
    return tuple((int(key), tuple(int(v) for v in tables[key])) for key in sorted(tables))


def qtable_fingerprint(tables: Tables) -> str:
    """A stable 16-hex-digit name of a table set (same tables, same name, across runs and machines)."""
    text = ";".join(f"{key}:" + ",".join(map(str, values)) for key, values in tables)
    return hashlib.sha1(text.encode("ascii")).hexdigest()[:16]


def shared_with_training(train_records, test_records) -> dict[str, tuple[int, int]]:
    """{camera: (test photos whose tables occur among the camera's training photos, its readable test photos)}: where a
    test device saved its photos at other quality settings, its JPEG trace is not the one learned from training."""
    def fingerprints(records) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for record in records:
            try:
                found.setdefault(record.camera, []).append(qtable_fingerprint(read_qtables(record.path)))
            except ImageReadError:
                continue
        return found

    trained = {camera: set(keys) for camera, keys in fingerprints(train_records).items()}
    return {camera: (sum(key in trained.get(camera, set()) for key in keys), len(keys))
            for camera, keys in sorted(fingerprints(test_records).items())}


def table_distance(a: Tables, b: Tables) -> float:
    """Mean absolute difference of the entries of the tables both sets have (same id); inf if none."""
    b_by_id = dict(b)
    common = [(np.asarray(values), np.asarray(b_by_id[key])) for key, values in a
              if key in b_by_id and len(values) == len(b_by_id[key])]
    if not common:
        return float("inf")
    return float(np.mean(np.concatenate([np.abs(x - y) for x, y in common])))


@dataclass
class QTableModel:
    """Which table sets each training camera used, and how often."""

    classes: list[str]
    tables: dict[str, Tables] = field(default_factory=dict)  # fingerprint -> the tables
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # fingerprint -> {camera: training photos}
    skipped: list[tuple[str, str]] = field(default_factory=list)  # training files without tables: (path, reason)


def fit_qtables(train_records, classes) -> QTableModel:
    """Count the table sets of each camera's training photos; files without tables are skipped and listed."""
    model = QTableModel(classes=list(classes))
    for record in train_records:
        if record.camera not in model.classes:
            continue
        try:
            tables = read_qtables(record.path)
        except ImageReadError as exc:
            model.skipped.append((record.path, exc.reason))
            continue
        key = qtable_fingerprint(tables)
        model.tables[key] = tables
        per_camera = model.counts.setdefault(key, {})
        per_camera[record.camera] = per_camera.get(record.camera, 0) + 1
    if not model.tables:
        raise ValueError("fit_qtables: no training photo has JPEG quantisation tables")
    return model


def _probabilities(model: QTableModel, keys) -> np.ndarray:
    """Share of the training photos with any of the table sets `keys`, per class."""
    counts = np.zeros(len(model.classes))
    for key in keys:
        for camera, count in model.counts[key].items():
            counts[model.classes.index(camera)] += count
    return counts / counts.sum()


def predict_qtable(model: QTableModel, tables: Tables) -> tuple[np.ndarray, str, float]:
    """(class probabilities, 'exact' or 'nearest', mean absolute table difference) for one table set.
    Nearest: every training table set at the smallest distance votes with its photo counts."""
    key = qtable_fingerprint(tables)
    if key in model.counts:
        return _probabilities(model, [key]), "exact", 0.0
    distances = {other: table_distance(tables, known) for other, known in model.tables.items()}
    best = min(distances.values())
    if not np.isfinite(best):
        raise ValueError("no table id in common with any training photo")
    return _probabilities(model, [k for k, d in distances.items() if d == best]), "nearest", best


def predict_qtables(model: QTableModel, records) -> pd.DataFrame:
    """One row per record: path, camera, manipulation, pred, confidence, error, match ('exact', 'nearest', or '' for
    an image that could not be scored), qtable, qtable_distance, p_<class>. A tie between classes goes to the first
    in `model.classes`; its confidence (1/k) shows it."""
    records = list(records)
    rows, probabilities = [], np.full((len(records), len(model.classes)), np.nan)
    for index, record in enumerate(records):
        row = dict(path=record.path, camera=record.camera, manipulation=record.manipulation, pred=None,
                   confidence=np.nan, error="", match="", qtable="", qtable_distance=np.nan)
        try:
            tables = read_qtables(record.path)
            probabilities[index], row["match"], row["qtable_distance"] = predict_qtable(model, tables)
            row["qtable"] = qtable_fingerprint(tables)
        except ImageReadError as exc:
            row["error"] = exc.reason
        except ValueError as exc:
            row["error"] = str(exc)
        if not row["error"]:
            best = int(np.argmax(probabilities[index]))
            row["pred"], row["confidence"] = model.classes[best], float(probabilities[index, best])
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["path", "camera", "manipulation", "pred", "confidence", "error", "match",
                                        "qtable", "qtable_distance"])
    for k, name in enumerate(model.classes):
        frame[f"p_{name}"] = probabilities[:, k]
    return frame
