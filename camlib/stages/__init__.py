"""Chapters as stages: one function per chapter takes the run and returns a typed, cached result.

    run = setup(globals())          # in a notebook, right after its parameters cell
    result = robustness(run)        # cached in run/stages/robustness.json; trains the models it needs
"""
from .baseline import BaselineResult, baseline
from .core import ModelSummary, Run, cached, load, setup
from .crop_size import CropSizeResult, crop_size
from .device_folds import DeviceFoldResult, device_folds
from .device_gap import DeviceGapResult, device_gap
from .exploration import ExplorationResult, exploration
from .inference import InferenceResult, inference
from .robustness import RobustnessResult, robustness
from .study_models import StudyResult, architectures, label_noise, schedules, train_size
from .training import TrainingResult, training
from .manipulation_head import ManipulationHeadResult, manipulation_head
from .averaging import AveragingResult, averaging
from .balanced import BalancedResult, balanced
from .pseudo_labels import PseudoLabelResult, pseudo_labels
from .saliency import SaliencyResult, saliency
from .metric import MetricResult, metric
from .open_set import OpenSetResult, open_set
from .questions import Finding, switch_hint
from .inputs import DECLARATIONS, UndeclaredInput, chapter_fields
from .core import stage_key

CHAPTER_FIELDS = chapter_fields()  # each chapter's parameters, from its stages' declarations

__all__ = ["CHAPTER_FIELDS", "DECLARATIONS", "UndeclaredInput", "stage_key", "AveragingResult", "BalancedResult", "BaselineResult", "CropSizeResult", "DeviceFoldResult", "DeviceGapResult", "ExplorationResult", "Finding",
           "InferenceResult", "ManipulationHeadResult", "MetricResult", "ModelSummary", "OpenSetResult", "PseudoLabelResult",
           "RobustnessResult", "Run", "SaliencyResult", "StudyResult", "TrainingResult", "architectures", "averaging",
           "balanced", "baseline", "cached", "crop_size", "device_folds", "device_gap", "label_noise", "schedules", "exploration", "inference", "load", "manipulation_head", "metric",
           "open_set", "pseudo_labels", "robustness", "saliency", "setup", "switch_hint", "train_size", "training"]
