"""Photos of cameras the model never saw: confidence scores, how well they separate, and a rejection threshold."""
from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp
from sklearn.metrics import roc_auc_score

from .stats import BOOT_SEED, LEVEL, N_BOOT, Estimate, wilson

UNKNOWN_CAMERA = "unknown"  # the camera given to a rejected photo (`camlib predict --reject-below`)


def _scores(values, name: str) -> np.ndarray:
    scores = np.asarray(values, dtype=float)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of scores, got shape {scores.shape}")
    if not np.isfinite(scores).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return scores


def _matrix(values, name: str) -> np.ndarray:
    matrix = np.asarray(values, dtype=float)
    if matrix.ndim != 2 or matrix.shape[1] < 2:
        raise ValueError(f"{name} must be an N x C matrix with C >= 2, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return matrix


def max_probability(probabilities) -> np.ndarray:
    """Per image: its largest class probability (maximum softmax probability); higher = more like a known camera."""
    matrix = _matrix(probabilities, "probabilities")
    if (matrix < 0).any():
        raise ValueError("probabilities must be non-negative")
    return matrix.max(axis=1)


def negative_energy(logits) -> np.ndarray:
    """Per image: logsumexp of its logits, i.e. minus the energy score -logsumexp(logits), so that, like
    max_probability, higher = more like a known camera."""
    return logsumexp(_matrix(logits, "logits"), axis=1)


def _auroc_samples(known: np.ndarray, unknown: np.ndarray, known_counts: np.ndarray,
                   unknown_counts: np.ndarray) -> np.ndarray:
    """AUROC of each resample (rows of the count matrices: how often each score is drawn), ties counted half.

    The Mann-Whitney form, vectorised: a known score's wins are the drawn unknown scores below it."""
    order = np.argsort(unknown, kind="stable")
    sorted_unknown = unknown[order]
    below = np.searchsorted(sorted_unknown, known, side="left")
    up_to = np.searchsorted(sorted_unknown, known, side="right")
    cumulative = np.concatenate([np.zeros((len(unknown_counts), 1)), np.cumsum(unknown_counts[:, order], axis=1)], axis=1)
    wins = cumulative[:, below] + 0.5 * (cumulative[:, up_to] - cumulative[:, below])  # (B, n_known)
    return (known_counts * wins).sum(axis=1) / (known_counts.sum(axis=1) * unknown_counts.sum(axis=1))


def auroc(known_scores, unknown_scores) -> Estimate:
    """Area under the ROC curve of telling known-camera photos (positives) from unknown-camera photos by
    score, with a 95% percentile-bootstrap interval (each group resampled on its own)."""
    known, unknown = _scores(known_scores, "known_scores"), _scores(unknown_scores, "unknown_scores")
    labels = np.concatenate([np.ones(len(known)), np.zeros(len(unknown))])
    value = float(roc_auc_score(labels, np.concatenate([known, unknown])))
    rng = np.random.default_rng(BOOT_SEED)
    known_counts = rng.multinomial(len(known), np.full(len(known), 1 / len(known)), size=N_BOOT).astype(float)
    unknown_counts = rng.multinomial(len(unknown), np.full(len(unknown), 1 / len(unknown)), size=N_BOOT).astype(float)
    samples = _auroc_samples(known, unknown, known_counts, unknown_counts)
    low, high = np.quantile(samples, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return Estimate(value=value, low=float(low), high=float(high), n_images=len(known) + len(unknown))


def threshold_at(known_val_scores, keep: float = 0.95) -> float:
    """The highest threshold that keeps (score >= threshold) at least `keep` of the known-camera validation photos."""
    scores = _scores(known_val_scores, "known_val_scores")
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be in (0, 1], got {keep}")
    descending = np.sort(scores)[::-1]
    # Rounded first: keep x n may be a whole number plus an ulp (0.07 x 100 = 7.000000000000001).
    n_kept = max(1, math.ceil(round(keep * len(scores), 9)))
    return float(descending[n_kept - 1])


def _share(mask: np.ndarray) -> Estimate:
    successes, n = int(mask.sum()), len(mask)
    low, high = wilson(successes, n)
    return Estimate(value=successes / n, low=low, high=high, n_images=n, method="wilson")


def false_attribution(unknown_scores, threshold: float) -> Estimate:
    """Share of unknown-camera photos still attributed to a known camera (score >= threshold), Wilson interval."""
    return _share(_scores(unknown_scores, "unknown_scores") >= threshold)


def false_rejection(known_scores, threshold: float) -> Estimate:
    """Share of known-camera photos rejected as unknown (score < threshold), Wilson interval."""
    return _share(_scores(known_scores, "known_scores") < threshold)
