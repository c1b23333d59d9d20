"""PRNU device fingerprints on synthetic sensors (and on the real Dresden sample when present)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from camlib.datasets import Record, load_records
from camlib.prnu import (
    center_gray, correlation, fingerprint, fit_prnu, noise_residual, pce, predict_prnu, wiener_spectrum,
    zero_mean_rows_columns,
)

SIDE = 128  # synthetic frames and crop


def scene(rng, side: int = SIDE) -> np.ndarray:
    """A smooth random RGB scene with some texture, grey levels about 40-200."""
    low = rng.random((12, 12, 3)).astype(np.float32)
    base = cv2.resize(low, (side, side), interpolation=cv2.INTER_CUBIC)
    return 40 + 160 * np.clip(base, 0, 1)


def photo(rng, pattern=None, noise: float = 3.0, side: int = SIDE) -> np.ndarray:
    """scene x (1 + K) + noise, as uint8 RGB: what a sensor with PRNU pattern K records."""
    light = scene(rng, side)
    if pattern is not None:
        light = light * (1 + pattern[..., None])
    return np.clip(np.round(light + rng.normal(0, noise, light.shape)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def sensors():
    rng = np.random.default_rng(0)
    return {name: rng.normal(0, 0.01, (SIDE, SIDE)).astype(np.float32) for name in ("cam-a/0", "cam-b/0")}


def test_fingerprint_recovers_the_sensor_pattern(sensors):
    rng = np.random.default_rng(1)
    estimate = fingerprint([photo(rng, sensors["cam-a/0"]) for _ in range(8)], crop=SIDE)
    assert estimate.shape == (SIDE, SIDE)
    assert correlation(estimate, sensors["cam-a/0"]) > 0.6
    assert abs(correlation(estimate, sensors["cam-b/0"])) < 0.05


def test_the_right_device_wins_and_a_patternless_photo_scores_near_zero(sensors):
    rng = np.random.default_rng(2)
    fingerprints = {name: fingerprint([photo(rng, k) for _ in range(8)], crop=SIDE) for name, k in sensors.items()}
    for name, pattern in sensors.items():
        for _ in range(3):
            image = photo(rng, pattern)
            gray = center_gray(image, SIDE)
            residual = noise_residual(gray)
            scores = {other: correlation(residual, gray * k) for other, k in fingerprints.items()}
            assert max(scores, key=scores.get) == name
            assert scores[name] > 0.3
            assert all(abs(s) < 0.05 for other, s in scores.items() if other != name)  # null std ~ 1/128
            assert pce(residual, gray * fingerprints[name]) > 60
    for _ in range(3):
        gray = center_gray(photo(rng, None), SIDE)
        residual = noise_residual(gray)
        assert all(abs(correlation(residual, gray * k)) < 0.05 for k in fingerprints.values())
        assert pce(residual, gray * fingerprints["cam-a/0"]) < 30


def test_zero_mean_rows_columns_per_cfa_phase():
    rng = np.random.default_rng(3)
    stripes = rng.normal(0, 1, (64, 64)) + np.arange(64)[:, None] % 2 * 5 + rng.normal(0, 3, 64)[None, :]
    cleaned = zero_mean_rows_columns(stripes)
    for dy in (0, 1):
        for dx in (0, 1):
            phase = cleaned[dy::2, dx::2]
            assert np.abs(phase.mean(axis=0)).max() < 1e-4 and np.abs(phase.mean(axis=1)).max() < 1e-4
    assert cleaned.std() < 1.1  # the stripes (std ~ 4) are gone, the noise (std 1) stays


def test_wiener_spectrum_removes_periodic_artefacts_keeps_noise():
    rng = np.random.default_rng(4)
    noise = rng.normal(0, 1, (128, 128)).astype(np.float32)
    blocks = np.tile(np.float32([[3, -3, 0, 0, 0, 0, 0, 0]]), (128, 16))  # an 8-px period, like JPEG blocks
    flattened = wiener_spectrum(noise + blocks)
    assert abs(correlation(flattened, blocks)) < 0.2 < correlation(noise + blocks, blocks)
    assert correlation(flattened, noise) > 0.9


def test_center_gray_needs_a_large_enough_image():
    with pytest.raises(ValueError, match="^100x80 is smaller than the 128px PRNU crop$"):
        center_gray(np.zeros((80, 100, 3), np.uint8), 128)
    image = np.zeros((132, 134, 3), np.uint8)  # centred, the crop would start at row 2, column 3
    image[2, 2] = 255  # it starts at (2, 2) instead: even offsets keep the 2x2 colour-filter phase
    crop = center_gray(image, 128)
    assert crop.shape == (128, 128) and crop[0, 0] == pytest.approx(255) and crop.sum() == pytest.approx(255)


def _save(path, image) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)  # PNG: lossless, so the test is about PRNU, not JPEG
    return str(path)


def test_fit_and_predict_on_files(tmp_path, sensors):
    rng = np.random.default_rng(5)
    # cam-a has two devices: its score is the better of the two
    devices = {**sensors, "cam-a/1": rng.normal(0, 0.01, (SIDE, SIDE)).astype(np.float32)}
    train = [Record(_save(tmp_path / "train" / name / f"{i}.png", photo(rng, k)), *name.split("/"))
             for name, k in devices.items() for i in range(6)]
    bad = tmp_path / "train" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(20))
    model = fit_prnu(train + [Record(str(bad), "cam-a", "0")], crop=SIDE)
    assert model.photos == {"cam-a/0": 6, "cam-a/1": 6, "cam-b/0": 6}
    assert model.device_to_camera == {"cam-a/0": "cam-a", "cam-a/1": "cam-a", "cam-b/0": "cam-b"}
    assert [path for path, _ in model.skipped] == [str(bad)]

    test = [Record(_save(tmp_path / "test" / "a1.png", photo(rng, devices["cam-a/1"])), "cam-a", "1"),
            Record(_save(tmp_path / "test" / "b0.png", photo(rng, devices["cam-b/0"])), "cam-b", "0"),
            Record(_save(tmp_path / "test" / "small.png", photo(rng, None, side=64)), "cam-b", "0"),
            Record(str(tmp_path / "test" / "missing.png"), "cam-a", "0"),
            Record(_save(tmp_path / "test" / "none.png", photo(rng, None)), "cam-c", "0")]
    table = predict_prnu(model.fingerprints, model.device_to_camera, ["cam-a", "cam-b"], test, crop=SIDE)
    assert list(table.columns) == ["path", "camera", "manipulation", "pred", "confidence", "error", "prnu_device",
                                   "prnu_score", "prnu_pce", "p_cam-a", "p_cam-b"]
    assert table.pred.tolist()[:2] == ["cam-a", "cam-b"]
    assert table.prnu_device.tolist()[:2] == ["cam-a/1", "cam-b/0"]
    assert (table.prnu_score[:2] > 0.3).all() and (table.confidence[:2] > 0.99).all()
    assert table.error[2] == "64x64 is smaller than the 128px crop" and table.error[3] == "file not found"
    assert table.pred[2:4].isna().all() and table[["p_cam-a", "p_cam-b"]][2:4].isna().all().all()
    assert table.error[4] == "" and abs(table.prnu_score[4]) < 0.05 and table.prnu_pce[4] < 60
    scored = table[table.error == ""]
    assert np.allclose(scored[["p_cam-a", "p_cam-b"]].sum(axis=1), 1.0)


def test_predict_prnu_rejects_inconsistent_devices(sensors):
    with pytest.raises(ValueError, match="no camera for device cam-b/0"):
        predict_prnu(sensors, {"cam-a/0": "cam-a"}, ["cam-a", "cam-b"], [])
    with pytest.raises(ValueError, match="outside classes: cam-b"):
        predict_prnu(sensors, {"cam-a/0": "cam-a", "cam-b/0": "cam-b"}, ["cam-a"], [])
    with pytest.raises(ValueError, match="no usable training photo"):
        fit_prnu([Record("/nonexistent/x.jpg", "cam-a", "0")], crop=SIDE)


@pytest.fixture(scope="module")
def nikon_scores(dresden_nikon):
    """Fingerprints of device 0 from 6 of its flat-field shots, two others per camera held out; scored: the
    held-out shots (same device) and device-1 shots (another sensor of the same model). A subset of the
    sample, so the test stays fast: decoding a 10 MP photo takes ~0.15 s."""
    records = [r for r in load_records("dresden", dresden_nikon, seed=0) if "flatfield" in r.path or r.device == "1"]
    train, test = [], []
    for camera in sorted({r.camera for r in records}):
        flat0 = sorted(r.path for r in records if r.camera == camera and r.device == "0")
        device1 = sorted((r for r in records if r.camera == camera and r.device == "1"), key=lambda r: r.path)
        train += [Record(p, camera, "0") for p in flat0[:6]]
        test += [Record(p, camera, "0") for p in flat0[-2:]] + device1[:1] + [r for r in device1 if "natural" in r.path][:2]
    model = fit_prnu(train)
    table = predict_prnu(model.fingerprints, model.device_to_camera, sorted(model.device_to_camera.values()), test)
    table["device"] = [r.device for r in test]
    return table


def test_dresden_same_device_photos_match(nikon_scores):
    """Measured: the held-out flat fields correlate 0.047-0.061 with their own device's fingerprint (PCE 490-850),
    under 0.01 with the other devices'."""
    same = nikon_scores[nikon_scores.device == "0"]
    assert len(same) == 6 and (same.error == "").all()
    assert (same.pred == same.camera).all()
    assert (same.prnu_device == same.camera + "/0").all()
    assert (same.prnu_score > 0.03).all() and (same.prnu_pce > 60).all()


def test_dresden_other_device_photos_do_not_match(nikon_scores):
    """Measured here: correlation at most 0.0063, PCE at most 9; over all 40 device-1 photos against
    fingerprints of all device-0 photos: at most 0.0094 and 20. PRNU names the sensor, not the model."""
    other = nikon_scores[nikon_scores.device == "1"]
    assert len(other) == 8 and (other.error == "").all()
    assert (other.prnu_score < 0.015).all() and (other.prnu_pce < 60).all()
