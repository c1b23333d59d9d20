"""Tests of the residual-statistics baseline on synthetic 'cameras'."""
from __future__ import annotations

import cv2
import numpy as np
from camlib.io import read_image
import pytest
from PIL import Image

from camlib.baseline import (
    FEATURE_NAMES, FEATURE_SETS, BaselineModel, crop_positions, evaluate_baseline, fit_baseline, predict_baseline,
    residual_features, sample_crops,
)
from camlib.datasets import Record, class_names
from camlib.manipulations import jpeg

SIZE, CROP = 128, 64


def scene(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """Smooth colour field with a few hard-edged rectangles and mild sensor noise."""
    field = cv2.resize(rng.uniform(0, 255, (6, 6, 3)), (size, size), interpolation=cv2.INTER_CUBIC)
    for _ in range(4):
        top, left = rng.integers(0, size - 16, 2)
        height, width = rng.integers(8, 48, 2)
        field[top:top + height, left:left + width] = rng.uniform(0, 255, 3)
    field += rng.normal(0, 3, field.shape)
    return np.clip(field, 0, 255)


def soft(raw):
    return np.clip(np.rint(cv2.GaussianBlur(raw, (0, 0), 1.0)), 0, 255).astype(np.uint8)


def sharp(raw):
    return np.clip(np.rint(2 * raw - cv2.GaussianBlur(raw, (0, 0), 1.0)), 0, 255).astype(np.uint8)


def compressed(raw):
    return jpeg(np.clip(np.rint(raw), 0, 255).astype(np.uint8), 60)


CAMERAS = {"soft": soft, "sharp": sharp, "jpeg60": compressed}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """16 training and 10 test PNGs per synthetic camera, each from its own random scene."""
    root = tmp_path_factory.mktemp("cameras")
    rng = np.random.default_rng(123)
    records = []
    for camera, process in CAMERAS.items():
        (root / camera).mkdir()
        for index in range(26):
            path = root / camera / f"{index:02d}.png"
            Image.fromarray(process(scene(rng))).save(path)
            split = "train" if index < 16 else "test"
            records.append(Record(str(path), camera, None, split, None if split == "train" else "unalt"))
    return records


@pytest.fixture(scope="module")
def fitted(dataset):
    train = [r for r in dataset if r.split == "train"]
    return fit_baseline(train, class_names(dataset), crop_size=CROP, crops_per_image=4, max_iter=60, progress=False)


def test_features_fixed_length_finite_and_deterministic():
    rng = np.random.default_rng(0)
    image = soft(scene(rng, 96))
    first, second = residual_features(image), residual_features(image.copy())
    assert first.dtype == np.float32 and first.shape == (len(FEATURE_NAMES),)
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert np.isfinite(first).all()
    assert first.tobytes() == second.tobytes()
    flat = residual_features(np.full((40, 50, 3), 128, np.uint8))
    assert flat.shape == first.shape and np.isfinite(flat).all()
    with pytest.raises(ValueError, match="smaller"):
        residual_features(np.zeros((8, 8, 3), np.uint8))


def test_quantile_features_match_numpy():
    image = np.random.default_rng(1).integers(0, 256, (40, 72, 3), dtype=np.uint8)
    features = dict(zip(FEATURE_NAMES, residual_features(image)))
    median_residual = image[..., 1].astype(np.float64) - cv2.medianBlur(image, 3)[..., 1]
    for q in (1, 25, 50, 99):
        assert features[f"median_G_q{q:02d}"] == pytest.approx(np.percentile(median_residual, q), abs=1e-5)


def test_phase_and_block_features_see_cfa_and_jpeg_traces():
    rng = np.random.default_rng(2)
    base = np.full((64, 64, 3), 120.0)
    noisy_phase = base.copy()
    noisy_phase[0::2, 0::2] += rng.normal(0, 8, (32, 32, 3))  # only one CFA site carries noise
    features = dict(zip(FEATURE_NAMES, residual_features(np.clip(noisy_phase, 0, 255).astype(np.uint8))))
    assert features["laplace_G_phase00"] > 1.5 * features["laplace_G_phase11"]

    smooth = soft(scene(rng))
    block = FEATURE_NAMES.index("laplace_G_block8_h")
    assert residual_features(jpeg(smooth, 30))[block] > residual_features(smooth)[block] + 0.1


def test_crops_random_grid_and_small_images():
    image = np.arange(300 * 200 * 3, dtype=np.uint32).reshape(300, 200, 3).astype(np.uint8)
    crops = sample_crops(image, 64, 5, np.random.default_rng(0))
    assert len(crops) == 5 and all(c.shape == (64, 64, 3) for c in crops)
    again = crop_positions(image.shape, 64, 5, np.random.default_rng(0))
    assert again == crop_positions(image.shape, 64, 5, np.random.default_rng(0))
    assert all(top % 8 == 0 and left % 8 == 0 for top, left in again)
    grid = crop_positions(image.shape, 64, 4)
    assert grid == crop_positions(image.shape, 64, 4) and len(grid) == 4
    assert all(top + 64 <= 300 and left + 64 <= 200 for top, left in grid)
    small = np.zeros((40, 30, 3), np.uint8)
    assert [c.shape for c in sample_crops(small, 64, 4)] == [(40, 30, 3)]
    assert [c.shape for c in sample_crops(small, 64, 4, np.random.default_rng(0))] == [(40, 30, 3)]


def test_baseline_separates_synthetic_cameras(dataset, fitted):
    test = [r for r in dataset if r.split == "test"]
    frame = predict_baseline(fitted, test, progress=False)
    assert isinstance(fitted, BaselineModel) and fitted.skipped == []
    assert list(frame.columns[:6]) == ["path", "camera", "manipulation", "pred", "confidence", "error"]
    assert [f"p_{c}" for c in fitted.classes] == list(frame.columns[6:])
    probabilities = frame[[f"p_{c}" for c in fitted.classes]].to_numpy()
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    accuracy = (frame.pred == frame.camera).mean()
    assert accuracy > 0.8, f"accuracy {accuracy:.2f} on 3 synthetic cameras"


def test_fit_and_predict_are_deterministic_across_runs_and_jobs(dataset, fitted):
    train = [r for r in dataset if r.split == "train"]
    test = [r for r in dataset if r.split == "test"][::3]
    refit = fit_baseline(train, fitted.classes, crop_size=CROP, crops_per_image=4, max_iter=60, progress=False, n_jobs=2)
    columns = [f"p_{c}" for c in fitted.classes]
    first = predict_baseline(fitted, test, progress=False)[columns].to_numpy()
    second = predict_baseline(refit, test, progress=False, n_jobs=2)[columns].to_numpy()
    assert first.tobytes() == second.tobytes()


def test_unreadable_files_are_skipped_with_reason(dataset, fitted, tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not an image")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "tiny.png")
    bad = [Record(str(tmp_path / name), "soft") for name in ("empty.png", "text.jpg", "missing.png", "tiny.png")]
    train = [r for r in dataset if r.split == "train"][::2] + bad
    model = fit_baseline(train, fitted.classes, crop_size=CROP, crops_per_image=2, max_iter=10, progress=False)
    assert len(model.skipped) == 4
    assert all(line.startswith(r.path + ": ") for line, r in zip(model.skipped, bad))
    frame = predict_baseline(model, bad + dataset[-1:], progress=False)
    assert (frame.error.iloc[:4] != "").all() and frame.pred.iloc[:4].isna().all()
    assert frame.error.iloc[4] == "" and frame.pred.iloc[4] in fitted.classes


def test_feature_sets_and_evaluation(dataset, fitted):
    seed_names = [FEATURE_NAMES[i] for i in FEATURE_SETS["seed"]]
    assert fitted.feature_set == "seed" and fitted.feature_names == seed_names
    assert not any("phase" in n or "block8" in n for n in seed_names) and len(FEATURE_SETS["extended"]) == len(FEATURE_NAMES)
    train = [r for r in dataset if r.split == "train"]
    test = [r for r in dataset if r.split == "test"]
    scores = evaluate_baseline(train, test, fitted.classes, crop_size=CROP, crops_per_image=4, max_iter=60, progress=False)
    assert scores["skipped"] == [] and scores["n_features"] == {"seed": len(seed_names), "extended": len(FEATURE_NAMES)}
    assert ("seed", "augmented") not in scores  # augmented training only when an augmentation is given
    # the shared feature pass gives what fit_baseline + predict_baseline give on their own
    alone = predict_baseline(fitted, test, progress=False)
    assert list(scores[("seed", "plain")].pred) == list(alone.pred)
    with pytest.raises(ValueError, match="unknown feature set"):
        fit_baseline(train, fitted.classes, crop_size=CROP, feature_set="everything", progress=False)


def test_augmented_training_crops_are_manipulated_like_the_cnns(dataset, fitted):
    from camlib.augment import AugmentConfig
    from camlib.baseline import manipulated_crops
    image = read_image([r for r in dataset if r.split == "train"][0].path)
    always_jpeg = AugmentConfig(crop=CROP, manipulation_prob=1.0, gamma_range=None, scale_range=None, jpeg_range=(30, 30))
    crops = manipulated_crops(image, CROP, 3, np.random.default_rng(0), always_jpeg)
    plain = manipulated_crops(image, CROP, 3, np.random.default_rng(0), AugmentConfig(crop=CROP, manipulation_prob=0.0))
    assert all(c.shape == (CROP, CROP, 3) for c in crops + plain)
    assert all(not np.array_equal(a, b) for a, b in zip(crops, plain))  # JPEG q30 changed every crop
    train = [r for r in dataset if r.split == "train"]
    test = [r for r in dataset if r.split == "test"]
    scores = evaluate_baseline(train, test, fitted.classes, crop_size=CROP, crops_per_image=2, max_iter=20,
                               augment=AugmentConfig(crop=CROP), progress=False)
    assert {("seed", "plain"), ("seed", "augmented"), ("extended", "plain"), ("extended", "augmented")} <= set(scores)
