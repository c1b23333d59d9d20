"""Open set: scores separate known from unknown cameras, the threshold and its error rates, `predict --reject-below`."""
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score

from camlib.augment import AugmentConfig
from camlib.cli import main
from camlib.models import create_model
from camlib.openset import (_auroc_samples, auroc, false_attribution, false_rejection, max_probability,
                            negative_energy, threshold_at)
from camlib.train import TrainConfig, save_checkpoint


def softmax(logits):
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def known_and_unknown_logits(n=60, n_classes=5, seed=0):
    """Known cameras: one clearly winning class; unknown cameras: no class stands out."""
    rng = np.random.default_rng(seed)
    known = rng.normal(0, 1, (n, n_classes))
    known[np.arange(n), rng.integers(0, n_classes, n)] += 3.5  # overlapping, so the interval is not degenerate
    unknown = rng.normal(0, 1, (n, n_classes))
    return known, unknown


def test_scores_are_higher_for_known_cameras():
    known, unknown = known_and_unknown_logits()
    msp = auroc(max_probability(softmax(known)), max_probability(softmax(unknown)))
    assert msp.value > 0.9 and msp.low > 0.5 and msp.low <= msp.value <= msp.high, msp
    energy = auroc(negative_energy(known), negative_energy(unknown))
    assert energy.value > 0.9 and energy.low > 0.5, energy
    assert msp.high - msp.low > 0.01 and msp.n_images == 120  # a real interval, not a point


def test_identical_distributions_give_an_interval_around_one_half():
    rng = np.random.default_rng(3)
    same = auroc(rng.normal(0, 1, 80), rng.normal(0, 1, 80))
    assert same.low < 0.5 < same.high and same.high - same.low < 0.4, same


def test_bootstrap_formula_matches_sklearn_with_ties():
    rng = np.random.default_rng(1)
    known, unknown = rng.integers(0, 5, 30).astype(float), rng.integers(0, 5, 20).astype(float)
    counts = rng.integers(0, 3, (4, 30)).astype(float), rng.integers(0, 3, (4, 20)).astype(float)
    samples = _auroc_samples(known, unknown, *counts)
    for row in range(4):  # the same resample written out in full, scored by sklearn
        known_drawn = np.repeat(known, counts[0][row].astype(int))
        unknown_drawn = np.repeat(unknown, counts[1][row].astype(int))
        scores = np.concatenate([known_drawn, unknown_drawn])
        labels = np.r_[np.ones(len(known_drawn)), np.zeros(len(unknown_drawn))]
        assert samples[row] == pytest.approx(roc_auc_score(labels, scores))


def test_threshold_keeps_the_asked_share_and_its_error_rates():
    known = np.arange(100) / 100  # 0.00 .. 0.99
    threshold = threshold_at(known, keep=0.95)
    assert threshold == pytest.approx(0.05)
    assert (known >= threshold).mean() == pytest.approx(0.95)
    rejected = false_rejection(known, threshold)
    assert rejected.value == pytest.approx(0.05) and rejected.method == "wilson"
    assert rejected.low < 0.05 < rejected.high
    attributed = false_attribution(np.array([0.01, 0.02, 0.03, 0.5, 0.9]), threshold)
    assert attributed.value == pytest.approx(0.4) and attributed.n_images == 5
    assert attributed.low < 0.4 < attributed.high


@pytest.mark.parametrize("call, words", [
    (lambda: threshold_at([0.5, 0.6], keep=0), "keep"),
    (lambda: threshold_at([], keep=0.9), "known_val_scores"),
    (lambda: auroc([0.1, float("nan")], [0.2]), "finite"),
    (lambda: max_probability([0.2, 0.8]), "N x C"),
])
def test_bad_input_gives_one_line(call, words):
    with pytest.raises(ValueError, match=words) as error:
        call()
    assert "\n" not in str(error.value)


CLASSES = ["cam-a", "cam-b", "cam-c"]


@pytest.fixture(scope="module")
def untrained_checkpoint(tmp_path_factory):
    """A checkpoint of a freshly created (untrained) model: its top probabilities are near 1/3."""
    torch.manual_seed(0)
    model = create_model("efficientnet_lite0", len(CLASSES), "none", classes=CLASSES)
    config = TrainConfig(weights="none", augment=AugmentConfig(crop=32))
    return save_checkpoint(tmp_path_factory.mktemp("openset") / "untrained.pt", model, config, epoch=0, step=0, history=[])


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for index in range(3):
        Image.fromarray((rng.random((48, 56, 3)) * 255).astype(np.uint8)).save(folder / f"photo{index}.png")
    (folder / "broken.jpg").write_bytes(b"")
    return folder


def predict(checkpoint, photos, out, *extra):
    return main(["predict", "--checkpoint", str(checkpoint), str(photos), "--out", str(out), "--quiet",
                 "--tta-crops", "center", "--tta-transforms", "none", *extra])


def test_reject_below_one_makes_every_photo_unknown(untrained_checkpoint, photos, tmp_path):
    assert predict(untrained_checkpoint, photos, tmp_path / "p.csv", "--reject-below", "1.0") == 0
    table = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    readable = table[table.error == ""]
    assert len(readable) == 3 and (readable.camera == "unknown").all()
    assert (table[table.error != ""].camera == "").all()  # an unreadable file is not 'unknown', it has no camera
    probabilities = readable[[f"p_{c}" for c in CLASSES]].to_numpy(dtype=float)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)  # probabilities kept


def test_reject_below_zero_keeps_every_camera(untrained_checkpoint, photos, tmp_path):
    assert predict(untrained_checkpoint, photos, tmp_path / "p.csv", "--reject-below", "0") == 0
    readable = pd.read_csv(tmp_path / "p.csv", keep_default_na=False).query("error == ''")
    assert len(readable) == 3 and readable.camera.isin(CLASSES).all()


@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan"])
def test_reject_below_outside_zero_one_fails_with_one_line(untrained_checkpoint, photos, tmp_path, capsys, value):
    assert predict(untrained_checkpoint, photos, tmp_path / "p.csv", "--reject-below", value) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--reject-below" in err
    assert not (tmp_path / "p.csv").exists()
