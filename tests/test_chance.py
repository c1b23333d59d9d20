"""Chance is the majority class's share of the scored images, in every "better than chance" test."""
import importlib
import math

import numpy as np
import pandas as pd
import pytest

from camlib.manipulations import CHALLENGE_MANIPULATIONS
from camlib.metrics import majority_chance
from camlib.outcomes import Outcome
from camlib.stages.core import summarise
from camlib.train import TrainConfig, TrainResult

head = importlib.import_module("camlib.stages.manipulation_head")  # the package exports the stage function by this name


def test_majority_chance_is_the_most_frequent_label_share():
    assert majority_chance(["a", "a", "a", "b"]) == 0.75
    assert majority_chance(["a", "b", "c", "d"]) == 0.25  # balanced: one over the classes
    assert majority_chance(["a", None, "a", "b"]) == pytest.approx(2 / 3)  # unlabelled images are not scored
    assert math.isnan(majority_chance([]))


def _head_outcome(answer: str) -> Outcome:
    """The challenge's test set in miniature: each of the 8 operations once, and as many unaltered images; a head
    that always gives `answer`."""
    manipulations = ["unalt"] * len(CHALLENGE_MANIPULATIONS) + list(CHALLENGE_MANIPULATIONS)
    truth = [head.test_family(m) for m in manipulations]
    return Outcome(label="head", classes=head.FAMILIES, seeds=[0], images=[f"{i}.jpg" for i in range(len(truth))],
                   cameras=truth, manipulations=manipulations, predictions=[[head.FAMILIES.index(answer)] * len(truth)])


def test_manipulation_head_chance_is_the_majority_family():
    outcome = _head_outcome("resize")
    manipulated = outcome.subset([m != "unalt" for m in outcome.manipulations])
    assert sorted(set(manipulated.cameras)) == ["gamma", "jpeg", "resize"]
    assert manipulated.chance() == 0.5  # resize is 4 of the 8 test operations, not 1 in 4 families
    rows = dict(zip(["manipulated", "all"], head._findings(outcome)[:2]))
    # Always answering 'resize' is right on half the manipulated images: exactly chance, so no better than it.
    assert rows["manipulated"].difference.value == pytest.approx(0.0)
    assert rows["manipulated"].verdict != "supported" and "0.50" in rows["manipulated"].test
    assert rows["all"].difference.value == pytest.approx(0.25 - 0.5)  # resize: 4 of 16; chance: 'unaltered', 8 of 16


def _trained(accuracy: float, n_images: int) -> TrainResult:
    history = pd.DataFrame([{"epoch": 1, "train_loss": 0.1, "train_accuracy": 0.99, "lr_end": 1e-5, "images_per_s": 10.0,
                             "train_seconds": 1.0, "test_accuracy": accuracy, "test_images": n_images}])
    return TrainResult(model=None, history=history, steps=pd.DataFrame({"step": [0]}), checkpoint="final.pt",
                       out_dir=".", skipped=[], seconds=1.0)


def test_learned_needs_accuracy_above_the_majority_share_not_one_over_classes():
    config = TrainConfig(epochs=1, batch_size=4, crops_per_image=4)
    result = _trained(accuracy=0.62, n_images=400)  # Wilson lower end about 0.57
    balanced = summarise("m", "main", result, config, n_classes=2, n_train=10, chance=0.5)
    skewed = summarise("m", "main", result, config, n_classes=2, n_train=10, chance=0.7)  # 70% of one camera
    assert balanced.learned and balanced.chance == 0.5
    assert not skewed.learned and skewed.chance == 0.7
    assert np.isclose(skewed.chance_loss, math.log(2))
