"""Data exploration tables: per-image header facts and per-camera noise-residual statistics."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.ndimage import median_filter
from tqdm import tqdm

from .io import ImageReadError, read_image, read_info


def image_table(records, progress=True) -> pd.DataFrame:
    """One row per record: split, camera, format, size, EXIF make/model/software, JPEG quality, error."""
    rows = []
    for record in tqdm(records, desc="headers", disable=not progress, leave=False):
        info = read_info(record.path)
        rows.append({"path": record.path, "camera": record.camera, "device": record.device, "split": record.split,
                     "manipulation": record.manipulation, "format": info.format, "width": info.width,
                     "height": info.height, "megapixels": (info.width or 0) * (info.height or 0) / 1e6,
                     "make": info.make, "model": info.model, "software": info.software,
                     "jpeg_quality": info.jpeg_quality, "error": info.error or "",
                     "scene": getattr(record, "scene", None)})
    return pd.DataFrame(rows)


def noise_residual(image: np.ndarray) -> np.ndarray:
    """Image minus its 3x3 median-filtered version, per channel (float32): the camera's noise traces."""
    pixels = image.astype(np.float32)
    return pixels - median_filter(pixels, size=(3, 3, 1))


def residual_stats(records, crop: int = 256, per_camera: int = 8, progress=True) -> pd.DataFrame:
    """Residual statistics of a centre crop of up to `per_camera` images per camera."""
    rows: list[dict] = []
    counts: dict[str, int] = {}
    for record in tqdm(records, desc="residuals", disable=not progress, leave=False):
        if counts.get(record.camera, 0) >= per_camera:
            continue
        try:
            image = read_image(record.path)
        except ImageReadError:
            continue
        height, width = image.shape[:2]
        top, left = max(0, (height - crop) // 2), max(0, (width - crop) // 2)
        residual = noise_residual(image[top:top + crop, left:left + crop])
        flat = residual.reshape(-1, 3)
        corr = np.corrcoef(flat.T)
        counts[record.camera] = counts.get(record.camera, 0) + 1
        rows.append({"camera": record.camera, "path": record.path,
                     "residual_std_R": float(flat[:, 0].std()), "residual_std_G": float(flat[:, 1].std()),
                     "residual_std_B": float(flat[:, 2].std()),
                     "corr_RG": float(corr[0, 1]), "corr_GB": float(corr[1, 2]), "corr_RB": float(corr[0, 2])})
    return pd.DataFrame(rows)
