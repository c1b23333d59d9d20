"""PRNU sensor fingerprints: which DEVICE (one physical camera, not a model) took a photo.

Each sensor's pixels differ slightly in sensitivity (photo-response non-uniformity, K), so a photo is
I = I0 (1 + K) + noise. The noise residual W = I - denoise(I) keeps I0 K; the maximum-likelihood estimate
from a device's photos is K = sum(W I) / sum(I^2) (Chen, Fridrich, Goljan, Lukas 2008). A test photo matches
a device when its residual correlates with I K. Because K belongs to one sensor, a fingerprint of one D70
says nothing about another D70: on a device-wise split (train on device 0, test on device 1) PRNU cannot
name the model, and a strong match there means the same sensor is on both sides of the split.

Residuals follow the prnu-python reference (Bondi et al.) with its wavelet denoiser replaced by the same
local-variance Wiener shrinkage applied to a Gaussian high-pass (pywavelets is not a dependency), then
zero-mean rows and columns per CFA phase and a Wiener flattening of the spectrum. Everything works on a
grayscale centre crop (default 512 px) of the stored pixel grid (read_image ignores EXIF rotation, so a
photo's pixels stay where the sensor put them; a photo stored rotated will not match its own device).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import cv2
import numpy as np
import pandas as pd

from .io import ImageReadError, read_image

CROP = 512
NOISE_SIGMA = 3.0  # assumed std of the sensor noise in grey levels (prnu-python's default)
WINDOWS = (3, 5, 7, 9)  # local-variance windows of the Wiener shrinkage; the smallest estimate wins
SATURATION = 250  # pixels at or above this carry no PRNU (clipped); they are left out of the estimate


def center_gray(image: np.ndarray, crop: int = CROP) -> np.ndarray:
    """The central crop x crop pixels of an HxWx3 (RGB) or HxW image, as float32 grey levels 0-255."""
    height, width = image.shape[:2]
    if min(height, width) < crop:
        raise ValueError(f"{width}x{height} is smaller than the {crop}px PRNU crop")
    top, left = (height - crop) // 2 & ~1, (width - crop) // 2 & ~1  # even offsets keep the CFA phase
    region = image[top:top + crop, left:left + crop].astype(np.float32)
    # in float: rounding the grey level to an integer would add noise as large as a weak PRNU
    return region @ np.array([0.299, 0.587, 0.114], dtype=np.float32) if region.ndim == 3 else region


def wiener_shrink(values: np.ndarray, noise_var: float) -> np.ndarray:
    """The noise part of zero-mean `values`: values * s^2 / (local variance + s^2), the local variance the
    smallest of the windowed estimates (Mihcak et al.), so edges and texture are suppressed."""
    energy = values.astype(np.float32) ** 2
    local = np.min([cv2.blur(energy, (w, w), borderType=cv2.BORDER_REFLECT) for w in WINDOWS], axis=0)
    return values * noise_var / (np.maximum(local - noise_var, 0) + noise_var)


def zero_mean_rows_columns(residual: np.ndarray) -> np.ndarray:
    """Remove row and column means on each of the four 2x2 CFA phases (linear patterns shared by a model's
    sensors, from readout and demosaicing, that would otherwise match across devices)."""
    out = residual.astype(np.float32, copy=True)
    for dy in (0, 1):
        for dx in (0, 1):
            phase = out[dy::2, dx::2]
            phase -= phase.mean()
            phase -= phase.mean(axis=1, keepdims=True)
            phase -= phase.mean(axis=0, keepdims=True)
    return out


def wiener_spectrum(residual: np.ndarray) -> np.ndarray:
    """Flatten the spectrum: keep the noise-like part of each frequency's magnitude, suppressing the peaks
    (periodic JPEG and demosaicing artefacts) that are not sensor noise."""
    spectrum = np.fft.fft2(residual)
    magnitude = np.abs(spectrum) / np.sqrt(residual.size)
    kept = wiener_shrink(magnitude.astype(np.float32), float(residual.var()))
    ratio = np.divide(kept, magnitude, out=np.zeros_like(magnitude), where=magnitude > 0)
    return np.real(np.fft.ifft2(spectrum * ratio)).astype(np.float32)


def noise_residual(gray: np.ndarray, sigma: float = NOISE_SIGMA) -> np.ndarray:
    """W = I - denoise(I) of a float grayscale image, cleaned of non-unique patterns."""
    high_pass = gray - cv2.GaussianBlur(gray, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT)
    return wiener_spectrum(zero_mean_rows_columns(wiener_shrink(high_pass, sigma ** 2)))


def fingerprint(images, crop: int = CROP) -> np.ndarray:
    """K = sum(W I) / sum(I^2) over a device's photos (HxWx3 RGB or HxW grey arrays; their centre crops)."""
    numerator = denominator = None
    for image in images:
        gray = center_gray(image, crop)
        weight = np.where(gray < SATURATION, gray, 0).astype(np.float32)
        term = noise_residual(gray) * weight
        numerator = term if numerator is None else numerator + term
        denominator = weight ** 2 if denominator is None else denominator + weight ** 2
    if numerator is None or denominator is None:
        raise ValueError("fingerprint needs at least one image")
    estimate = numerator / np.maximum(denominator, 1.0)
    return wiener_spectrum(zero_mean_rows_columns(estimate))


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation at zero shift (Pearson's r of the two arrays)."""
    a, b = a - a.mean(), b - b.mean()
    scale = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / scale) if scale > 0 else 0.0


def pce(residual: np.ndarray, pattern: np.ndarray, exclude: int = 5) -> float:
    """Peak-to-correlation energy at zero shift: squared correlation at (0, 0) over the mean squared
    correlation away from it (a window of `exclude` px around the peak left out). Over 60 is the usual
    threshold for a match."""
    a, b = residual - residual.mean(), pattern - pattern.mean()
    cross = np.real(np.fft.ifft2(np.fft.fft2(a) * np.conj(np.fft.fft2(b))))
    peak = cross[0, 0]
    shifted = np.fft.fftshift(cross)
    cy, cx = np.array(shifted.shape) // 2
    mask = np.ones(shifted.shape, dtype=bool)
    mask[cy - exclude:cy + exclude + 1, cx - exclude:cx + exclude + 1] = False
    return float(np.sign(peak) * peak ** 2 / np.mean(shifted[mask] ** 2))


def device_scores(image: np.ndarray, fingerprints: dict, crop: int = CROP) -> tuple[dict[str, float], float]:
    """({device: correlation of the image's residual W with I K}, PCE of W with the best device's I K)."""
    gray = center_gray(image, crop)
    residual = noise_residual(gray)
    scores = {device: correlation(residual, gray * pattern) for device, pattern in fingerprints.items()}
    best = max(scores, key=scores.__getitem__)
    return scores, pce(residual, gray * fingerprints[best])


@dataclass
class PrnuModel:
    """Fingerprints of the training devices, named '<camera>/<device>'."""

    fingerprints: dict[str, np.ndarray]
    device_to_camera: dict[str, str]
    crop: int = CROP
    photos: dict[str, int] = field(default_factory=dict)  # training photos per device
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) of unusable training photos


def fit_prnu(train_records, crop: int = CROP) -> PrnuModel:
    """One fingerprint per (camera, device) of the training records; unreadable photos are skipped and listed.
    Photos with no device go into '<camera>/?' (then the fingerprint mixes sensors and is weak)."""
    by_device: dict[str, list] = defaultdict(list)
    skipped = []
    for record in train_records:
        try:
            image = read_image(record.path, min_size=crop)
        except ImageReadError as exc:
            skipped.append((record.path, exc.reason))
            continue
        # keep only the grey crop: the full frames of a device would not fit in memory
        device = f"{record.camera}/{record.device if record.device is not None else '?'}"
        by_device[device].append(center_gray(image, crop))
    if not by_device:
        raise ValueError(f"fit_prnu: no usable training photo ({len(skipped)} skipped)")
    fingerprints = {device: fingerprint(crops, crop) for device, crops in sorted(by_device.items())}
    return PrnuModel(fingerprints, {device: device.rsplit("/", 1)[0] for device in fingerprints}, crop,
                     {device: len(crops) for device, crops in sorted(by_device.items())}, skipped)


def predict_prnu(fingerprints_by_device: dict, device_to_camera: dict, classes, records, crop: int = CROP) -> pd.DataFrame:
    """One row per record: path, camera, manipulation, pred, confidence, error, prnu_device, prnu_score,
    prnu_pce, p_<class>.

    prnu_score is the correlation with the best-matching device (near 0: no known sensor) and prnu_pce its
    PCE (over 60: the usual threshold for a match). A camera's score is the best correlation among its
    devices; the probabilities are a softmax of those as z-values (correlation x sqrt(pixels), about N(0, 1)
    for a photo of another sensor). They are not calibrated: on the Dresden Nikon sample the z-values of
    other sensors' photos spread 1.35x wider than N(0, 1), so a 0.99 can be a photo of no known device."""
    classes, records = list(classes), list(records)
    if not fingerprints_by_device:
        raise ValueError("predict_prnu: no device fingerprint given")
    unmapped = sorted(set(fingerprints_by_device) - set(device_to_camera))
    if unmapped:
        raise ValueError(f"device_to_camera has no camera for device {unmapped[0]} ({len(unmapped)} such devices)")
    unknown = sorted({device_to_camera[d] for d in fingerprints_by_device} - set(classes))
    if unknown:
        raise ValueError(f"device_to_camera names cameras outside classes: {', '.join(unknown)}")
    probabilities = np.full((len(records), len(classes)), np.nan)
    rows = []
    for index, record in enumerate(records):
        row = dict(path=record.path, camera=record.camera, manipulation=record.manipulation, pred=None,
                   confidence=np.nan, error="", prnu_device="", prnu_score=np.nan, prnu_pce=np.nan)
        try:
            scores, row["prnu_pce"] = device_scores(read_image(record.path, min_size=crop), fingerprints_by_device, crop)
        except ImageReadError as exc:
            row["error"] = exc.reason
            rows.append(row)
            continue
        per_class = np.full(len(classes), -np.inf)
        for device, score in scores.items():
            k = classes.index(device_to_camera[device])
            per_class[k] = max(per_class[k], score)
        z = np.where(np.isfinite(per_class), per_class * crop, -np.inf)  # sqrt(crop^2) pixels
        weights = np.exp(z - z.max())
        probabilities[index] = weights / weights.sum()
        best = int(np.argmax(probabilities[index]))
        row["prnu_device"] = max(scores, key=scores.__getitem__)
        row.update(pred=classes[best], confidence=float(probabilities[index, best]), prnu_score=scores[row["prnu_device"]])
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["path", "camera", "manipulation", "pred", "confidence", "error",
                                        "prnu_device", "prnu_score", "prnu_pce"])
    for k, name in enumerate(classes):
        frame[f"p_{name}"] = probabilities[:, k]
    return frame
