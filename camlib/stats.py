"""95% intervals of accuracies (bootstrap over test images or photo series, and seeds; Wilson) and the one verdict rule
with its margin."""
from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel

LEVEL = 0.95
N_BOOT = 2000
BOOT_SEED = 20180412  # fixed: the same outcomes always get the same interval
Z = 1.959963984540054  # standard normal quantile of 0.975
# A "no change" claim is supported only when its whole 95% interval lies within this many accuracy points (as a
# fraction) of zero. Fixed before any result was looked at, and the same for every claim and every run.
EQUIVALENCE_MARGIN = 0.03

Verdict = Literal["supported", "contradicted", "inconclusive", "not testable"]
# How a claim relates the two sides of a difference (a - b):
#   greater: a > b;  less: a < b;  no_decrease: a is not below b;  no_increase: a is not above b;
#   no_difference: a and b do not differ.
Direction = Literal["greater", "less", "no_decrease", "no_increase", "no_difference"]


class Estimate(BaseModel):
    """A value with its 95% interval [low, high] and how the interval was made."""

    value: float
    low: float
    high: float
    n_images: int
    n_seeds: int = 1
    n_groups: int | None = None  # independent units (photo series) when whole series were resampled, else None
    method: str = "bootstrap"

    def text(self, digits: int = 3, percent: bool = False) -> str:
        if percent:
            return f"{100 * self.value:+.1f} [{100 * self.low:+.1f}, {100 * self.high:+.1f}]"
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def wilson(successes: float, n: float) -> tuple[float, float]:
    """Wilson score interval of a proportion (successes may be fractional, e.g. a mean over seeds)."""
    if n <= 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _as_matrix(correct) -> np.ndarray:
    matrix = np.asarray(correct, dtype=float)
    return matrix[None, :] if matrix.ndim == 1 else matrix


def _resampling_weights(n: int, rng: np.random.Generator) -> np.ndarray:
    """(N_BOOT, n) counts: how often each item is drawn in each bootstrap resample."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=N_BOOT).astype(float)


def _statistics(matrix: np.ndarray, weights: np.ndarray, image_counts: np.ndarray, seed_counts: np.ndarray) -> np.ndarray:
    """Per resample: the weighted mean over resampled images, averaged over resampled seeds."""
    image_weights = image_counts * weights  # (B, N)
    per_seed = image_weights @ matrix.T / image_weights.sum(axis=1, keepdims=True)  # (B, S)
    return (per_seed * seed_counts).sum(axis=1) / seed_counts.sum(axis=1)


def _point(matrix: np.ndarray, weights: np.ndarray) -> float:
    return float((matrix @ weights / weights.sum()).mean())


def _cluster_index(groups, n_images: int) -> np.ndarray | None:
    """Per image: the index of its group in order of first appearance; None when every image is its own group
    (then the cluster bootstrap is the image bootstrap, and the plain path keeps results unchanged)."""
    if groups is None:
        return None
    groups = np.asarray(groups, dtype=object)
    if len(groups) != n_images:
        raise ValueError(f"groups: one group id per image is needed ({len(groups)} ids for {n_images} images)")
    _, first, inverse = np.unique(groups.astype(str), return_index=True, return_inverse=True)
    if len(first) == n_images:
        return None
    rank = np.empty(len(first), dtype=int)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inverse.ravel()]


def _image_counts(n_images: int, clusters: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """(N_BOOT, n_images) resampling counts: of each image, or of each image's group (cluster bootstrap)."""
    if clusters is None:
        return _resampling_weights(n_images, rng)
    return _resampling_weights(int(clusters.max()) + 1, rng)[:, clusters]


def bootstrap(correct, weights=None, groups=None) -> Estimate:
    """Mean accuracy over seeds of the (weighted) accuracy over images, with a 95% interval.

    correct: (seeds, images) or (images,) of 0/1. The interval is the percentile bootstrap over images and
    seeds, widened where needed to the Wilson interval of the same proportion over the effective number of
    images, which stays honest at 0% and 100% and with few images.
    groups: one id per image (e.g. its photo series): images of one group stand or fall together, so whole
    groups are resampled (cluster bootstrap) and the Wilson bound counts groups, not images."""
    matrix = _as_matrix(correct)
    n_seeds, n_images = matrix.shape
    weights = np.ones(n_images) if weights is None else np.asarray(weights, dtype=float)
    if n_images == 0:
        return Estimate(value=float("nan"), low=float("nan"), high=float("nan"), n_images=0, n_seeds=n_seeds)
    clusters = _cluster_index(groups, n_images)
    value = _point(matrix, weights)
    rng = np.random.default_rng(BOOT_SEED)
    image_counts = _image_counts(n_images, clusters, rng)
    seed_counts = _resampling_weights(n_seeds, rng) if n_seeds > 1 else np.ones((N_BOOT, 1))
    samples = _statistics(matrix, weights, image_counts, seed_counts)
    low, high = np.quantile(samples, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    units = weights if clusters is None else np.bincount(clusters, weights=weights)
    effective_n = units.sum() ** 2 / (units ** 2).sum()
    wilson_low, wilson_high = wilson(value * effective_n, effective_n)
    if clusters is None:
        return Estimate(value=value, low=float(min(low, wilson_low)), high=float(max(high, wilson_high)),
                        n_images=n_images, n_seeds=n_seeds, method="bootstrap+wilson")
    return Estimate(value=value, low=float(min(low, wilson_low)), high=float(max(high, wilson_high)),
                    n_images=n_images, n_seeds=n_seeds, n_groups=int(clusters.max()) + 1,
                    method="cluster bootstrap+wilson")


def paired_difference(correct_a, correct_b, weights=None, paired_seeds: bool | None = None, groups=None) -> Estimate:
    """(Weighted) accuracy of a minus that of b on the same images, with a 95% paired bootstrap interval.

    Images are resampled jointly for both sides; seeds jointly when both sides have the same seeds
    (`paired_seeds`, default: when their counts agree), else each side's seeds on their own. With `groups`
    (one id per image) whole groups are resampled, as in `bootstrap`."""
    a, b = _as_matrix(correct_a), _as_matrix(correct_b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"paired difference needs the same images on both sides ({a.shape[1]} vs {b.shape[1]})")
    n_images = a.shape[1]
    weights = np.ones(n_images) if weights is None else np.asarray(weights, dtype=float)
    value = _point(a, weights) - _point(b, weights)
    if n_images == 0:
        return Estimate(value=float("nan"), low=float("nan"), high=float("nan"), n_images=0)
    clusters = _cluster_index(groups, n_images)
    rng = np.random.default_rng(BOOT_SEED)
    image_counts = _image_counts(n_images, clusters, rng)
    paired_seeds = len(a) == len(b) if paired_seeds is None else paired_seeds

    def seed_counts(n):
        return _resampling_weights(n, rng) if n > 1 else np.ones((N_BOOT, 1))

    counts_a = seed_counts(len(a))
    counts_b = counts_a if paired_seeds else seed_counts(len(b))
    samples = _statistics(a, weights, image_counts, counts_a) - _statistics(b, weights, image_counts, counts_b)
    low, high = np.quantile(samples, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    if clusters is None:
        return Estimate(value=value, low=float(low), high=float(high), n_images=n_images,
                        n_seeds=max(len(a), len(b)), method="paired bootstrap")
    return Estimate(value=value, low=float(low), high=float(high), n_images=n_images, n_seeds=max(len(a), len(b)),
                    n_groups=int(clusters.max()) + 1, method="paired cluster bootstrap")


def unpaired_difference(correct_a, correct_b) -> Estimate:
    """Accuracy of a minus that of b on different images (e.g. two devices), with a 95% interval.

    Each side gets its own interval (`bootstrap`: images and seeds, widened to Wilson), combined by Newcombe's
    square-and-add rule, which stays honest when one side is at 100%."""
    a, b = bootstrap(correct_a), bootstrap(correct_b)
    if not a.n_images or not b.n_images:
        return Estimate(value=float("nan"), low=float("nan"), high=float("nan"), n_images=0)
    value = a.value - b.value
    low = value - math.sqrt((a.value - a.low) ** 2 + (b.high - b.value) ** 2)
    high = value + math.sqrt((a.high - a.value) ** 2 + (b.value - b.low) ** 2)
    return Estimate(value=value, low=low, high=high, n_images=a.n_images + b.n_images,
                    n_seeds=max(a.n_seeds, b.n_seeds), method="Newcombe (two bootstrap+Wilson intervals)")


def verdict(difference: Estimate | None, direction: Direction, margin: float = EQUIVALENCE_MARGIN) -> Verdict:
    """The one verdict rule, on the 95% interval [low, high] of a difference a - b.

    greater/less (a directional claim): supported when the interval excludes zero in the claimed direction,
    contradicted when it excludes zero the other way, inconclusive otherwise.
    no_decrease/no_increase/no_difference (a claim that something does not change): an equivalence test with the
    margin m = `margin` (EQUIVALENCE_MARGIN, 3 points). Supported only when the whole interval lies inside the margin
    (no_decrease: low >= -m; no_increase: high <= +m; no_difference: both); contradicted when it lies wholly beyond
    the margin (no_decrease: high < -m; no_increase: low > +m; no_difference: either); inconclusive otherwise, so a
    wide interval, which rules out little, supports nothing."""
    if difference is None or not np.isfinite([difference.low, difference.high]).all():
        return "not testable"
    low, high = difference.low, difference.high
    if direction == "greater":
        return "supported" if low > 0 else "contradicted" if high < 0 else "inconclusive"
    if direction == "less":
        return "supported" if high < 0 else "contradicted" if low > 0 else "inconclusive"
    if direction == "no_decrease":
        return "supported" if low >= -margin else "contradicted" if high < -margin else "inconclusive"
    if direction == "no_increase":
        return "supported" if high <= margin else "contradicted" if low > margin else "inconclusive"
    if direction == "no_difference":
        if -margin <= low and high <= margin:
            return "supported"
        return "contradicted" if high < -margin or low > margin else "inconclusive"
    raise ValueError(f"unknown claim direction {direction!r}")
