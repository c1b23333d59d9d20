"""Chapters 6 and 7: models trained with the main recipe on less data or from another start, scored alike."""
from __future__ import annotations

from pydantic import BaseModel

from .. import studies
from ..infer import predict_records
from ..outcomes import Outcome, outcome_from_predictions
from ..train import load_model
from .core import STUDY, ModelSummary, Run, cached
from .inputs import stage
from .training import train_replicates


class StudyVariant(BaseModel):
    """One study model (its seeds) and its outcome on the whole test device with the study TTA."""

    label: str
    arch: str
    weights: str
    images_per_class: int | None  # None: the whole training device
    is_main: bool  # the main model itself (shared with chapter 2)
    label_noise: float | None = None  # share of training photos with a wrong camera (label-noise study)
    schedule: str | None = None  # learning-rate schedule (schedule study)
    models: list[ModelSummary]
    outcome: Outcome

    def problems(self) -> list[str]:
        return [p for p in (m.problem() for m in self.models) if p]


class StudyResult(BaseModel):
    study_epochs: int
    seeds: list[int]
    tta_config: dict
    variants: list[StudyVariant]


def _score(run: Run, label: str, checkpoints: dict, keep_probabilities: bool = False) -> Outcome:
    data, tta = run.data, run.settings.tta_config("study")
    tables = {}
    for seed, checkpoint in checkpoints.items():
        model = load_model(checkpoint, data.classes)
        tables[seed] = predict_records(model, data.test, data.classes, tta, progress=run.progress, desc=f"{label}, seed {seed}")
    return outcome_from_predictions(label, data.classes, tables, keep_probabilities=keep_probabilities, root=data.root)


@stage(fields=STUDY, needs=("training",), name="study_main")
def main_as_study(run: Run) -> StudyVariant:
    """The main model's study seeds scored with the study TTA (the reference point of chapters 6 and 7)."""
    settings, data = run.settings, run.data
    seeds = settings.study_seeds

    def compute():
        from .training import training
        summaries = [m for m in training(run).models if m.seed in seeds]
        label = f"{settings.arch} ({_weights_label(settings.weights)}), all {len(data.train) // len(data.classes)} per camera"
        return StudyVariant(label=label, arch=settings.arch, weights=settings.weights, images_per_class=None, is_main=True,
                            models=summaries, outcome=_score(run, label, {m.seed: m.checkpoint for m in summaries}, True))

    return cached(run, "study_main", compute, StudyVariant)


def _relabelled(variant: StudyVariant, label: str, **changes) -> StudyVariant:
    """The same variant under another label (its outcome's too, which the figures and tables show)."""
    return variant.model_copy(update={"label": label, "outcome": variant.outcome.model_copy(update={"label": label}), **changes})


def _weights_label(weights: str) -> str:
    return {"imagenet": "ImageNet", "none": "scratch"}.get(weights, "weights file")


def _variant(run: Run, role: str, label: str, configs: dict, records, images_per_class=None) -> StudyVariant:
    summaries = train_replicates(run, role, label, configs, records, images_per_class)
    config = next(iter(configs.values()))
    return StudyVariant(label=label, arch=config.arch, weights=config.weights, images_per_class=images_per_class,
                        is_main=False, models=summaries, outcome=_score(run, label, {m.seed: m.checkpoint for m in summaries}))


def _study_configs(run: Run, **changes) -> dict:
    """{seed: the main recipe with `changes`}, each epoch drawing as many images as the main model's epoch."""
    settings, data = run.settings, run.data
    epoch_images = studies.main_epoch_images(data.train, settings.train_config())
    return {seed: settings.train_config(seed=seed, images_per_epoch=epoch_images, **changes) for seed in settings.study_seeds}


@stage(fields=("train_sizes",), needs=("study_main",), chapters=("06_train_size",))
def train_size(run: Run) -> StudyResult:
    """Chapter 6's stage: the recipe on the first n training images of each camera (same number of steps)."""
    settings, data = run.settings, run.data
    sizes = studies.subset_sizes(data.train, data.classes, settings.train_sizes)
    full = min(sum(r.camera == c for r in data.train) for c in data.classes)
    plan = {n: studies.per_class_subset(data.train, n) for n in sizes if n < full}

    def compute():
        variants = [_variant(run, f"size{n}", f"{n} images per camera", _study_configs(run), records, n)
                    for n, records in plan.items()]
        main = main_as_study(run)
        variants.append(_relabelled(main, f"{full} images per camera (main model)", images_per_class=full))
        return StudyResult(study_epochs=settings.epochs, seeds=settings.study_seeds,
                           tta_config=settings.tta_config("study").to_dict(), variants=variants)

    return cached(run, "train_size", compute, StudyResult)


@stage(fields=("arch_study",), needs=("study_main",), chapters=("07_architectures",))
def architectures(run: Run) -> StudyResult:
    """Chapter 7's stage: the recipe from ImageNet weights and from scratch, for each arch_study variant."""
    settings, data = run.settings, run.data
    others = settings.arch_variants()[1:]

    def compute():
        variants = [_relabelled(main_as_study(run), f"{settings.arch} ({_weights_label(settings.weights)}, main model)")]
        for variant in others:
            budget = f", {variant.budget_text}" if variant.budget_text else ""
            label = f"{variant.arch} ({_weights_label(variant.weights)}{budget})"
            variants.append(_variant(run, variant.name, label,
                                     _study_configs(run, **variant.changes()), data.train))
        return StudyResult(study_epochs=settings.epochs, seeds=settings.study_seeds,
                           tta_config=settings.tta_config("study").to_dict(), variants=variants)

    return cached(run, "architectures", compute, StudyResult)


@stage(fields=("label_noise_levels", "seed"), needs=("study_main",), chapters=("06_train_size",))
def label_noise(run: Run) -> StudyResult | None:
    """The label-noise study (chapter 6): the recipe with a share of training photos labelled as another camera,
    against the main model (0%), at the same number of steps; None when `label_noise_levels` is empty."""
    settings, data = run.settings, run.data
    if not settings.label_noise_levels:
        return None
    plan = {level: studies.noisy_labels(data.train, data.classes, level, settings.seed) for level in settings.label_noise_levels}

    def compute():
        variants = [_relabelled(main_as_study(run), "0% wrong labels (main model)", label_noise=0.0)]
        for level, records in plan.items():
            variant = _variant(run, f"noise{round(100 * level)}", f"{level:.0%} wrong labels", _study_configs(run), records)
            variants.append(variant.model_copy(update={"label_noise": level}))
        return StudyResult(study_epochs=settings.epochs, seeds=settings.study_seeds,
                           tta_config=settings.tta_config("study").to_dict(), variants=variants)

    return cached(run, "label_noise", compute, StudyResult)


OTHER_SCHEDULE = {"cosine_restarts": "one_cycle", "one_cycle": "cosine_restarts"}


@stage(fields=("schedule_study", "schedule"), needs=("study_main",), chapters=("02_training",))
def schedules(run: Run) -> StudyResult | None:
    """The schedule study (chapter 2): the recipe with cosine restarts and with one cycle, the same epochs and
    seeds; None when `schedule_study` is off or the main schedule has no counterpart."""
    settings, data = run.settings, run.data
    other = OTHER_SCHEDULE.get(settings.schedule)
    if not settings.schedule_study or other is None:
        return None
    configs = _study_configs(run, schedule=other)

    def compute():
        main = _relabelled(main_as_study(run), f"{settings.schedule} (main model)", schedule=settings.schedule)
        variant = _variant(run, f"schedule-{other}", other, configs, data.train).model_copy(update={"schedule": other})
        return StudyResult(study_epochs=settings.epochs, seeds=settings.study_seeds,
                           tta_config=settings.tta_config("study").to_dict(), variants=[main, variant])

    return cached(run, "schedules", compute, StudyResult)
