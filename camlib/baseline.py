"""Classical baseline: noise-residual statistics of image crops fed to a gradient-boosted classifier."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.ensemble import HistGradientBoostingClassifier
from tqdm import tqdm

from .io import ImageReadError, read_image

CHANNELS = ("R", "G", "B")
FILTERS = ("median", "laplace")  # image - 3x3 median; 4-neighbour Laplacian (second derivative)
QUANTILES = (1, 5, 25, 50, 75, 95, 99)
STATS = ("mean", "std", *(f"q{q:02d}" for q in QUANTILES), "skew", "kurt")
COOC_T = 2  # co-occurrence of the median residual, truncated to -T..T (quantisation step q=1)
PHASES = ("00", "01", "10", "11")  # (row % 2, col % 2): the CFA period
GRID = 8  # crop origins snap to this so the CFA phase and the JPEG 8x8 grid stay those of the file
MIN_SIDE = 16


def _feature_names() -> list[str]:
    names = [f"{f}_{c}_{s}" for f in FILTERS for c in CHANNELS for s in STATS]
    names += [f"{f}_corr_{a}{b}" for f in FILTERS for a, b in (("R", "G"), ("R", "B"), ("G", "B"))]
    values = range(-COOC_T, COOC_T + 1)
    names += [f"median_G_cooc_{d}_{a:+d}{b:+d}" for d in ("h", "v") for a in values for b in values]
    names += [f"{f}_{c}_phase{p}" for f in FILTERS for c in CHANNELS for p in (*PHASES, "spread")]
    names += [f"{f}_{c}_block8_{d}" for f in FILTERS for c in CHANNELS for d in ("h", "v")]
    return names


FEATURE_NAMES = _feature_names()
# "seed": the Kaggle write-up's first idea (moments, quantiles, correlations and co-occurrences of the
# residual); "extended" adds features aimed at the CFA phase and the JPEG 8x8 grid.
FEATURE_SETS = {
    "seed": [i for i, n in enumerate(FEATURE_NAMES) if "_phase" not in n and "_block8_" not in n],
    "extended": list(range(len(FEATURE_NAMES))),
}


def _residuals(image: np.ndarray) -> np.ndarray:
    """(2, 3, H, W) float64: image minus its 3x3 median, and the negated 4-neighbour Laplacian / 4."""
    planes = np.ascontiguousarray(image.transpose(2, 0, 1))  # channel-first once: cheaper than per stat
    out = np.empty((2, *planes.shape), dtype=np.float64)
    for c, plane in enumerate(planes):
        pixels = plane.astype(np.float64)
        out[0, c] = pixels - cv2.medianBlur(plane, 3)
        out[1, c] = cv2.Laplacian(pixels, cv2.CV_64F, ksize=1, borderType=cv2.BORDER_REFLECT_101) * -0.25
    return out


def _quantiles(flat: np.ndarray) -> np.ndarray:
    """np.percentile(flat, QUANTILES) (linear method) from a histogram instead of a sort: both
    residuals of a uint8 image lie on a grid of step 1/4, which makes the histogram exact."""
    codes = np.rint(flat * 4.0).astype(np.int64)
    low = codes.min()
    cumulative = np.cumsum(np.bincount(codes - low))
    positions = (flat.size - 1) * np.asarray(QUANTILES, dtype=np.float64) / 100.0
    below = np.floor(positions).astype(np.int64)
    lower = (np.searchsorted(cumulative, below, side="right") + low) / 4.0
    upper = (np.searchsorted(cumulative, np.minimum(below + 1, flat.size - 1), side="right") + low) / 4.0
    return lower + (positions - below) * (upper - lower)


def _moments(flat: np.ndarray) -> np.ndarray:
    """Per row of (n, pixels): mean, std, quantiles, skewness, excess kurtosis (0 for flat rows)."""
    mean = flat.mean(axis=1)
    centred = flat - mean[:, None]
    squared = centred * centred
    var = squared.mean(axis=1)
    std = np.sqrt(var)
    safe = np.where(var > 0, var, 1.0)
    skew = np.where(var > 0, (squared * centred).mean(axis=1) / safe ** 1.5, 0.0)
    kurt = np.where(var > 0, (squared * squared).mean(axis=1) / safe ** 2 - 3.0, 0.0)
    quantiles = np.stack([_quantiles(row) for row in flat])
    return np.column_stack([mean, std, quantiles, skew, kurt])


def _correlations(residual: np.ndarray) -> list[float]:
    """RG, RB, GB Pearson correlations of a (3, H, W) residual (0 where a channel is flat)."""
    flat = residual.reshape(3, -1)
    centred = flat - flat.mean(axis=1, keepdims=True)
    norms = np.sqrt((centred ** 2).sum(axis=1))
    out = []
    for a, b in ((0, 1), (0, 2), (1, 2)):
        denom = norms[a] * norms[b]
        out.append(float((centred[a] * centred[b]).sum() / denom) if denom > 0 else 0.0)
    return out


def _cooccurrence(channel: np.ndarray) -> np.ndarray:
    """Normalised 5x5 histograms of horizontally and vertically adjacent truncated residual pairs."""
    levels = 2 * COOC_T + 1
    codes = (np.clip(np.rint(channel), -COOC_T, COOC_T) + COOC_T).astype(np.int64)
    out = []
    for first, second in ((codes[:, :-1], codes[:, 1:]), (codes[:-1, :], codes[1:, :])):
        counts = np.bincount((first * levels + second).ravel(), minlength=levels * levels)
        out.append(counts / counts.sum())
    return np.concatenate(out)


def _phase_energy(magnitude: np.ndarray) -> np.ndarray:
    """Mean |residual| of the four (row%2, col%2) classes over the overall mean, and their spread.
    Demosaicing leaves interpolated sites smoother than sensed ones, so these differ by CFA layout."""
    overall = magnitude.mean()
    phases = np.array([magnitude[r::2, c::2].mean() for r in (0, 1) for c in (0, 1)])
    phases = phases / overall if overall > 0 else np.ones(4)
    return np.append(phases, phases.std())


def _blockiness(magnitude: np.ndarray) -> list[float]:
    """Mean |residual| on 8x8 block-boundary columns (h) and rows (v) over the mean elsewhere."""
    out = []
    for axis in (1, 0):
        index = np.arange(magnitude.shape[axis]) % 8
        boundary = (index == 0) | (index == 7)
        on = np.compress(boundary, magnitude, axis=axis).mean()
        off = np.compress(~boundary, magnitude, axis=axis).mean()
        out.append(float(on / off) if off > 0 else 1.0)
    return out


def residual_features(image: np.ndarray) -> np.ndarray:
    """Fixed-length float32 vector (see FEATURE_NAMES) of noise-residual statistics of an RGB uint8 image."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 image, got shape {image.shape}")
    if min(image.shape[:2]) < MIN_SIDE:
        raise ValueError(f"{image.shape[1]}x{image.shape[0]} is smaller than {MIN_SIDE}px for residual features")
    residuals = _residuals(image)
    magnitudes = np.abs(residuals)
    parts: list = [_moments(residuals.reshape(6, -1)).ravel()]
    parts += [_correlations(residual) for residual in residuals]
    parts.append(_cooccurrence(residuals[0, 1]))
    parts += [_phase_energy(m) for per_filter in magnitudes for m in per_filter]
    parts += [_blockiness(m) for per_filter in magnitudes for m in per_filter]
    features = np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in parts])
    return features.astype(np.float32)


def _grid_starts(length: int, crop: int, count: int) -> list[int]:
    if length <= crop:
        return [0]
    if count == 1:
        return [(length - crop) // 2 // GRID * GRID]
    return [int(round(i * (length - crop) / (count - 1))) // GRID * GRID for i in range(count)]


def crop_positions(shape, crop_size: int, crops_per_image: int, rng: np.random.Generator | None = None):
    """(top, left) origins on the 8-pixel grid: random with `rng`, else an evenly spaced grid
    (rows x cols >= crops_per_image, first crops_per_image in row order, duplicates dropped)."""
    height, width = shape[:2]
    if rng is not None:
        tops = rng.integers(0, max(height - crop_size, 0) // GRID + 1, size=crops_per_image) * GRID
        lefts = rng.integers(0, max(width - crop_size, 0) // GRID + 1, size=crops_per_image) * GRID
        positions = list(zip(tops.tolist(), lefts.tolist()))
        return positions if height > crop_size or width > crop_size else positions[:1]
    rows = math.ceil(math.sqrt(crops_per_image))
    cols = math.ceil(crops_per_image / rows)
    grid = [(t, l) for t in _grid_starts(height, crop_size, rows) for l in _grid_starts(width, crop_size, cols)]
    return list(dict.fromkeys(grid[:crops_per_image]))


def sample_crops(image: np.ndarray, crop_size: int, crops_per_image: int,
                 rng: np.random.Generator | None = None) -> list[np.ndarray]:
    """crop_size x crop_size crops (clipped to the image when it is smaller): random positions
    drawn from `rng`, or with rng=None the deterministic grid used for test images."""
    return [image[top:top + crop_size, left:left + crop_size]
            for top, left in crop_positions(image.shape, crop_size, crops_per_image, rng)]


def manipulated_crops(image: np.ndarray, crop_size: int, crops_per_image: int, rng: np.random.Generator,
                      augment) -> list[np.ndarray]:
    """Training crops as the CNN sees them: a random grid-aligned crop of twice the size, with probability
    `augment.manipulation_prob` one manipulation drawn from its ranges, then the centre `crop_size` square."""
    from .augment import manipulation_step
    step = manipulation_step(augment, seed=int(rng.integers(2 ** 31)))
    crops = []
    for crop in sample_crops(image, 2 * crop_size, crops_per_image, rng):
        if step is not None:
            crop = step(image=np.ascontiguousarray(crop))["image"]
        height, width = crop.shape[:2]
        top, left = max(0, (height - crop_size) // 2) // GRID * GRID, max(0, (width - crop_size) // 2) // GRID * GRID
        crops.append(crop[top:top + crop_size, left:left + crop_size])
    return crops


def _image_features(path, crop_size, crops_per_image, seed_seq, augment=None):
    """(crops x features array, '') for one file, or (None, 'path: reason')."""
    try:
        image = read_image(path)
        rng = None if seed_seq is None else np.random.default_rng(seed_seq)
        if augment is not None and rng is not None:
            crops = manipulated_crops(image, crop_size, crops_per_image, rng, augment)
        else:
            crops = sample_crops(image, crop_size, crops_per_image, rng)
        return np.stack([residual_features(crop) for crop in crops]), ""
    except ImageReadError as exc:
        return None, str(exc)
    except ValueError as exc:
        return None, f"{path}: {exc}"


def _extract(paths, crop_size, crops_per_image, seeds, n_jobs, progress, desc, augment=None):
    """Features of every path in order; each image has its own seed, so n_jobs cannot change results."""
    jobs = (delayed(_image_features)(p, crop_size, crops_per_image, s, augment) for p, s in zip(paths, seeds))
    results = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    return list(tqdm(results, total=len(paths), desc=desc, disable=not progress))


@dataclass
class BaselineModel:
    """A fitted residual-statistics classifier and what is needed to apply it again."""

    model: HistGradientBoostingClassifier
    classes: list[str]
    crop_size: int
    feature_names: list[str]
    params: dict
    skipped: list[str] = field(default_factory=list)
    feature_set: str = "seed"


def _check_feature_set(feature_set: str) -> list[int]:
    if feature_set not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {feature_set!r}; choose from {', '.join(FEATURE_SETS)}")
    return FEATURE_SETS[feature_set]


def training_features(train_records, classes, crop_size: int = 256, crops_per_image: int = 4, seed: int = 0,
                      progress: bool = True, n_jobs: int = 1, augment=None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(features of every crop, class index of each, unreadable files) of `crops_per_image` random crops
    per training image (all of FEATURE_NAMES); with `augment` (an AugmentConfig) the crops are manipulated
    like the CNN's training crops."""
    classes = list(classes)
    unknown = sorted({str(r.camera) for r in train_records if r.camera not in classes})
    if unknown:
        raise ValueError(f"training records with cameras outside `classes`: {', '.join(unknown)}")
    paths = [r.path for r in train_records]
    seeds = [np.random.SeedSequence([seed, index]) for index in range(len(paths))]
    results = _extract(paths, crop_size, crops_per_image, seeds, n_jobs, progress,
                       "baseline train features" + (" (augmented)" if augment is not None else ""), augment)
    features, labels, skipped = [], [], []
    for record, (image_features, error) in zip(train_records, results):
        if error:
            skipped.append(error)
            continue
        features.append(image_features)
        labels += [classes.index(record.camera)] * len(image_features)
    if not features:
        raise ValueError("no readable training images for the baseline")
    return np.concatenate(features), np.array(labels), skipped


def fit_features(features, labels, classes, crop_size: int, crops_per_image: int = 4, seed: int = 0,
                 max_iter: int = 200, feature_set: str = "seed", skipped=()) -> BaselineModel:
    """Fit HistGradientBoosting on the `feature_set` columns of precomputed crop features."""
    columns = _check_feature_set(feature_set)
    params = dict(crops_per_image=crops_per_image, seed=seed, max_iter=max_iter, learning_rate=0.1,
                  feature_set=feature_set)
    model = HistGradientBoostingClassifier(learning_rate=0.1, max_iter=max_iter, early_stopping=False,
                                           random_state=seed)
    model.fit(features[:, columns], labels)
    return BaselineModel(model, list(classes), crop_size, [FEATURE_NAMES[i] for i in columns], params,
                         list(skipped), feature_set)


def fit_baseline(train_records, classes, crop_size: int = 256, crops_per_image: int = 4, seed: int = 0,
                 max_iter: int = 200, progress: bool = True, n_jobs: int = 1, feature_set: str = "seed") -> BaselineModel:
    """Fit HistGradientBoosting on features of `crops_per_image` random crops per training image."""
    _check_feature_set(feature_set)
    features, labels, skipped = training_features(train_records, classes, crop_size, crops_per_image, seed,
                                                  progress, n_jobs)
    return fit_features(features, labels, classes, crop_size, crops_per_image, seed, max_iter, feature_set, skipped)


def grid_features(records, crop_size: int, crops_per_image: int = 4, progress: bool = True, n_jobs: int = 1) -> list:
    """(features or None, error) per record, on the deterministic crop grid of test images."""
    paths = [r.path for r in records]
    return _extract(paths, crop_size, crops_per_image, [None] * len(paths), n_jobs, progress, "baseline test features")


def predict_baseline(model: BaselineModel, records, crops_per_image: int = 4, progress: bool = True,
                     n_jobs: int = 1, features=None) -> pd.DataFrame:
    """One row per record: path, camera, manipulation, pred, confidence, error, p_<class>; the image
    probability is the mean crop probability over a deterministic grid of crops (`features`: the
    records' grid_features, when already computed)."""
    results = features if features is not None else grid_features(records, model.crop_size, crops_per_image,
                                                                  progress, n_jobs)
    columns = FEATURE_SETS[model.feature_set]
    probabilities = np.full((len(records), len(model.classes)), np.nan)
    readable = [i for i, (_, error) in enumerate(results) if not error]
    if readable:
        stacked = np.concatenate([results[i][0] for i in readable])
        owners = np.concatenate([[i] * len(results[i][0]) for i in readable])
        crop_proba = np.zeros((len(stacked), len(model.classes)))
        # sklearn's columns cover only the classes seen in training; absent ones keep probability 0
        crop_proba[:, model.model.classes_] = model.model.predict_proba(stacked[:, columns])
        for i in readable:
            probabilities[i] = crop_proba[owners == i].mean(axis=0)
    rows = []
    for i, record in enumerate(records):
        error = results[i][1]
        best = None if error else int(np.argmax(probabilities[i]))
        rows.append(dict(path=record.path, camera=record.camera, manipulation=record.manipulation,
                         pred=None if best is None else model.classes[best],
                         confidence=np.nan if best is None else float(probabilities[i, best]), error=error))
    frame = pd.DataFrame(rows, columns=["path", "camera", "manipulation", "pred", "confidence", "error"])
    for k, name in enumerate(model.classes):
        frame[f"p_{name}"] = probabilities[:, k]
    return frame


TRAINING_VARIANTS = ("plain", "augmented")  # the seed's (no augmentation) and trained on the CNN's augmentation


def evaluate_baseline(train_records, test_records, classes, crop_size: int = 256, crops_per_image: int = 4,
                      seed: int = 0, max_iter: int = 200, feature_sets=("seed", "extended"), augment=None,
                      progress: bool = True, n_jobs: int = -1) -> dict:
    """Fit on the training device and predict the test device, per (feature set, training variant):
    {(feature_set, 'plain' | 'augmented'): prediction table}, plus 'skipped' (unreadable training files) and
    'n_features'. 'augmented' runs only with `augment` (the CNN's AugmentConfig). Features are computed
    once per variant by `n_jobs` processes (-1 = all cores); each image has its own seed."""
    for feature_set in feature_sets:
        _check_feature_set(feature_set)
    test = grid_features(test_records, crop_size, crops_per_image, progress, n_jobs)
    result: dict = {"skipped": [], "n_features": {name: len(FEATURE_SETS[name]) for name in feature_sets}}
    for variant in TRAINING_VARIANTS:
        if variant == "augmented" and augment is None:
            continue
        features, labels, skipped = training_features(train_records, classes, crop_size, crops_per_image, seed, progress,
                                                      n_jobs, augment if variant == "augmented" else None)
        result["skipped"] = sorted(set(result["skipped"]) | set(skipped))
        for feature_set in feature_sets:
            model = fit_features(features, labels, classes, crop_size, crops_per_image, seed, max_iter, feature_set, skipped)
            result[(feature_set, variant)] = predict_baseline(model, test_records, crops_per_image, progress=False,
                                                              features=test)
    return result
