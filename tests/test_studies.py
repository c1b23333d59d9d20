"""The studies' shared passes (one decode per image, one manipulation for every model, views of several
images per forward pass) give what scoring each setting on its own gives."""
import numpy as np
import pandas as pd
import pytest
import torch

from camlib import manipulations, studies
from camlib.datasets import class_names, read_kaggle
from camlib.io import read_image
from camlib.datasets import stratified_split
from camlib.infer import (CPU_PIXELS_PER_PASS, TTAConfig, image_views, predict_records, prediction_row, view_probabilities,
                          views_per_pass)
from camlib.metrics import accuracy_metrics
from camlib.train import TrainConfig


class TextureModel(torch.nn.Module):
    """A fixed 3-class 'model': the class whose texture level (mean |pixel - right neighbour|) is nearest.
    On the toy cameras (blur < JPEG < sharp) it is mostly right, and JPEG or resizing changes what it says,
    so a study that scored the wrong manipulation or model would get other accuracies."""

    def __init__(self, centres):
        super().__init__()
        self.centres = torch.nn.Parameter(torch.tensor(centres, dtype=torch.float32))

    def forward(self, x):
        texture = (x[..., 1:] - x[..., :-1]).abs().mean((1, 2, 3))  # per view: no batch statistics
        return -1e4 * (texture[:, None] - self.centres) ** 2


def tiny_model(classes: int, seed: int) -> torch.nn.Module:
    assert classes == 3
    centres = [[0.028, 0.032, 0.054], [0.026, 0.034, 0.06], [0.03, 0.031, 0.05], [0.02, 0.04, 0.07]][seed % 4]
    return TextureModel(centres).eval()


@pytest.fixture(scope="module")
def toy(toy_cameras):
    records = read_kaggle(toy_cameras)
    return [r for r in records if r.split == "train"], [r for r in records if r.split == "test"], class_names(records)


def one_image_at_a_time(model, records, classes, tta) -> pd.DataFrame:
    """The plain reference: every image decoded and scored in forward passes of its own."""
    rows = []
    for record in records:
        image = read_image(record.path)
        probabilities = view_probabilities(model, image_views(image, tta), tta.batch_size)
        rows.append(prediction_row(record, classes, probabilities))
    return pd.DataFrame(rows)


def test_predict_records_batched_across_images_equals_one_at_a_time(toy):
    _, test, classes = toy
    model, tta = tiny_model(len(classes), 0), TTAConfig(crop=48, crops="five", transforms="flip", batch_size=32)
    batched = predict_records(model, test, classes, tta, progress=False)  # 3 images of 10 views per pass
    alone = one_image_at_a_time(model, test, classes, tta)
    assert list(batched.pred) == list(alone.pred)
    probabilities = [f"p_{c}" for c in classes]
    assert np.allclose(batched[probabilities], alone[probabilities], atol=1e-6)
    assert np.allclose(batched.crop_accuracy, alone.crop_accuracy)


def test_robustness_equals_scoring_each_manipulation_and_model_alone(toy):
    _, test, classes = toy
    models = {"a": tiny_model(len(classes), 1), "b": tiny_model(len(classes), 2)}
    sweeps = {"jpeg": [30, 90], "gamma": [0.5, 1.5], "resize": [0.5, 1.5]}
    tta = TTAConfig(crop=48, crops="five", transforms="none")
    tables = studies.robustness(models, test, classes, tta, sweeps, progress=False)
    assert len(tables) == 12 and {key for _, _, key in tables} == {"a", "b"}
    accuracies = set()
    for (family, value, key), table in tables.items():
        reference = predict_records(models[key], test, classes, tta, progress=False,
                                    manipulate=lambda image: manipulations.apply(image, family, value))
        assert list(table.pred) == list(reference.pred), (family, value, key)
        assert np.allclose(table.confidence, reference.confidence, atol=1e-6)
        accuracies.add(accuracy_metrics(table)["accuracy"])
    assert len(accuracies) > 1  # the manipulations do change what the models say


def test_crop_size_equals_one_centre_crop_per_size(toy):
    _, test, classes = toy
    models = {0: tiny_model(len(classes), 3), 1: tiny_model(len(classes), 1)}
    tables = studies.crop_size(models, test, classes, [16, 48, 96, 160], progress=False)
    assert len(tables) == 8
    for (size, key), table in tables.items():
        reference = predict_records(models[key], test, classes, TTAConfig(crop=size, crops="center", transforms="none"),
                                    progress=False)
        assert list(table.pred) == list(reference.pred) and len(table) == len(test)


def test_unreadable_image_is_listed_in_every_study_row(toy, tmp_path):
    _, test, classes = toy
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    records = list(test) + [type(test[0])(str(broken), classes[0], "test-device", "test", "unalt")]
    tables = studies.robustness({"a": tiny_model(len(classes), 1)}, records, classes,
                                TTAConfig(crop=48, crops="center", transforms="none"), {"gamma": [0.8, 1.2]}, progress=False)
    for table in tables.values():  # the bad file is listed with its reason, the others scored
        assert (table.error != "").sum() == 1 and accuracy_metrics(table)["n_images"] == len(test)


def test_views_per_pass_keeps_cpu_passes_small_for_large_views():
    assert views_per_pass(32, 96, 96, "cpu") == 32
    assert views_per_pass(32, 256, 256, "cpu") == CPU_PIXELS_PER_PASS // (256 * 256) < 32
    assert views_per_pass(32, 512, 512, "cpu") == 1
    assert views_per_pass(32, 512, 512, "cuda") == 32


def test_study_models_get_the_main_models_epoch(toy):
    train_records, _, _ = toy
    config = TrainConfig(val_fraction=0.2)
    assert studies.main_epoch_images(train_records, config) == len(stratified_split(train_records, 0.2, 0)[0]) < len(train_records)
    assert studies.main_epoch_images(train_records, TrainConfig(images_per_epoch=7)) == 7
    cameras = len({r.camera for r in train_records})
    kept = len(stratified_split(train_records, 0.1, 0)[0])
    assert studies.main_epoch_images(train_records, TrainConfig(draws_per_camera=1000)) == 1000 * cameras
    assert studies.main_epoch_images(train_records, TrainConfig(draws_per_camera=1)) == kept  # each image at least once


def test_draws_per_camera_scales_the_epoch_with_the_cameras():
    from camlib.train import epoch_draws
    config = TrainConfig(draws_per_camera=100)
    assert epoch_draws(config, 60, 3) == 300 and epoch_draws(config, 60, 18) == 1800
    assert epoch_draws(config, 5000, 18) == 5000  # a large folder: every image once
    assert epoch_draws(TrainConfig(images_per_epoch=400, draws_per_camera=100), 60, 18) == 400
    assert TrainConfig().identity() == TrainConfig(draws_per_camera=0).identity()  # old models keep their identity
    assert TrainConfig().identity() != config.identity()


def test_study_lists_from_the_command_line():
    from camlib.settings import SettingsError, resolve
    settings = resolve("cpu", {"arch_study": "efficientnet_lite0:none, resnet18:none", "train_sizes": "[5, 10]",
                               "crop_sizes": 64})
    assert settings.arch_study == ["efficientnet_lite0:none", "resnet18:none"]
    assert settings.train_sizes == [5, 10] and settings.crop_sizes == [64]
    with pytest.raises(SettingsError, match="train_sizes"):
        resolve("cpu", {"train_sizes": "5,x"})
    with pytest.raises(SettingsError, match="unknown architecture 'resnet19'"):
        resolve("cpu", {"arch_study": "resnet19:none"})


def test_an_arch_study_variant_can_have_its_own_budget():
    from camlib.settings import ArchVariant, SettingsError, parse_arch_variant, resolve
    assert parse_arch_variant("efficientnet_lite0_s4") == ArchVariant("efficientnet_lite0_s4", "none")
    assert parse_arch_variant("efficientnet_lite0_s4:") == ArchVariant("efficientnet_lite0_s4", "none")
    scratch = parse_arch_variant("efficientnet_lite0_s4:none:epochs=8:lr=4e-3")
    assert scratch.changes() == dict(arch="efficientnet_lite0_s4", weights="none", epochs=8, lr=4e-3)
    assert scratch.budget_text == "8 epochs, lr 0.004"
    settings = resolve("cpu", {"arch_study": "efficientnet_lite0_s4:none:epochs=8, efficientnet_lite0_s4:imagenet"})
    assert settings.arch_variants() == [ArchVariant("efficientnet_lite0_s4", "imagenet"),
                                        ArchVariant("efficientnet_lite0_s4", "none", epochs=8)]
    assert settings.train_config(**settings.arch_variants()[1].changes()).epochs == 8
    for bad, reason in (("efficientnet_lite0_s4:none:steps=8", "steps=8"), ("efficientnet_lite0_s4:none:epochs=x", "must be a number"),
                        ("efficientnet_lite0_s4:none:epochs=0", "must be positive"), ("efficientnet_lite0_s4:fake", "weights must be")):
        with pytest.raises(SettingsError, match=reason):
            resolve("cpu", {"arch_study": bad})


def test_two_budgets_of_one_network_are_two_variants():
    from camlib.settings import parse_arch_variant
    names = {parse_arch_variant(t).name for t in ("efficientnet_lite0_s4:none", "efficientnet_lite0_s4:none:epochs=8",
                                                  "efficientnet_lite0_s4:none:epochs=8:lr=4e-3")}
    assert names == {"efficientnet_lite0_s4-none", "efficientnet_lite0_s4-none-e8", "efficientnet_lite0_s4-none-e8-lr0.004"}


def test_the_budget_line_names_draws_and_minutes(toy, monkeypatch):
    from camlib import estimate
    from camlib.augment import AugmentConfig
    train_records, _, classes = toy
    config = TrainConfig(arch="efficientnet_lite0_s4", weights="none", epochs=2, batch_size=8, crops_per_image=4,
                         draws_per_camera=10, augment=AugmentConfig(crop=32))
    assert estimate.training_minutes(train_records, classes, config) > 0  # timed for real once
    # the arithmetic, with the timings fixed: epochs x (draws x decode + steps x step)
    monkeypatch.setattr(estimate, "_seconds_per_draw", lambda *args: 0.5)
    monkeypatch.setattr(estimate, "_seconds_per_step", lambda *args: 2.0)
    draws = 10 * len(classes)
    steps = -(-draws * 4 // 8)
    assert estimate.training_minutes(train_records, classes, config) == pytest.approx(2 * (draws * 0.5 + steps * 2.0) / 60)
    line = estimate.describe_budget(train_records, classes, config, models=4)
    assert f"2 epochs of {draws} draws" in line and "4 such models" in line
