"""Saliency maps of a tiny model, the texture map, and flat versus textured crop boxes."""
import numpy as np
import pytest
import torch

from camlib.models import create_model
from camlib.saliency import flat_and_textured_boxes, gradient_saliency, texture_map


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return create_model("efficientnet_lite0", 3, "none", classes=["a", "b", "c"])


def random_crops(n=2, side=32, seed=0):
    return (np.random.default_rng(seed).random((n, side, side, 3)) * 255).astype(np.uint8)


def test_saliency_maps_have_the_crop_shape_and_are_non_negative(tiny_model):
    tiny_model.train()  # gradient_saliency must switch to eval mode itself
    maps = gradient_saliency(tiny_model, random_crops(n=2, side=40), [0, 2])
    assert maps.shape == (2, 40, 40) and maps.dtype == np.float32
    assert (maps >= 0).all() and (maps > 0).any(axis=(1, 2)).all()
    assert not tiny_model.training
    assert all(p.grad is None for p in tiny_model.parameters())


def test_saliency_depends_on_the_target_and_matches_a_single_crop(tiny_model):
    crops = random_crops(n=2, side=32, seed=1)
    both = gradient_saliency(tiny_model, crops, [0, 1])
    alone = gradient_saliency(tiny_model, crops[1:], [1])
    # An untrained network's gradients are tiny (about 1e-10), so the tolerances are relative to the map's scale.
    scale = both.max()
    np.testing.assert_allclose(both[1], alone[0], rtol=1e-3, atol=1e-3 * scale)  # crops do not leak into each other
    other_target = gradient_saliency(tiny_model, crops[:1], [2])
    assert np.abs(both[0] - other_target[0]).max() > 0.05 * scale


@pytest.mark.parametrize("crops, targets, words", [
    (np.zeros((2, 32, 32, 3), np.float32), [0, 1], "uint8"),
    (np.zeros((2, 32, 32), np.uint8), [0, 1], "uint8"),
    (np.zeros((2, 32, 32, 3), np.uint8), [0], "one integer per crop"),
    (np.zeros((2, 32, 32, 3), np.uint8), [0, 3], r"\[0, 3\)"),
])
def test_saliency_refuses_bad_input(tiny_model, crops, targets, words):
    with pytest.raises(ValueError, match=words) as error:
        gradient_saliency(tiny_model, crops, targets)
    assert "\n" not in str(error.value)


def half_flat_half_textured(height=64, width=128, seed=0):
    """Grey 128 on the left half, strong random texture (blocks of 2 px, survive the blur) on the right."""
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 128, np.uint8)
    blocks = rng.integers(0, 256, (height // 2, width // 4, 1)).repeat(2, 0).repeat(2, 1).repeat(3, 2)
    image[:, width // 2:] = blocks
    return image


def test_texture_map_is_zero_where_flat_and_high_where_textured():
    texture = texture_map(half_flat_half_textured())
    assert texture.shape == (64, 128)
    assert texture[:, :50].max() < 1e-3 and texture[:, 70:].mean() > 20


def test_flat_boxes_lie_left_and_textured_boxes_right():
    image = half_flat_half_textured()
    flat, textured = flat_and_textured_boxes(image, crop=16, n=4)
    assert len(flat) == len(textured) == 4
    assert all(left + side <= 64 for _, left, side in flat), flat
    assert all(left >= 64 for _, left, _ in textured), textured
    assert all(side == 16 for _, _, side in flat + textured)
    tiles = flat + textured
    for i, (top_a, left_a, side) in enumerate(tiles):  # no two boxes overlap
        for top_b, left_b, _ in tiles[i + 1:]:
            assert abs(top_a - top_b) >= side or abs(left_a - left_b) >= side


def test_boxes_refuse_a_crop_or_count_that_does_not_fit():
    image = half_flat_half_textured()
    with pytest.raises(ValueError, match="crop"):
        flat_and_textured_boxes(image, crop=100, n=1)
    with pytest.raises(ValueError, match="n must be"):
        flat_and_textured_boxes(image, crop=32, n=5)  # 2 x 4 tiles: at most 4 per side
