"""Pseudo-labels: the confidence filter and the labels' own accuracy; a short fine-tune from a checkpoint."""
import numpy as np
import pandas as pd
import pytest
import torch

from camlib.augment import AugmentConfig
from camlib.datasets import class_names, read_kaggle
from camlib.models import create_model
from camlib.pseudolabel import PSEUDO_DEVICE, confident_records, fine_tune
from camlib.train import TrainConfig, load_checkpoint, save_checkpoint


def predictions_table():
    """Six test photos: four confident (three right, one wrong), one unsure, one unreadable."""
    return pd.DataFrame({
        "path": [f"test/{i}.tif" for i in range(6)],
        "camera": ["a", "b", "c", "a", "b", "c"],
        "manipulation": ["unalt", "jpg70", "unalt", "unalt", "unalt", "unalt"],
        "pred": ["a", "b", "a", "a", "c", None],
        "confidence": [0.99, 0.95, 0.97, 0.91, 0.55, np.nan],
        "error": ["", "", "", "", "", "empty file"],
    })


def test_confident_rows_become_records_labelled_with_the_prediction():
    pseudo = confident_records(predictions_table(), threshold=0.9)
    assert [r.path for r in pseudo.records] == ["test/0.tif", "test/1.tif", "test/2.tif", "test/3.tif"]
    assert [r.camera for r in pseudo.records] == ["a", "b", "a", "a"]  # the prediction, not the truth
    assert pseudo.true_cameras == ["a", "b", "c", "a"]
    assert all(r.device == PSEUDO_DEVICE and r.split == "train" for r in pseudo.records)
    assert pseudo.records[1].manipulation == "jpg70"
    accuracy = pseudo.accuracy
    assert accuracy.value == pytest.approx(0.75) and accuracy.n_images == 4 and accuracy.method == "wilson"
    assert 0 < accuracy.low < 0.75 < accuracy.high < 1


def test_a_higher_threshold_keeps_fewer_and_none_gives_no_accuracy():
    assert len(confident_records(predictions_table(), threshold=0.96).records) == 2
    assert confident_records(predictions_table(), threshold=0.5).accuracy.value == pytest.approx(0.6)
    nothing = confident_records(predictions_table(), threshold=1.0)
    assert nothing.records == [] and nothing.accuracy is None


def test_unlabelled_test_photos_give_no_accuracy():
    table = predictions_table().assign(camera=None)
    pseudo = confident_records(table, threshold=0.9)
    assert len(pseudo.records) == 4 and pseudo.accuracy is None and pseudo.true_cameras == [None] * 4


@pytest.mark.parametrize("table, threshold, words", [
    (predictions_table(), 1.5, "threshold"),
    (predictions_table().drop(columns=["confidence"]), 0.9, "confidence"),
])
def test_bad_input_gives_one_line(table, threshold, words):
    with pytest.raises(ValueError, match=words) as error:
        confident_records(table, threshold)
    assert "\n" not in str(error.value)


@pytest.fixture
def one_thread():
    """One torch thread for the test: on a busy 2-core machine two threads contend and run several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_fine_tune_starts_from_the_checkpoint_and_writes_one(toy_cameras, tmp_path, one_thread):
    records = read_kaggle(toy_cameras)
    classes = class_names(records)
    # Two training photos and one test photo per camera keep the fine-tune to a few steps.
    train_records = [r for r in records if r.split == "train" and r.path.endswith(("0.jpg", "1.jpg"))]
    test_records = list({r.camera: r for r in records if r.split == "test"}.values())
    assert len(train_records) == 6 and len(test_records) == 3
    torch.manual_seed(1)
    start = create_model("efficientnet_lite0", len(classes), "none", classes=classes)
    checkpoint = save_checkpoint(tmp_path / "start.pt", start, TrainConfig(weights="none", augment=AugmentConfig(crop=48)),
                                 epoch=0, step=0, history=[])
    table = pd.DataFrame({"path": [r.path for r in test_records], "camera": [r.camera for r in test_records],
                          "manipulation": [r.manipulation for r in test_records], "pred": [r.camera for r in test_records],
                          "confidence": 0.99, "error": ""})
    pseudo = confident_records(table, threshold=0.9)
    # lr 0: the weights must come out exactly as they went in, which shows where training started.
    config = TrainConfig(epochs=1, batch_size=8, crops_per_image=4, lr=0.0, schedule="constant", val_fraction=0.0,
                         augment=AugmentConfig(crop=48))
    result = fine_tune(checkpoint, train_records, pseudo.records, classes, config, tmp_path / "tuned")
    assert result.checkpoint.exists() and list(result.history.epoch) == [1]
    assert len(result.steps) == (6 + 3) // 2  # 2 photos a step: the pseudo-labelled photos were trained on too
    tuned = load_checkpoint(result.checkpoint)
    assert tuned["train_config"]["init_checkpoint"] == str(checkpoint)
    # lr 0: every parameter, the head's included, comes out exactly as it went in (BN running statistics move)
    parameters = dict(start.named_parameters())
    assert "head.weight" in parameters
    assert all(torch.equal(tuned["model_state"][name], value.detach()) for name, value in parameters.items())


def test_fine_tune_refuses_other_classes(toy_cameras, tmp_path):
    start = create_model("efficientnet_lite0", 2, "none", classes=["x", "y"])
    checkpoint = save_checkpoint(tmp_path / "start.pt", start, TrainConfig(weights="none"), epoch=0, step=0, history=[])
    with pytest.raises(ValueError, match="trained for classes"):
        fine_tune(checkpoint, [], [], ["a", "b", "c"], TrainConfig(), tmp_path / "tuned")
