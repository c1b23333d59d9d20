"""Predictions rebalanced to a known class prior (the challenge's test set has equally many photos per camera)."""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

ROW_SUM_TOLERANCE = 1e-3  # saved probabilities are rounded (5 decimals), so rows sum to 1 only approximately
PRIOR_SUM_TOLERANCE = 1e-6
LOG_FLOOR = 1e-12  # -log(0) would be infinite: a zero probability costs as much as 1e-12


def check_inputs(probabilities, prior=None) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities as an N x C float array, prior as a length-C array, uniform when None), or ValueError."""
    matrix = np.asarray(probabilities, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] < 1 or matrix.shape[1] < 2:
        raise ValueError(f"probabilities must be an N x C matrix with N >= 1 and C >= 2, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError("probabilities must be finite (no NaN or inf)")
    if (matrix < 0).any():
        raise ValueError(f"probabilities must be non-negative, found {matrix.min():g}")
    worst_row = np.abs(matrix.sum(axis=1) - 1).max()
    if worst_row > ROW_SUM_TOLERANCE:
        raise ValueError(f"probabilities: each row must sum to 1, one is off by {worst_row:.3g}")
    n_classes = matrix.shape[1]
    prior = np.full(n_classes, 1.0 / n_classes) if prior is None else np.asarray(prior, dtype=float)
    if prior.shape != (n_classes,):
        raise ValueError(f"prior must hold one value per class ({n_classes}), got shape {prior.shape}")
    if not np.isfinite(prior).all() or (prior < 0).any():
        raise ValueError("prior must be finite and non-negative")
    if abs(prior.sum() - 1) > PRIOR_SUM_TOLERANCE:
        raise ValueError(f"prior must sum to 1, sums to {prior.sum():.6g}")
    return matrix, prior / prior.sum()


def sinkhorn_rebalance(probabilities, prior=None, max_iterations: int = 1000,
                       tolerance: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """(rebalanced N x C probabilities, their argmax): rows still sum to 1, column sums are prior x N.

    Iterative proportional fitting (Sinkhorn scaling): columns are scaled to their target sums, rows
    renormalised, until the column sums are within `tolerance` x N of the targets or `max_iterations` pass."""
    matrix, prior = check_inputs(probabilities, prior)
    if max_iterations < 1:
        raise ValueError(f"max_iterations must be at least 1, got {max_iterations}")
    n_images = len(matrix)
    targets = prior * n_images
    column_sums = matrix.sum(axis=0)
    unreachable = np.flatnonzero((column_sums == 0) & (targets > 0))
    if unreachable.size:
        raise ValueError(f"probabilities: class {unreachable[0]} has zero probability for every image, "
                         f"its prior share cannot be reached")
    balanced = matrix / matrix.sum(axis=1, keepdims=True)
    for _ in range(max_iterations):
        column_sums = balanced.sum(axis=0)
        scale = np.divide(targets, column_sums, out=np.zeros_like(targets), where=column_sums > 0)
        balanced = balanced * scale
        balanced /= balanced.sum(axis=1, keepdims=True)
        if np.abs(balanced.sum(axis=0) - targets).max() <= tolerance * n_images:
            break
    return balanced, balanced.argmax(axis=1)


def class_quotas(n_images: int, prior) -> np.ndarray:
    """Slots per class for an assignment: ceil(prior x N), so every class can take its share when N x prior
    is not a whole number (the assignment then decides which classes get the extra image)."""
    # Rounded first: prior x N may be a whole number plus an ulp (0.07 x 100 = 7.000000000000001).
    return np.ceil(np.round(np.asarray(prior) * n_images, 9)).astype(int)


def quota_assignment(probabilities, prior=None) -> np.ndarray:
    """Class per image (argmax-like, length N) under equal quotas: the assignment of images to class slots
    that maximises the summed log-probability, each class taking at most ceil(prior x N) images."""
    matrix, prior = check_inputs(probabilities, prior)
    quotas = class_quotas(len(matrix), prior)
    slot_classes = np.repeat(np.arange(matrix.shape[1]), quotas)  # one column per slot
    cost = -np.log(np.maximum(matrix, LOG_FLOOR))[:, slot_classes]  # (N, slots), slots >= N
    rows, slots = linear_sum_assignment(cost)
    labels = np.empty(len(matrix), dtype=int)
    labels[rows] = slot_classes[slots]
    return labels
