"""The seed's augmentation pipeline and the shared manipulations."""
import io

import numpy as np
import pytest
from PIL import Image

from camlib import manipulations
from camlib.augment import NO_AUGMENTATION, AugmentConfig, augment, training_pipeline
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
    config = AugmentConfig(crop=32, jpeg_range=None, gamma_range=None)
    names = [type(t).__name__ for t in training_pipeline(config).transforms]
    assert "D4" in names and "OneOf" in names
    names = [type(t).__name__ for t in training_pipeline(AugmentConfig(crop=32, **NO_AUGMENTATION)).transforms]
    assert names == ["RandomCrop", "RandomCrop"]


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
