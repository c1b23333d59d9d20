"""TTA views and the challenge metric."""
import numpy as np
import pandas as pd
import pytest
import torch

from camlib.infer import TTAConfig, crop_boxes, d4_views, identity_views, image_views, view_probabilities
from camlib.metrics import accuracy_metrics, confusion, weighted_accuracy


def test_weighted_accuracy_hand_computed():
    # 4 unaltered (3 right), 4 manipulated (1 right): 0.7 * 0.75 + 0.3 * 0.25 = 0.6
    correct = [1, 1, 1, 0, 1, 0, 0, 0]
    manipulated = [False] * 4 + [True] * 4
    assert weighted_accuracy(correct, manipulated) == pytest.approx(0.6)
    assert weighted_accuracy([1, 0], [False, False]) == pytest.approx(0.5)
    assert weighted_accuracy([0, 1], [True, True]) == pytest.approx(0.5)
    # unequal halves: per-image weights, normalised: (0.7*1 + 0.3*0 + 0.3*0) / (0.7 + 0.6)
    assert weighted_accuracy([1, 0, 0], [False, True, True]) == pytest.approx(0.7 / 1.3)


def test_accuracy_metrics_and_confusion():
    table = pd.DataFrame({"camera": ["a", "a", "b", "b"], "pred": ["a", "b", "b", "b"],
                          "manipulation": ["unalt", "jpg70", "unalt", "gamma0.8"], "error": ["", "", "", ""],
                          "crop_accuracy": [1.0, 0.0, 0.5, 1.0]})
    metrics = accuracy_metrics(table)
    assert metrics["accuracy_unalt"] == 1.0 and metrics["accuracy_manip"] == 0.5
    assert metrics["weighted_accuracy"] == pytest.approx(0.7 + 0.15)
    assert metrics["per_class"] == {"a": 0.5, "b": 1.0}
    matrix = confusion(table, ["a", "b"])
    assert matrix.loc["a", "b"] == 1 and matrix.to_numpy().sum() == 4


def test_crop_boxes_cover_the_image():
    boxes = crop_boxes(512, 512, TTAConfig(crop=128, crops="five"))
    assert len(boxes) == 5 and (384, 384, 128) in boxes and (0, 0, 128) in boxes
    assert len(crop_boxes(512, 600, TTAConfig(crop=128, crops="grid", grid_size=3))) == 9
    assert crop_boxes(100, 90, TTAConfig(crop=128, crops="center")) == [(5, 0, 90)]


def test_views_count_and_d4_content():
    image = (np.random.default_rng(0).random((256, 256, 3)) * 255).astype(np.uint8)
    tta = TTAConfig(crop=64, crops="five", transforms="d4")
    views = image_views(image, tta)
    assert views.shape == (40, 3, 64, 64) and tta.views_per_image == 40
    batch = torch.rand(1, 3, 8, 8)
    d4 = d4_views(batch, "d4")
    assert d4.shape[0] == 8 and len({tuple(v.flatten().tolist()) for v in d4}) == 8


def test_view_probabilities_chunking_is_exact():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()).eval()
    views = torch.rand(10, 3, 16, 16)
    one = view_probabilities(model, views, batch_size=10)
    chunked = view_probabilities(model, views, batch_size=3)
    assert one.shape == (10, 4) and torch.allclose(one, chunked, atol=1e-6)
    assert torch.allclose(one.sum(1), torch.ones(10))


def test_bad_tta_config():
    with pytest.raises(ValueError):
        TTAConfig(crops="seven")
    with pytest.raises(ValueError):
        TTAConfig(transforms="d8")


def test_identity_views_are_the_leading_unflipped_crops():
    image = (np.random.default_rng(1).random((200, 200, 3)) * 255).astype(np.uint8)
    tta = TTAConfig(crop=64, crops="grid", grid_size=3, transforms="flip")
    views = image_views(image, tta)
    assert identity_views(tta) == 9 and len(views) == 18
    assert torch.equal(views[:9], image_views(image, TTAConfig(crop=64, crops="grid", grid_size=3, transforms="none")))
