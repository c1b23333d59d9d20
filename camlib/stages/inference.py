"""Chapter 3: the main model's replicates on the test device, with TTA, without its flips, and from one crop."""
from __future__ import annotations

from pydantic import BaseModel

from ..infer import TTAConfig, identity_views, predict_records, write_predictions, write_submission
from ..outcomes import Outcome, outcome_from_predictions
from .core import TTA, Run, cached
from .inputs import stage
from .training import main_models


class InferenceResult(BaseModel):
    """Per-image outcomes of the main model (every seed) on the labelled test images.

    tta: the run's TTA (crops x transforms); crops_only: the same crops without the flips/rotations (equal
    coverage: what averaging augmented views adds); single_crop: one centre crop (what covering more of the
    image adds)."""

    tta_config: dict
    tta: Outcome
    crops_only: Outcome | None  # None when the TTA has no transforms
    single_crop: Outcome
    n_unlabelled: int = 0


@stage(fields=TTA, needs=("training",), chapters=("03_tta_inference", "08_baseline"))
def inference(run: Run) -> InferenceResult:
    """Chapter 3's stage: score the test device; writes predictions.csv and submission.csv (seed ensemble)."""
    settings, data = run.settings, run.data
    tta = settings.tta_config()

    def compute():
        models = main_models(run)
        subsets = {"tta": None}
        if tta.transforms != "none":
            subsets["crops_only"] = identity_views(tta)
        single = TTAConfig(crop=tta.crop, crops="center", transforms="none", batch_size=tta.batch_size)
        tables = {name: {} for name in (*subsets, "single_crop")}
        for seed, model in models.items():
            for name, table in predict_records(model, data.test, data.classes, tta, progress=run.progress,
                                               desc=f"TTA seed {seed}", view_subsets=subsets).items():
                tables[name][seed] = table
            tables["single_crop"][seed] = predict_records(model, data.test, data.classes, single, progress=run.progress,
                                                          desc=f"one crop, seed {seed}")
        labels = {"tta": f"main model, TTA ({_views(tta)})", "crops_only": f"main model, the same {_crops(tta)} without flips",
                  "single_crop": f"main model, one {tta.crop} px centre crop"}
        outcomes = {name: outcome_from_predictions(labels[name], data.classes, by_seed, keep_probabilities=name == "tta",
                                                   root=data.root) for name, by_seed in tables.items()}
        write_predictions(mean_table(list(tables["tta"].values()), data.classes), run.path / "predictions.csv")
        if data.test_unlabelled:  # e.g. Kaggle's test folder: a submission from the seeds' mean probabilities
            unlabelled = [predict_records(model, data.test_unlabelled, data.classes, tta, progress=run.progress,
                                          desc=f"unlabelled, seed {seed}") for seed, model in models.items()]
            write_submission(mean_table(unlabelled, data.classes), run.path / "submission.csv")
        return InferenceResult(tta_config=tta.to_dict(), tta=outcomes["tta"], crops_only=outcomes.get("crops_only"),
                               single_crop=outcomes["single_crop"], n_unlabelled=len(data.test_unlabelled))

    return cached(run, "inference", compute, InferenceResult)


def _crops(tta: TTAConfig) -> str:
    return {"center": "centre crop", "five": "five crops", "full": "whole image",
            "grid": f"{tta.grid_size}x{tta.grid_size} grid crops"}[tta.crops]


def _views(tta: TTAConfig) -> str:
    transforms = {"none": "", "flip": " x flip", "d4": " x 8 rotations/flips"}[tta.transforms]
    return f"{_crops(tta)}{transforms} of {tta.crop} px"


def mean_table(tables: list, classes):
    """One prediction table from several seeds' tables of the same images: mean probabilities, their argmax."""
    columns = [f"p_{c}" for c in classes]
    table = tables[0].copy()
    if not len(table):
        return table
    mean = sum(t[columns].fillna(0.0) for t in tables) / len(tables)
    readable = table.error == ""
    table[columns] = mean
    table.loc[readable, "pred"] = mean[readable].idxmax(axis=1).str.removeprefix("p_")
    table.loc[readable, "confidence"] = mean[readable].max(axis=1)
    return table
