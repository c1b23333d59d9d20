"""The main model's plateau check: its recipe trained k times as long, as benchmarks/convergence.py measured it."""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from .runs import params_hash, read_json, write_json
from .settings import UNKEYED_FIELDS, Settings

from .stats import Estimate

FILE_NAME = "convergence.json"  # in the run folder


class Convergence(BaseModel):
    """The main recipe trained `factor` times as long (same data, seeds and TTA) against the run's own models."""

    factor: float
    epochs: int
    epochs_longer: int
    seeds: list[int]
    gain: Estimate  # weighted accuracy of the longer models minus the run's, paired over images and seeds
    weighted_accuracy: Estimate
    weighted_accuracy_longer: Estimate
    plateaued: bool  # no significant gain: every gain's 95% interval includes zero (all images and manipulated half)
    recipe_hash: str  # the main recipe and data it was measured for
    gain_manipulated: Estimate | None = None  # the same on the manipulated half only (accuracy)
    noaug_gain: Estimate | None = None  # the model without augmentation, trained as long, all images (weighted)
    noaug_gain_manipulated: Estimate | None = None

    def gains(self) -> dict[str, Estimate]:
        """Every measured gain, by what it measures."""
        named = {"main, all images": self.gain, "main, manipulated half": self.gain_manipulated,
                 "no augmentation, all images": self.noaug_gain, "no augmentation, manipulated half": self.noaug_gain_manipulated}
        return {name: gain for name, gain in named.items() if gain is not None}


def no_significant_gain(gains) -> bool:
    """True when no gain's 95% interval lies wholly above zero."""
    return all(gain.low <= 0 for gain in gains)


def recipe_hash(settings: Settings) -> str:
    """Hash of what the main model's scores depend on: data, recipe and TTA (not the studies, not the folder)."""
    from .stages.inputs import fields_read
    values = settings.to_dict()
    return params_hash({name: values[name] for name in sorted(fields_read("inference")) if name not in UNKEYED_FIELDS})


def write_convergence(run_path: Path, result: Convergence) -> None:
    write_json(Path(run_path) / FILE_NAME, result.model_dump(mode="json"))


def read_convergence(run_path: Path, settings: Settings) -> Convergence | None:
    """The run's plateau check, or None when it was not measured or measured for another recipe."""
    stored = read_json(Path(run_path) / FILE_NAME)
    if not stored:
        return None
    try:
        result = Convergence.model_validate(stored)
    except ValueError:
        return None
    return result if result.recipe_hash == recipe_hash(settings) else None
