"""Chapter 4: the same recipe without augmentation, and both models under each manipulation."""
from __future__ import annotations

from pydantic import BaseModel

from .. import studies
from ..infer import predict_records
from ..outcomes import Outcome, outcome_from_predictions
from ..train import load_model
from .core import TTA, ModelSummary, Run, cached
from .inputs import stage
from .training import main_configs, main_models, train_replicates

WITH, WITHOUT = "with augmentation", "without augmentation"
UNALTERED = ("none", 0.0)  # the reference point of the sweep: the images as they are
CHALLENGE_CROP = 512  # the challenge's test crops


class RobustnessPoint(BaseModel):
    family: str  # jpeg | gamma | resize | none (the unaltered reference)
    value: float
    variant: str  # with / without augmentation
    outcome: Outcome


class RobustnessResult(BaseModel):
    """The no-augmentation replicates, their TTA outcome on the whole test device, and the sweep."""

    noaug_models: list[ModelSummary]
    noaug: Outcome  # same TTA and images as the main model's chapter 3 outcome
    training_ranges: dict[str, list[float] | None]  # the augmented model's ranges ({family: [low, high]} or None)
    trained_values: dict[str, list[float]] | None = None  # the released recipe trains on exact values only
    images_per_class: int
    sweep_seeds: list[int]
    points: list[RobustnessPoint]

    def trained_on(self, family: str, value: float) -> bool:
        """Whether the augmented model saw this manipulation in training: inside its range, and one of the exact
        values where the recipe trains on exact values (`released`)."""
        bounds = self.training_ranges.get(family)
        if not bounds or not bounds[0] <= value <= bounds[1]:
            return False
        return self.trained_values is None or float(value) in self.trained_values.get(family, [])

    def point(self, family: str, value: float, variant: str) -> Outcome | None:
        for point in self.points:
            if point.family == family and point.value == float(value) and point.variant == variant:
                return point.outcome
        return None


def training_ranges(settings) -> dict:
    """{family: [low, high] or None}: the manipulation ranges the augmented model was trained with."""
    augment = settings.augment_config()
    ranges = {"jpeg": augment.jpeg_range, "gamma": augment.gamma_range, "resize": augment.scale_range}
    if augment.manipulation_prob == 0:
        ranges = dict.fromkeys(ranges)
    return {family: None if r is None else [float(r[0]), float(r[1])] for family, r in ranges.items()}


def trained_values(settings) -> dict | None:
    """{family: [values]} for a recipe that trains on exact values (the released code's 8 test operations), else None."""
    augment = settings.augment_config()
    if augment.recipe != "released":
        return None
    from ..augment import challenge_operations
    from ..manipulations import CHALLENGE_MANIPULATIONS
    values: dict[str, list[float]] = {}
    for name in challenge_operations(augment):
        family, value = CHALLENGE_MANIPULATIONS[name]
        values.setdefault(family, []).append(float(value))
    return values


def noaug_configs(run: Run) -> dict:
    return main_configs(run, augmented=False)


@stage(fields=("robustness_images_per_class", "robustness_sweep", "robustness_tta_crops", "robustness_tta_transforms",
               "test_center_crop", "layout", "study_replicates", *TTA), needs=("training",), chapters=("04_robustness",))
def robustness(run: Run) -> RobustnessResult:
    """Chapter 4's stage: train the model without augmentation (every seed), score it like the main model,
    then score both on `robustness_images_per_class` unaltered images per camera after each manipulation."""
    settings, data = run.settings, run.data
    tta, sweep_tta = settings.tta_config(), settings.tta_config("robustness")
    records = studies.per_class_subset(data.test_unaltered, settings.robustness_images_per_class)
    sweeps = settings.robustness_sweeps()
    # Real full frames are manipulated as the challenge's 512 px centre crops were (a 2.5x resize of a whole
    # 24 MP photo would also not fit in memory); the zoo's test images are such crops already.
    center_crop = settings.test_center_crop or (0 if settings.layout == "zoo" else CHALLENGE_CROP)

    def compute():
        summaries = train_replicates(run, "noaug", "no augmentation", noaug_configs(run))
        noaug = {s.seed: load_model(s.checkpoint, data.classes) for s in summaries}
        noaug_outcome = outcome_from_predictions("same recipe without augmentation, TTA", data.classes, {
            seed: predict_records(model, data.test, data.classes, tta, progress=run.progress, desc=f"TTA no-aug seed {seed}")
            for seed, model in noaug.items()}, root=data.root)
        seeds = settings.study_seeds
        main = main_models(run, seeds)
        models = {(WITH, seed): main[seed] for seed in seeds} | {(WITHOUT, seed): noaug[seed] for seed in seeds}
        full_sweeps = {UNALTERED[0]: [UNALTERED[1]], **sweeps}
        tables = studies.robustness(models, records, data.classes, sweep_tta, full_sweeps,
                                    center_crop=center_crop, progress=run.progress)
        points = []
        for family, values in full_sweeps.items():
            for value in values:
                for variant in (WITH, WITHOUT):
                    by_seed = {seed: tables[(family, float(value), (variant, seed))] for seed in seeds}
                    points.append(RobustnessPoint(family=family, value=float(value), variant=variant,
                                                  outcome=outcome_from_predictions(variant, data.classes, by_seed, root=data.root)))
        return RobustnessResult(noaug_models=summaries, noaug=noaug_outcome, training_ranges=training_ranges(settings),
                                trained_values=trained_values(settings),
                                images_per_class=settings.robustness_images_per_class, sweep_seeds=seeds, points=points)

    return cached(run, "robustness", compute, RobustnessResult)
