"""Chapter 15: a camera the model has never seen. Extra virtual camera models take no part in training; the
maximum class probability should be lower on their photos, and a threshold chosen on validation photos of the
known cameras rejects them."""
from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from ..datasets import read_kaggle, stratified_split
from ..infer import predict_records
from ..openset import auroc, false_attribution, false_rejection, max_probability, threshold_at
from ..rundata import zoo_root
from ..stats import Estimate
from .core import STUDY, Run, cached
from .inputs import stage
from .questions import Finding, finding, gated, switched_on
from .training import main_models

UNKNOWN_ZOO_SEED_OFFSET = 10007  # the unknown cameras come from another draw of the zoo's camera models


class OpenSetResult(BaseModel):
    n_unknown_cameras: int
    n_known_test: int
    n_unknown_test: int
    n_known_validation: int
    threshold: float  # the mean-over-seeds maximum probability below which a photo is called unknown
    auroc: Estimate
    false_attribution: Estimate  # unknown-camera photos still attributed to a known camera at the threshold
    false_rejection: Estimate  # known-camera test photos rejected at the threshold
    known_scores: list[float]
    unknown_scores: list[float]
    findings: list[Finding]


def unknown_camera_photos(run: Run):
    """Test photos of `open_set_cameras` virtual cameras that are not in the training set (built once)."""
    from ..zoo import build_zoo
    settings = run.settings
    folder = zoo_root(settings).with_name(zoo_root(settings).name + f"-unknown{settings.open_set_cameras}")
    frames = settings.open_set_cameras * settings.open_set_frames
    root = build_zoo(folder, profile=settings.profile, seed=settings.zoo_seed + UNKNOWN_ZOO_SEED_OFFSET,
                     difficulty=settings.zoo_difficulty, n_models=max(2, settings.open_set_cameras), train_per_model=1,
                     test_frames=frames + frames % 2)
    return [r for r in read_kaggle(root) if r.split == "test"]


def _scores(models: dict, records, classes, tta, run, desc) -> np.ndarray:
    """Maximum class probability of the seeds' mean probabilities, per readable record."""
    tables = [predict_records(model, records, classes, tta, progress=run.progress, desc=f"{desc}, seed {seed}")
              for seed, model in models.items()]
    columns = [f"p_{c}" for c in classes]
    readable = tables[0].error == ""
    mean = sum(t.loc[readable, columns].to_numpy(dtype=float) for t in tables) / len(tables)
    return max_probability(mean)


@stage(fields=("open_questions", "layout", "open_set_cameras", "open_set_frames", "open_set_keep", *STUDY),
       needs=("training",), chapters=("09_open_questions",))
def open_set(run: Run) -> OpenSetResult | None:
    """Chapter 15's stage (cached; None when switched off, or for real photos: no unknown cameras to render)."""
    if not switched_on(run, "open_set") or run.settings.layout != "zoo":
        return None
    settings, data = run.settings, run.data
    seeds, tta = settings.study_seeds, settings.tta_config("study")

    def compute():
        models = main_models(run, seeds)
        unknown = unknown_camera_photos(run)
        # The known cameras' validation photos: held out of every seed's training (its own split), so the
        # threshold is chosen on photos none of the models saw.
        held = set.intersection(*(set(r.path for r in stratified_split(data.train, settings.train_config().val_fraction,
                                                                        seed)[1]) for seed in seeds))
        validation = [r for r in data.train if r.path in held]
        known_val = _scores(models, validation, data.classes, tta, run, "known validation")
        known_test = _scores(models, data.test, data.classes, tta, run, "known test")
        unknown_test = _scores(models, unknown, data.classes, tta, run, "unknown cameras")
        threshold = threshold_at(known_val, settings.open_set_keep)
        separation = auroc(known_test, unknown_test)
        shifted = separation.model_copy(update={"value": separation.value - 0.5, "low": separation.low - 0.5,
                                                "high": separation.high - 0.5})
        attributed = false_attribution(unknown_test, threshold)
        findings = [finding("open_set", "The maximum class probability is lower on photos of cameras the model never saw",
                            f"AUROC of known ({len(known_test)}) against unknown-camera ({len(unknown_test)}) test photos, "
                            "minus 0.5 (no separation)", shifted, "greater")]
        return OpenSetResult(n_unknown_cameras=settings.open_set_cameras, n_known_test=len(known_test),
                             n_unknown_test=len(unknown_test), n_known_validation=len(known_val), threshold=threshold,
                             auroc=separation, false_attribution=attributed,
                             false_rejection=false_rejection(known_test, threshold),
                             known_scores=np.round(known_test, 5).tolist(), unknown_scores=np.round(unknown_test, 5).tolist(),
                             findings=gated(run, findings))

    return cached(run, "open_set", compute, OpenSetResult)
