"""The seed's augmentation pipeline and the shared manipulations."""
import io
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from camlib import manipulations
from camlib.augment import AugmentConfig, applied_manipulations, augment, training_pipeline
from camlib.choices import NO_AUGMENTATION
from camlib.io import estimate_jpeg_quality


@pytest.fixture
def frame():
    return (np.random.default_rng(0).random((300, 400, 3)) * 255).astype(np.uint8)


def test_output_shape_dtype_and_range(frame):
    pipeline = training_pipeline(AugmentConfig(crop=64), seed=1)
    for _ in range(20):
        crop = augment(pipeline, frame)
        assert crop.shape == (64, 64, 3) and crop.dtype == np.uint8


def test_seeded_pipeline_is_reproducible(frame):
    pipeline = training_pipeline(AugmentConfig(crop=64))
    pipeline.set_random_seed(3)
    first = [augment(pipeline, frame) for _ in range(5)]
    pipeline.set_random_seed(3)
    assert all(np.array_equal(a, augment(pipeline, frame)) for a in first)


def test_no_augmentation_is_a_plain_crop(frame):
    pipeline = training_pipeline(AugmentConfig(crop=64, **NO_AUGMENTATION), seed=0)
    crop = augment(pipeline, frame)
    # a plain crop is a window of the original frame
    found = any(np.array_equal(crop, frame[t:t + 64, l:l + 64]) for t in range(0, 300 - 63) for l in range(0, 400 - 63))
    assert found


def test_each_piece_switches_off():
    config = AugmentConfig(crop=32, jpeg_range=None, gamma_range=None, recipe="writeup")
    names = [type(t).__name__ for t in training_pipeline(config).transforms]
    assert names == ["RandomCrop", "D4", "RandomResizeManip", "RandomCrop"]
    names = [type(t).__name__ for t in training_pipeline(AugmentConfig(crop=32, recipe="released")).transforms]
    assert names == ["RandomCrop", "ChallengeManip", "RandomCrop", "D4"]
    names = [type(t).__name__ for t in training_pipeline(AugmentConfig(crop=32, recipe="oneof")).transforms]
    assert "D4" in names and "OneOf" in names
    names = [type(t).__name__ for t in training_pipeline(AugmentConfig(crop=32, **NO_AUGMENTATION)).transforms]
    assert names == ["RandomCrop", "RandomCrop"]


def _rates(config, frame, draws=1200):
    """Share of crops that got each manipulation family, and the share that got none."""
    pipeline = training_pipeline(config, seed=5, save_applied_params=True)
    counts = Counter()
    for _ in range(draws):
        families = applied_manipulations(pipeline(image=frame)["applied_transforms"])
        counts.update(families or ["none"])
    return {name: counts[name] / draws for name in ("gamma", "jpeg", "resize", "none")}


def _close(rate, expected, draws=1200):
    return abs(rate - expected) < 4 * (expected * (1 - expected) / draws) ** 0.5 + 1e-9


def test_writeup_recipe_draws_each_manipulation_at_its_stated_rate():
    frame = (np.random.default_rng(1).random((200, 200, 3)) * 255).astype(np.uint8)
    rates = _rates(AugmentConfig(crop=32, recipe="writeup"), frame)
    # the write-up: gamma p 0.5 and JPEG p 0.5, independently; rescale every crop
    assert _close(rates["gamma"], 0.5) and _close(rates["jpeg"], 0.5) and rates["resize"] == 1.0


def test_released_recipe_draws_one_of_the_eight_test_operations():
    frame = (np.random.default_rng(1).random((200, 200, 3)) * 255).astype(np.uint8)
    rates = _rates(AugmentConfig(crop=32, recipe="released"), frame)
    # p 0.5 of one of 8 exact operations: 2 JPEG, 2 gamma, 4 resize
    assert _close(rates["none"], 0.5) and _close(rates["jpeg"], 0.125) and _close(rates["gamma"], 0.125)
    assert _close(rates["resize"], 0.25)


def test_oneof_recipe_gives_each_family_a_sixth():
    frame = (np.random.default_rng(1).random((200, 200, 3)) * 255).astype(np.uint8)
    rates = _rates(AugmentConfig(crop=32, recipe="oneof"), frame)
    assert _close(rates["none"], 0.5) and all(_close(rates[f], 1 / 6) for f in ("gamma", "jpeg", "resize"))


def test_grid_aligned_first_crop_starts_on_the_jpeg_grid():
    frame = np.zeros((203, 211, 3), np.uint8)
    frame[::8, ::8] = 255  # marks the grid
    config = AugmentConfig(crop=32, jpeg_aligned=True, d4=False, **{k: None for k in ("gamma_range", "jpeg_range", "scale_range")})
    pipeline = training_pipeline(config, seed=2, save_applied_params=True)
    for _ in range(30):
        first = pipeline.transforms[0](image=frame)["image"]
        assert first.shape == (64, 64, 3) and first[0, 0, 0] == 255 and first[0, 1, 0] == 0


def test_unknown_recipe_is_refused():
    with pytest.raises(ValueError, match="recipe"):
        AugmentConfig(recipe="mine")


def test_bad_parameters_raise():
    with pytest.raises(ValueError):
        training_pipeline(AugmentConfig(crop=64, jpeg_range=(95, 70)))
    with pytest.raises(ValueError):
        training_pipeline(AugmentConfig(crop=64, scale_range=(0, 2)))
    with pytest.raises(ValueError):
        training_pipeline(AugmentConfig(crop=64, interpolations=("magic",)))


@pytest.mark.parametrize("quality", [70, 90])
def test_jpeg_manipulation_uses_that_quality(frame, quality):
    with Image.open(io.BytesIO(manipulations.jpeg_bytes(frame, quality))) as image:
        assert estimate_jpeg_quality(image.quantization[0]) == quality
    assert not np.array_equal(manipulations.jpeg(frame, quality), frame)


@pytest.mark.parametrize("factor", [0.5, 0.8, 1.5, 2.0])
def test_resize_sizes(frame, factor):
    assert manipulations.resize(frame, factor).shape == (round(300 * factor), round(400 * factor), 3)


def test_gamma_is_the_power_law(frame):
    out = manipulations.gamma(frame, 1.2)
    expected = np.round(255 * (frame / 255.0) ** 1.2)
    assert np.abs(out.astype(int) - expected).max() <= 0
    assert np.array_equal(manipulations.gamma(frame, 1.0), frame)


def test_challenge_manipulation_names():
    assert len(manipulations.CHALLENGE_MANIPULATIONS) == 8
    with pytest.raises(ValueError):
        manipulations.challenge_manipulation(np.zeros((8, 8, 3), np.uint8), "jpg50")
