"""The simulated camera zoo: virtual camera models with model-level pipeline traces, as a Kaggle-layout dataset."""
from .build import CROP, PROFILES, ZOO_VERSION, build_zoo, last_build_stats, plan_tasks, resolve_profile
from .cameras import (CONTINUOUS, DEFAULT_DIFFICULTY, DIFFICULTIES, EQUALIZE_FAMILIES, MODEL_NAMES, CameraModel, Device,
                      DifficultyKnobs, camera_devices, camera_label, camera_models, frame_shape)
from .describe import camera_table, describe_difficulty, difficulty_table

__all__ = [
    "CROP", "PROFILES", "ZOO_VERSION", "build_zoo", "last_build_stats", "plan_tasks", "resolve_profile",
    "CONTINUOUS", "DEFAULT_DIFFICULTY", "DIFFICULTIES", "EQUALIZE_FAMILIES", "MODEL_NAMES", "CameraModel", "Device", "DifficultyKnobs", "camera_devices",
    "camera_label", "camera_models", "frame_shape", "camera_table", "describe_difficulty", "difficulty_table",
]
