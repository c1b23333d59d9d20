"""Chapter 3: the training device's held-out photos against the second device (why the challenge used two)."""
from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from ..datasets import stratified_split
from ..infer import predict_records
from ..manipulations import center_crop
from ..outcomes import Outcome, outcome_from_predictions
from ..stats import Estimate, bootstrap, unpaired_difference
from ..train import TrainConfig
from .core import TTA, Run, cached
from .inputs import stage
from .robustness import CHALLENGE_CROP
from .training import main_configs, main_models


class DeviceGapResult(BaseModel):
    """Each seed's held-out training-device photos (its own validation split, never trained on) and the second
    device's unaltered photos, both scored with the main TTA after the same centre crop."""

    tta_config: dict
    center_crop: int
    same_device: list[Outcome]  # one per seed: the seeds hold out different photos
    other_device: Outcome  # every seed on the same unaltered test-device photos

    def same_device_accuracy(self) -> Estimate:
        return bootstrap(_pooled(self.same_device))

    def other_device_accuracy(self) -> Estimate:
        return bootstrap(self.other_device.correct())

    def gap(self) -> Estimate:
        """Same-device accuracy minus second-device accuracy (unpaired: other photos on each side)."""
        return unpaired_difference(_pooled(self.same_device), self.other_device.correct())


def _pooled(outcomes: list[Outcome]):
    """The 0/1 outcomes of every seed's own held-out photos, as one list (seeds hold out different photos)."""
    return np.concatenate([o.correct().ravel() for o in outcomes]) if outcomes else np.zeros(0)


@stage(fields=("test_center_crop", *TTA), needs=("training",), chapters=("03_tta_inference",))
def device_gap(run: Run) -> DeviceGapResult | None:
    """Chapter 3's device-gap stage (cached); None when the run has no separate test device."""
    settings, data = run.settings, run.data
    if data.test_is_holdout or not data.split_by_device or not data.test_unaltered:
        return None
    tta = settings.tta_config()
    side = settings.test_center_crop or CHALLENGE_CROP
    configs = main_configs(run)
    held = {seed: stratified_split(data.train, TrainConfig.val_fraction, seed)[1] for seed in configs}

    def crop(image):
        return center_crop(image, side) if min(image.shape[:2]) > side else image

    def compute():
        models = main_models(run)
        same = [outcome_from_predictions(f"main model, training device (seed {seed}'s held-out photos)", data.classes, {
            seed: predict_records(model, held[seed], data.classes, tta, manipulate=crop, progress=run.progress,
                                  desc=f"held-out, seed {seed}")}, root=data.root) for seed, model in models.items() if held[seed]]
        other = outcome_from_predictions("main model, second device (unaltered)", data.classes, {
            seed: predict_records(model, data.test_unaltered, data.classes, tta, manipulate=crop, progress=run.progress,
                                  desc=f"second device, seed {seed}") for seed, model in models.items()}, root=data.root)
        return DeviceGapResult(tta_config=tta.to_dict(), center_crop=side, same_device=same, other_device=other)

    return cached(run, "device_gap", compute, DeviceGapResult)
