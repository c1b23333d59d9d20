"""camlib: forensic camera model identification from pixels, as a reproducible report.

The public API, for a notebook cell or a workshop: `import camlib; help(camlib.jpeg)`. Every name in `__all__` is one
function or type of the method, owned by its module; `camlib.stages` runs whole chapters, `camlib.figures` draws.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> the module that owns it. Imported on first use, so `import camlib` stays light: checking a
# parameter (camlib.settings) must not wait for torch. A public name never equals a submodule's name (an import of
# the submodule would rebind it).
_OWNERS = {
    # data and pixels
    "read_image": "io", "load_records": "datasets", "noise_residual": "explore",
    # the challenge's manipulations
    "jpeg": "manipulations", "gamma": "manipulations", "resize": "manipulations", "center_crop": "manipulations",
    "challenge_manipulation": "manipulations",
    # models
    "create_model": "models", "list_models": "models", "load_model": "train",
    # the seed's augmentation and schedule
    "AugmentConfig": "augment", "training_pipeline": "augment", "TrainConfig": "train", "lr_at": "train",
    # test-time augmentation
    "TTAConfig": "infer", "crop_boxes": "infer", "image_views": "infer", "view_probabilities": "infer",
    # scoring and intervals
    "weighted_accuracy": "metrics", "majority_chance": "metrics", "wilson": "stats", "bootstrap": "stats",
    "paired_difference": "stats", "verdict": "stats",
    # the classical baseline
    "residual_features": "baseline",
    # settings
    "resolve": "settings",
}
__all__ = sorted(_OWNERS)


def __getattr__(name: str):
    """Import a public name's module on first use (PEP 562)."""
    if name not in _OWNERS:
        raise AttributeError(f"module 'camlib' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_OWNERS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
