"""Chapter 5: accuracy of the main model from one centre test crop of each size."""
from __future__ import annotations

from pydantic import BaseModel

from .. import studies
from ..outcomes import Outcome, outcome_from_predictions
from .core import Run, cached
from .inputs import stage
from .training import main_models


class CropSizePoint(BaseModel):
    crop: int
    outcome: Outcome


class CropSizeResult(BaseModel):
    """One outcome per test crop side, on the unaltered test images, for the study seeds of the main model."""

    train_crop: int
    seeds: list[int]
    points: list[CropSizePoint]


@stage(fields=("crop_sizes", "test_center_crop", "study_replicates", "crop"), needs=("training",),
       chapters=("05_crop_size",))
def crop_size(run: Run) -> CropSizeResult:
    """Chapter 5's stage (cached)."""
    settings, data = run.settings, run.data
    seeds = settings.study_seeds
    records = data.test_unaltered

    def compute():
        models = main_models(run, seeds)
        tables = studies.crop_size(models, records, data.classes, settings.crop_sizes,
                                   center_crop=settings.test_center_crop, progress=run.progress)
        points = [CropSizePoint(crop=size, outcome=outcome_from_predictions(
            f"{size} px", data.classes, {seed: tables[(size, seed)] for seed in seeds}, root=data.root))
            for size in sorted(set(settings.crop_sizes))]
        return CropSizeResult(train_crop=settings.crop, seeds=seeds, points=points)

    return cached(run, "crop_size", compute, CropSizeResult)
