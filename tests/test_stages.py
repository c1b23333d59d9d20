"""Chapters as stages: typed results that survive their cache, replicates on fixed data, and models that did not
learn flagged instead of presented as results."""
import json

import pandas as pd
import pytest

from camlib.augment import AugmentConfig
from camlib.claims import _problems, augmentation_claim
from camlib.datasets import class_names, read_kaggle
from camlib.metrics import majority_chance
from camlib.outcomes import outcome_from_predictions
from camlib.rundata import zoo_root
from camlib.settings import resolve
from camlib.stages import Run, cached, load
from camlib.stages.core import summarise
from camlib.stages.inference import InferenceResult
from camlib.stages.robustness import RobustnessResult
from camlib.train import TrainConfig, train
from camlib import summary


def test_training_seeds_share_the_zoo_and_zoo_seed_changes_it():
    roots = {zoo_root(resolve("cpu", {"seed": seed})) for seed in (0, 1, 2)}
    assert len(roots) == 1  # seeds 0, 1 and 2 train on the same zoo files
    assert zoo_root(resolve("cpu", {"zoo_seed": 1})) not in roots
    settings = resolve("cpu", {"seed": 4, "replicates": 3, "study_replicates": 2})
    assert settings.seeds == [4, 5, 6] and settings.study_seeds == [4, 5]
    configs = [settings.train_config(seed=s) for s in settings.seeds]
    assert len({c.identity() for c in configs}) == 3 and len({c.data for c in configs}) == 1


def _predictions(records, classes, right):
    rows = []
    for record, ok in zip(records, right):
        pred = record.camera if ok else next(c for c in classes if c != record.camera)
        rows.append({"path": record.path, "camera": record.camera, "manipulation": record.manipulation, "pred": pred,
                     "confidence": 0.9, "error": "", **{f"p_{c}": float(c == pred) for c in classes}})
    return pd.DataFrame(rows)


def test_a_stage_result_survives_its_cache(toy_cameras, tmp_path):
    records = read_kaggle(toy_cameras)
    classes, test = class_names(records), [r for r in records if r.split == "test"]
    outcome = outcome_from_predictions("m", classes, {0: _predictions(test, classes, [True, False] * 5)},
                                       keep_probabilities=True, root=toy_cameras)
    result = InferenceResult(tta_config={"crops": "grid"}, tta=outcome, crops_only=None, single_crop=outcome)
    values = {"layout": "kaggle", "data_dir": str(toy_cameras), "run_dir": str(tmp_path)}
    run = Run(resolve("smoke", values), progress=False)
    calls = []
    first = cached(run, "inference", lambda: calls.append(1) or result, InferenceResult)
    again = cached(run, "inference", lambda: calls.append(1) or result, InferenceResult)
    assert calls == [1] and first == again == result  # computed once, read back equal
    assert again.tta.scores() == result.tta.scores()
    other = Run(resolve("smoke", {**values, "tta_grid": 3}), progress=False)
    assert load(other, "inference", InferenceResult) is None  # other parameters: not reused
    stored = json.loads((tmp_path / "stages" / "inference.json").read_text())
    assert stored["params"]["fields"]["tta_grid"] == run.settings.tta_grid and "seconds" in stored
    assert load(run, "inference", RobustnessResult) is None  # another format: recomputed, not misread


def test_a_model_that_stays_at_chance_is_flagged_and_its_claims_not_testable(toy_cameras, tmp_path):
    records = read_kaggle(toy_cameras)
    classes = class_names(records)
    train_records, test = [r for r in records if r.split == "train"], [r for r in records if r.split == "test"]
    frozen = TrainConfig(epochs=1, batch_size=8, crops_per_image=4, lr=0.0, lr_min=0.0, schedule="constant",
                         weights="none", augment=AugmentConfig(crop=48), val_fraction=0.0)
    result = train(train_records, classes, frozen, tmp_path / "lr0", eval_records=test, progress=False)
    summary_row = summarise("main model", "main", result, frozen, len(classes), len(train_records),
                            chance=majority_chance([r.camera for r in test]))
    assert not summary_row.learned and "did not learn" in summary_row.problem()
    assert summary_row.final_train_loss > 0.85 * summary_row.chance_loss
    good = summary_row.model_copy(update={"learned": True, "seed": 1})
    assert _problems([summary_row, good]).startswith("main model (seed 0) did not learn")
    outcome = outcome_from_predictions("m", classes, {0: _predictions(test, classes, [True] * 10)}, root=toy_cameras)
    inference = InferenceResult(tta_config={}, tta=outcome, crops_only=None, single_crop=outcome)
    robust = RobustnessResult(noaug_models=[good], noaug=outcome, training_ranges={}, images_per_class=1, sweep_seeds=[0],
                              points=[])
    claim = augmentation_claim(inference, robust, [summary_row])
    assert claim.verdict == "not testable" and "did not learn" in claim.note


def test_the_schema_file_is_in_sync():
    from pathlib import Path
    stored = json.loads((Path(__file__).resolve().parents[1] / summary.SCHEMA_FILE).read_text())
    assert stored == json.loads(json.dumps(summary.schema(), sort_keys=True))
    assert "weighted_accuracy" in json.dumps(stored) and "claims" in stored["properties"]


@pytest.mark.parametrize("path", ["reports/camera-model-identification.metrics.json"])
def test_the_committed_report_metrics_fit_the_schema(path):
    from pathlib import Path
    file = Path(__file__).resolve().parents[1] / path
    if not file.exists():
        pytest.skip(f"{path} not committed yet")
    metrics = summary.read_metrics(file)
    settings = metrics.settings
    assert metrics.main is not None and len(metrics.main.seeds) == settings["replicates"] >= 2
