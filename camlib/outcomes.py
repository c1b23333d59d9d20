"""Per-image outcomes of a model on a fixed set of test images, for each training seed, and their scores."""
from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, model_validator

from .datasets import series_id
from .metrics import image_weights, is_manipulated, majority_chance
from .stats import Estimate, bootstrap, paired_difference


class SeedScores(BaseModel):
    """Point accuracies of one training seed."""

    seed: int
    weighted_accuracy: float
    accuracy: float
    accuracy_unalt: float | None
    accuracy_manip: float | None


class Scores(BaseModel):
    """Accuracies of one model variant, pooled over its seeds, each with a 95% interval.

    accuracy: share of test images whose camera is right; accuracy_unalt / accuracy_manip: the same on the
    unaltered / manipulated half; weighted_accuracy: the challenge metric, 0.7 x unaltered + 0.3 x manipulated
    (per-image weights, normalised). Each value is the mean over seeds."""

    label: str
    n_images: int
    seeds: list[int]
    accuracy: Estimate
    accuracy_unalt: Estimate | None = None
    accuracy_manip: Estimate | None = None
    weighted_accuracy: Estimate
    weighted_accuracy_seed_std: float  # standard deviation across seeds (0 with one seed)
    per_seed: list[SeedScores]
    per_class: dict[str, Estimate]
    seeds_left_out: dict[int, str] = {}  # seed -> why its model is not evidence (kept out of every figure above)

    def left_out_text(self) -> str:
        """'' or one line: how many seeds were left out of these figures, and why."""
        return left_out_text(self.seeds_left_out, len(self.seeds))


def left_out_text(left_out: dict[int, str], n_kept: int) -> str:
    if not left_out:
        return ""
    return (f"{len(left_out)} of {len(left_out) + n_kept} seeds left out as not evidence: "
            + "; ".join(left_out.values()))


class Outcome(BaseModel):
    """What one model variant predicted for each test image, for each of its training seeds."""

    label: str
    classes: list[str]
    seeds: list[int]
    images: list[str]  # image names (relative to the data folder), the same order for every seed
    cameras: list[str]
    manipulations: list[str]  # 'unalt' or the manipulation's name
    predictions: list[list[int]]  # [seed][image]: index into `classes`; -1: the image could not be read
    probabilities: list[list[list[float]]] | None = None  # [seed][image][class], when kept
    # Per image: its photo series (datasets.series_id), the bootstrap's unit: flat fields of one device are one.
    groups: list[str] | None = None
    seeds_left_out: dict[int, str] = {}  # seeds whose models are not evidence, with why (see `evidence`)

    @model_validator(mode="after")
    def _with_groups(self):
        # outcomes stored before series existed get them from their image names
        if self.groups is None:
            self.groups = [series_id(name, camera) for name, camera in zip(self.images, self.cameras)]
        return self

    @property
    def readable(self) -> np.ndarray:
        """Images every seed could score."""
        if not self.predictions:
            return np.zeros(len(self.images), dtype=bool)
        return np.asarray((np.asarray(self.predictions) >= 0).all(axis=0))

    def chance(self) -> float:
        """Chance level of the scored (readable) images: the share of their most frequent true label."""
        return majority_chance(np.asarray(self.cameras, dtype=object)[self.readable])

    def correct(self) -> np.ndarray:
        """(seeds, images) of 0/1 over the readable images."""
        keep = self.readable
        truth = np.array([self.classes.index(c) if c in self.classes else -2 for c in self.cameras])[keep]
        return (np.asarray(self.predictions).reshape(len(self.predictions), -1)[:, keep] == truth).astype(float)

    def series(self) -> np.ndarray:
        """Per readable image: its photo series (the unit every interval resamples)."""
        return np.asarray(self.groups, dtype=object)[self.readable]

    def accuracy(self, mask=None, weighted: bool = False) -> Estimate | None:
        """(Weighted) accuracy over the readable images where `mask` (one flag per readable image) is true, with
        its 95% interval over photo series; None when a mask selects no image."""
        if mask is not None and not np.asarray(mask, dtype=bool).any():
            return None
        mask = self.readable[self.readable] if mask is None else np.asarray(mask, dtype=bool)
        return bootstrap(self.correct()[:, mask], self.weights()[mask] if weighted else None, groups=self.series()[mask])

    def manipulated(self) -> np.ndarray:
        """Per readable image: manipulated or not."""
        return is_manipulated(self.manipulations)[self.readable]

    def weights(self) -> np.ndarray:
        """Per readable image: its weight in the challenge metric."""
        return image_weights(self.manipulated())

    def subset(self, mask, label: str | None = None) -> "Outcome":
        """The same outcome restricted to the images where `mask` is true."""
        mask = np.asarray(mask, dtype=bool)
        pick = lambda values: [v for v, m in zip(values, mask) if m]  # noqa: E731
        return Outcome(label=label or self.label, classes=self.classes, seeds=self.seeds, images=pick(self.images),
                       cameras=pick(self.cameras), manipulations=pick(self.manipulations),
                       predictions=[pick(row) for row in self.predictions],
                       probabilities=None if self.probabilities is None else [pick(row) for row in self.probabilities],
                       groups=pick(self.groups), seeds_left_out=self.seeds_left_out)

    def evidence(self, problems: dict[int, str]) -> "Outcome":
        """The outcome without the seeds whose models are flagged as not evidence ({seed: why}; '' = usable),
        naming them in `seeds_left_out`. When every seed is flagged none is left out (nothing would remain):
        the claims that rest on them are not testable anyway."""
        flagged = {seed: why for seed, why in problems.items() if why and seed in self.seeds}
        kept = [seed for seed in self.seeds if seed not in flagged]
        if not flagged or not kept:
            return self
        rows = [self.seeds.index(seed) for seed in kept]
        return self.model_copy(update={
            "seeds": kept, "predictions": [self.predictions[r] for r in rows],
            "probabilities": None if self.probabilities is None else [self.probabilities[r] for r in rows],
            "seeds_left_out": {**self.seeds_left_out, **flagged}})

    def left_out_text(self) -> str:
        """'' or one line: how many seeds were left out of the pooled figures, and why."""
        return left_out_text(self.seeds_left_out, len(self.seeds))

    def scores(self) -> Scores:
        correct, manipulated, weights = self.correct(), self.manipulated(), self.weights()
        cameras = np.asarray(self.cameras, dtype=object)[self.readable]
        series = self.series()

        def half(mask):
            return bootstrap(correct[:, mask], groups=series[mask]) if mask.any() else None

        def point(values, mask=None):
            values = values if mask is None else values[mask]
            return float(values.mean()) if values.size else None

        per_seed = [SeedScores(seed=seed, weighted_accuracy=float(row @ weights / weights.sum()), accuracy=point(row),
                               accuracy_unalt=point(row, ~manipulated), accuracy_manip=point(row, manipulated))
                    for seed, row in zip(self.seeds, correct)]
        weighted = bootstrap(correct, weights, groups=series)
        return Scores(label=self.label, n_images=int(correct.shape[1]), seeds=self.seeds,
                      accuracy=bootstrap(correct, groups=series),
                      accuracy_unalt=half(~manipulated), accuracy_manip=half(manipulated), weighted_accuracy=weighted,
                      weighted_accuracy_seed_std=float(np.std([s.weighted_accuracy for s in per_seed], ddof=1))
                      if len(per_seed) > 1 else 0.0,
                      per_seed=per_seed,
                      per_class={camera: bootstrap(correct[:, cameras == camera], groups=series[cameras == camera])
                                 for camera in self.classes if (cameras == camera).any()},
                      seeds_left_out=self.seeds_left_out)

    def ensemble(self, label: str | None = None) -> "Outcome":
        """One prediction per image from the mean of the seeds' probabilities (needs `probabilities`)."""
        if self.probabilities is None:
            raise ValueError(f"{self.label}: no probabilities kept, cannot ensemble the seeds")
        mean = np.nanmean(np.array(self.probabilities, dtype=float), axis=0)
        predictions = [int(np.argmax(p)) if np.isfinite(p).all() else -1 for p in mean]
        return self.model_copy(update={"label": label or f"{self.label} (ensemble of {len(self.seeds)} seeds)",
                                       "seeds": [self.seeds[0]], "predictions": [predictions],
                                       "probabilities": [mean.tolist()]})

    def confusion(self) -> pd.DataFrame:
        """Mean count over seeds of (true camera, predicted camera) pairs."""
        table = pd.DataFrame(0.0, index=pd.Index(self.classes, name="true"), columns=pd.Index(self.classes, name="predicted"))
        for row in self.predictions:
            for truth, pred in zip(self.cameras, row):
                if pred >= 0 and truth in self.classes:
                    table.loc[truth, self.classes[pred]] += 1
        return table / max(len(self.predictions), 1)


def outcome_from_predictions(label: str, classes, by_seed: dict, keep_probabilities: bool = False,
                             root=None) -> Outcome:
    """An Outcome from {seed: predict_records DataFrame} (the same records in the same order for each seed)."""
    seeds = list(by_seed)
    first = by_seed[seeds[0]]
    names = [_relative(path, root) for path in first.path]
    predictions, probabilities = [], []
    columns = [f"p_{c}" for c in classes]
    for seed in seeds:
        frame = by_seed[seed]
        if list(frame.path) != list(first.path):
            raise ValueError(f"{label}: seed {seed} was scored on other images than seed {seeds[0]}")
        index = {c: i for i, c in enumerate(classes)}
        predictions.append([-1 if error or pred not in index else index[pred] for pred, error in zip(frame.pred, frame.error)])
        if keep_probabilities:
            probabilities.append(np.round(frame[columns].to_numpy(dtype=float), 5).tolist())
    return Outcome(label=label, classes=list(classes), seeds=seeds, images=names,
                   cameras=[str(c) for c in first.camera], manipulations=[m or "unalt" for m in first.manipulation.fillna("unalt")],
                   predictions=predictions, probabilities=probabilities if keep_probabilities else None)


def _relative(path, root) -> str:
    from pathlib import Path
    if root is None:
        return Path(path).name
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def difference(a: Outcome, b: Outcome, weighted: bool = True, paired_seeds: bool | None = None) -> Estimate:
    """Paired difference of (weighted) accuracy a - b on the images both scored, with its 95% interval."""
    if a.images != b.images:
        raise ValueError(f"{a.label} and {b.label} were scored on different images")
    both = a.readable & b.readable
    a, b = a.subset(both), b.subset(both)
    weights = a.weights() if weighted else None
    if paired_seeds is None:
        paired_seeds = a.seeds == b.seeds
    return paired_difference(a.correct(), b.correct(), weights, paired_seeds=paired_seeds, groups=a.series())
