"""Real photos: the other way round. The main run trains on each camera's first device and tests on the others;
this fold trains on the others and tests on the first, so every device is a test device once."""
from __future__ import annotations

from dataclasses import replace

from pydantic import BaseModel

from ..datasets import Record
from ..infer import predict_records
from ..outcomes import Outcome, outcome_from_predictions
from ..train import load_model
from .core import TTA, ModelSummary, Run, cached
from .inputs import stage
from .training import main_configs, train_replicates


class DeviceFoldResult(BaseModel):
    """The swapped fold: trained on the test devices of the main run, scored on its training devices."""

    train_devices: dict[str, list[str]]  # camera -> devices trained on
    test_devices: dict[str, list[str]]
    models: list[ModelSummary]
    outcome: Outcome


def swapped_split(run: Run) -> tuple[list[Record], list[Record]] | None:
    """(training, test) records of the swapped fold, or None when no camera has photos of two devices."""
    data = run.data
    if not data.split_by_device or data.test_is_holdout:
        return None
    train = [replace(r, split="train", manipulation=None) for r in data.test]
    test = [replace(r, split="test", manipulation="unalt") for r in data.train]
    if {r.camera for r in train} != set(data.classes):
        return None
    return train, test


@stage(fields=("layout", *TTA), needs=("training",), chapters=("03_tta_inference",))
def device_folds(run: Run) -> DeviceFoldResult | None:
    """The swapped fold's stage for real photos split by device (None for the zoo or a random split)."""
    if run.settings.layout == "zoo":
        return None
    split = swapped_split(run)
    if split is None:
        return None
    train, test = split
    settings, data = run.settings, run.data
    configs = main_configs(run)

    def compute():
        summaries = train_replicates(run, "swapped", "main recipe, devices swapped", configs, train, eval_records=test)
        tables = {}
        for summary in summaries:
            model = load_model(summary.checkpoint, data.classes)
            tables[summary.seed] = predict_records(model, test, data.classes, settings.tta_config(), progress=run.progress,
                                                   desc=f"swapped fold, seed {summary.seed}")
        devices = lambda records: {c: sorted({str(r.device) for r in records if r.camera == c}) for c in data.classes}  # noqa: E731
        return DeviceFoldResult(train_devices=devices(train), test_devices=devices(test), models=summaries,
                                outcome=outcome_from_predictions("main recipe, devices swapped", data.classes, tables,
                                                                 keep_probabilities=True, root=data.root))

    return cached(run, "device_folds", compute, DeviceFoldResult)
