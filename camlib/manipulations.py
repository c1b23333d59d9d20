"""The challenge's manipulations as pure functions on uint8 RGB arrays: JPEG, gamma, resize."""
from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}

# The 8 operations of the Kaggle test set, by the names used in test_labels.csv.
CHALLENGE_MANIPULATIONS = {
    "jpg70": ("jpeg", 70), "jpg90": ("jpeg", 90),
    "resize0.5": ("resize", 0.5), "resize0.8": ("resize", 0.8),
    "resize1.5": ("resize", 1.5), "resize2.0": ("resize", 2.0),
    "gamma0.8": ("gamma", 0.8), "gamma1.2": ("gamma", 1.2),
}


def jpeg_bytes(image: np.ndarray, quality: int, subsampling: int = 2, **save_kw) -> bytes:
    """Encode uint8 RGB with libjpeg's standard tables scaled to `quality` (subsampling 0=4:4:4, 2=4:2:0)."""
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality), subsampling=subsampling, **save_kw)
    return buffer.getvalue()


def jpeg(image: np.ndarray, quality: int, subsampling: int = 2) -> np.ndarray:
    """Compress and decompress in memory: the JPEG round trip of the challenge (q70, q90)."""
    with Image.open(io.BytesIO(jpeg_bytes(image, quality, subsampling))) as decoded:
        return np.asarray(decoded.convert("RGB"))


def gamma(image: np.ndarray, gamma_value: float) -> np.ndarray:
    """Gamma correction out = 255 * (in / 255) ** gamma_value, rounded (challenge: 0.8, 1.2)."""
    if gamma_value <= 0:
        raise ValueError(f"gamma must be positive, got {gamma_value}")
    lut = np.clip(np.round(255.0 * (np.arange(256) / 255.0) ** gamma_value), 0, 255).astype(np.uint8)
    return lut[image]


def resize(image: np.ndarray, factor: float, interpolation: str = "bicubic") -> np.ndarray:
    """Rescale both sides by `factor` (rounded to whole pixels) with the named interpolation."""
    if factor <= 0:
        raise ValueError(f"resize factor must be positive, got {factor}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {interpolation!r}; choose from {sorted(INTERPOLATIONS)}")
    height, width = image.shape[:2]
    size = (max(1, int(round(width * factor))), max(1, int(round(height * factor))))
    return cv2.resize(image, size, interpolation=INTERPOLATIONS[interpolation])


def apply(image: np.ndarray, family: str, value: float) -> np.ndarray:
    """Apply one manipulation by family name ('jpeg', 'gamma', 'resize', 'none')."""
    if family == "none":
        return image
    if family == "jpeg":
        return jpeg(image, int(value))
    if family == "gamma":
        return gamma(image, float(value))
    if family == "resize":
        return resize(image, float(value))
    raise ValueError(f"unknown manipulation family {family!r}; choose jpeg, gamma, resize or none")


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central size x size window (the challenge's 512 test crops)."""
    height, width = image.shape[:2]
    if height < size or width < size:
        raise ValueError(f"image {width}x{height} is smaller than the {size}x{size} crop")
    top, left = (height - size) // 2, (width - size) // 2
    return image[top:top + size, left:left + size]


def challenge_manipulation(image: np.ndarray, name: str) -> np.ndarray:
    """Apply one of the 8 challenge operations by its test_labels name (e.g. 'jpg70', 'resize0.5')."""
    if name not in CHALLENGE_MANIPULATIONS:
        raise ValueError(f"unknown challenge manipulation {name!r}; choose from {list(CHALLENGE_MANIPULATIONS)}")
    family, value = CHALLENGE_MANIPULATIONS[name]
    return apply(image, family, value)
