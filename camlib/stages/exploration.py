"""Chapter 1: what the data holds, per camera: frames, scene types, sizes, EXIF, JPEG quality, unreadable files, residuals."""
from __future__ import annotations

import os

from pydantic import BaseModel

from .. import explore
from ..datasets import UNSEEN_DEVICE, scene_counts, series_id
from ..qtable import shared_with_training
from ..settings import REPO_ROOT
from .core import Run, cached
from .inputs import stage


class ImageRow(BaseModel):
    name: str
    camera: str | None
    device: str | None
    split: str
    manipulation: str | None
    format: str | None
    width: int | None
    height: int | None
    make: str | None
    model: str | None
    jpeg_quality: int | None
    error: str
    scene: str | None = None  # from the data folder's index, when it has one


class ResidualRow(BaseModel):
    camera: str
    residual_std_R: float
    residual_std_G: float
    residual_std_B: float
    corr_RG: float
    corr_GB: float
    corr_RB: float


class SceneCount(BaseModel):
    """Photos of one camera and device, on one side of the split, of one scene type."""

    split: str  # train | test
    camera: str
    device: str
    scene: str  # flatfield | natural | unknown (no folder names the scene type)
    count: int


class ExplorationResult(BaseModel):
    data_name: str  # the data folder, relative to the repository (never an absolute path of the machine)
    simulated: bool
    classes: list[str]
    n_train: int
    n_test: int
    n_test_unlabelled: int
    test_is_holdout: bool
    split_by_device: bool
    camera_splits: dict[str, str] = {}  # camera -> "unseen device" | "random"
    bad_files: list[dict]  # name, reason
    excluded_cameras: dict[str, int]
    images: list[ImageRow]
    residuals: list[ResidualRow]
    scenes: list[SceneCount] = []  # train and labelled test photos per camera, device and scene type
    n_test_series: int | None = None  # independent photo series among the labelled test images (the bootstrap's unit)
    # real photos, cameras tested on an unseen device: (test photos with quantisation tables seen in its training, of n)
    qtables_shared: dict[str, tuple[int, int]] = {}

    def scene_table(self):
        """Photos per side, camera and device (rows) and scene type (columns)."""
        import pandas as pd
        frame = pd.DataFrame([s.model_dump() for s in self.scenes], columns=list(SceneCount.model_fields))
        table = frame.pivot_table(index=["split", "camera", "device"], columns="scene", values="count", aggfunc="sum",
                                  fill_value=0)
        table = table.reset_index().rename_axis(columns=None)
        order = table.split != "train"  # training side first
        return table.assign(_test=order).sort_values(["_test", "camera", "device"]).drop(columns="_test").reset_index(drop=True)

    def frame(self):
        import pandas as pd
        return pd.DataFrame([r.model_dump() for r in self.images])


def display_name(path) -> str:
    """A data folder as a reader may see it: relative to the repository when near it, else its name."""
    path = os.path.abspath(path)
    relative = os.path.relpath(path, REPO_ROOT)
    return relative if not relative.startswith(os.path.join("..", "..")) else os.path.basename(path)


@stage(fields=("profile", "layout"), chapters=("01_data_exploration",))
def exploration(run: Run) -> ExplorationResult:
    """Chapter 1's stage (cached): the per-image table and residual statistics of the run's data."""
    settings, data = run.settings, run.data
    per_camera = 6 if settings.profile == "smoke" else 12

    def compute():
        table = explore.image_table(data.train + data.test + data.test_unlabelled, progress=run.progress)
        stats = explore.residual_stats(data.train, per_camera=per_camera, progress=run.progress)
        rows = [ImageRow(name=_relative(r.path, data.root), **{k: _clean(getattr(r, k)) for k in (
            "camera", "device", "split", "manipulation", "format", "width", "height", "make", "model",
            "jpeg_quality", "error", "scene")}) for r in table.itertuples()]
        residuals = [ResidualRow(**{k: getattr(r, k) for k in ResidualRow.model_fields}) for r in stats.itertuples()]
        bad = [] if data.bad_files is None else [{"name": _relative(p, data.root), "reason": reason}
                                                 for p, reason in zip(data.bad_files.path, data.bad_files.reason)]
        return ExplorationResult(data_name=display_name(data.root), simulated=settings.layout == "zoo",
                                 classes=data.classes, n_train=len(data.train), n_test=len(data.test),
                                 n_test_unlabelled=len(data.test_unlabelled), test_is_holdout=data.test_is_holdout,
                                 split_by_device=data.split_by_device, bad_files=bad, camera_splits=data.camera_splits,
                                 excluded_cameras=data.excluded_cameras, images=rows, residuals=residuals,
                                 scenes=[SceneCount(**row) for row in scene_counts(data.train + data.test)],
                                 n_test_series=len({series_id(_relative(r.path, data.root), r.camera) for r in data.test}),
                                 qtables_shared=_qtables_shared(data))

    return cached(run, "exploration", compute, ExplorationResult)


def _qtables_shared(data) -> dict[str, tuple[int, int]]:
    unseen = {camera for camera, split in data.camera_splits.items() if split == UNSEEN_DEVICE}
    if not unseen:
        return {}
    return shared_with_training([r for r in data.train if r.camera in unseen], [r for r in data.test if r.camera in unseen])


def _relative(path, root) -> str:
    try:
        return os.path.relpath(path, root)
    except ValueError:
        return os.path.basename(path)


def _clean(value):
    """pandas' NaN/None/numpy scalars as plain Python values."""
    if value is None:
        return None
    try:
        if value != value:  # NaN
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
