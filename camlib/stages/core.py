"""What every stage shares: the run (settings, folder, data), setup from a notebook's parameters, the stage
cache, and training a model of the run with a summary of how far it trained."""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

import torch
from pydantic import BaseModel, ValidationError

from ..rundata import RunData, load_data
from ..runs import environment, params_hash, read_json, write_json
from ..settings import Settings, SettingsError, check_names, resolve
from ..metrics import majority_chance
from ..stats import wilson
from ..train import TrainConfig, TrainResult, train
from .inputs import SettingsView, declare, key_inputs

M = TypeVar("M", bound=BaseModel)
NOTEBOOK_ONLY = {"appendix_dir"}  # notebook parameters that are not run settings
_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open", "display"}


@dataclass
class Run:
    """A report run: its settings, its folder and (read on first use) its data. Inside a stage, `settings` is the
    stage's SettingsView (only what it declares) and `full_settings` the whole."""

    settings: Settings
    progress: bool = True
    read_only: bool = False  # stages return their stored result or None; nothing is computed (the report)
    shared: dict = field(default_factory=dict, repr=False)  # the data, loaded once for every stage's view of the run

    @property
    def full_settings(self) -> Settings:
        return self.settings.full if isinstance(self.settings, SettingsView) else self.settings

    @property
    def path(self) -> Path:
        return self.full_settings.run_path

    @property
    def data(self) -> RunData:
        if "data" not in self.shared:
            self.shared["data"] = load_data(self.full_settings, progress=None if self.progress else False)
        return self.shared["data"]

    @property
    def chance(self) -> float:
        """Chance level of the labelled test images: the share of their most frequent camera."""
        return majority_chance([r.camera for r in self.data.test if r.camera in self.data.classes])


# The inputs every stage shares. The data is identified by its files as well as by the fields that choose them.
DATA = declare("data", fields=("profile", "layout", "data_dir", "zoo_seed", "zoo_difficulty", "split_seed",
                               "min_images_per_camera"), extra=lambda run: {"records": run.data.key()})
AUGMENTATION = declare("augmentation", fields=("crop", "aug_d4", "aug_gamma", "aug_jpeg", "aug_scale", "gamma_range",
                                               "jpeg_range", "scale_range", "aug_recipe", "manipulation_prob",
                                               "aug_jpeg_aligned"))
TTA = ("tta_crops", "tta_transforms", "tta_grid", "crop")  # what settings.tta_config() reads
STUDY = ("study_replicates", "study_tta_crops", "study_tta_transforms", "tta_grid", "crop")  # study seeds, tta_config("study")


def notebook_parameters(namespace: dict) -> dict:
    """The parameters in a notebook's namespace (its parameters cell plus what papermill injected)."""
    values = {}
    for name, value in namespace.items():
        if name.startswith("_") or name in _IPYTHON_NAMES or callable(value) or type(value).__name__ == "module":
            continue
        values[name] = value
    return values


def setup(namespace: dict | None = None, progress: bool = True, read_only: bool = False, **values) -> Run:
    """The run of a chapter: settings from the notebook's parameters (None = the profile's value), checked
    (SettingsError, one line, on a bad name or value or missing weights), threads set, settings.json and
    environment.json written. Call it right after the parameters cell: `run = setup(globals())`."""
    values = {**notebook_parameters(namespace or {}), **values}
    for name in NOTEBOOK_ONLY:
        values.pop(name, None)
    check_names(values)
    settings = resolve(values.pop("profile", "cpu"), values)
    if read_only:  # a report describes the run as its chapters ran it: their settings.json, when there is one
        stored = read_json(settings.run_path / "settings.json")
        if stored:
            settings = resolve(stored.pop("profile"), {**stored, "run_dir": settings.run_dir})
    check_resources(settings)
    set_threads()
    if not read_only:
        write_json(settings.run_path / "settings.json", settings.to_dict())
        write_json(settings.run_path / "environment.json", environment())
    return Run(settings, progress, read_only)


def check_resources(settings: Settings) -> None:
    """SettingsError when the weights a run needs are not available (fetched now where downloads are allowed)."""
    from ..models import WeightsError, ensure_weights
    for arch, weights in dict.fromkeys((v.arch, v.weights) for v in settings.arch_variants()):  # main model first
        try:
            ensure_weights(arch, weights)
        except WeightsError as exc:
            raise SettingsError(f"parameter arch = {arch!r} (weights {weights!r}): {exc}") from None


def set_threads() -> None:
    """Use every core for torch ops (notebook kernels sometimes start with fewer)."""
    torch.set_num_threads(max(1, os.cpu_count() or 1))


def cached(run: Run, name: str, compute: Callable[[], M], model: type[M]) -> M | None:
    """The stored result of stage `name` when it was made with the inputs it declares, else computed, stored
    atomically and returned (None for a read-only run). The file run/stages/<name>.json holds the key, its inputs,
    the result and the seconds it took."""
    path = run.path / "stages" / f"{name}.json"
    stored = load(run, name, model)
    if stored is not None or run.read_only:
        return stored
    started = time.perf_counter()
    result = compute()
    seconds = time.perf_counter() - started
    inputs = key_inputs(name, run)
    write_json(path, {"params_hash": params_hash(inputs), "params": inputs, "seconds": seconds,
                      "result": result.model_dump(mode="json")})
    timings = read_json(run.path / "stage_seconds.json", {})
    timings[name] = round(seconds, 2)
    write_json(run.path / "stage_seconds.json", timings)
    return result


def stage_key(name: str, run: Run) -> str:
    """The cache key of stage `name` in this run."""
    return params_hash(key_inputs(name, run))


def load(run: Run, name: str, model: type[M]) -> M | None:
    """The stored result of stage `name` for the run's inputs, or None (not run, other inputs, or an older format)."""
    stored = read_json(run.path / "stages" / f"{name}.json")
    if not stored or stored.get("params_hash") != stage_key(name, run):
        return None
    try:
        return model.model_validate(stored["result"])
    except (ValidationError, KeyError, TypeError):
        return None


class CurvePoint(BaseModel):
    epoch: int
    train_loss: float
    train_accuracy: float
    lr_end: float
    val_accuracy: float | None = None
    test_accuracy: float | None = None


class ModelSummary(BaseModel):
    """How one trained model got there: recipe, length, final loss, whether it learned and plateaued."""

    label: str
    role: str
    seed: int
    arch: str
    weights: str
    images_per_class: int | None = None  # None: every training image
    epochs: int
    steps: int
    crop: int
    eval_crops: int = 1  # crops per image of the test-device curve (`curve`)
    final_train_loss: float
    final_train_accuracy: float
    train_minutes: float
    crops_per_s: float
    chance_loss: float  # ln(number of cameras): the loss of a model that knows nothing
    chance: float | None = None  # the test-device images' majority-camera share: the accuracy of always answering it
    learned: bool  # final training loss well below chance_loss and test accuracy clearly above `chance`
    cycle_gain: float | None = None  # test accuracy at the end of the last LR cycle minus the end of the one before
    # (one-cycle main models: weighted accuracy trained twice as long minus this, from convergence.json)
    plateaued: bool | None = None  # cycle_gain below PLATEAU_GAIN (None: not measured)
    curve: list[CurvePoint]
    checkpoint: str

    def problem(self) -> str:
        """'' for a usable model, else one line saying why it is not evidence."""
        if not self.learned:
            return (f"{self.label} (seed {self.seed}) did not learn: final training loss {self.final_train_loss:.2f} "
                    f"(chance {self.chance_loss:.2f}), training accuracy {self.final_train_accuracy:.2f}")
        return ""


LEARNED_LOSS_FRACTION = 0.85  # a model has learned when its final loss is below this share of ln(cameras)...
PLATEAU_GAIN = 0.02  # ...and plateaued when its last LR cycle (or training twice as long) added less than 2 points


def _finite(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def summarise(label: str, role: str, result: TrainResult, config: TrainConfig, n_classes: int, n_train: int,
              images_per_class: int | None = None, *, chance: float) -> ModelSummary:
    """ModelSummary of a finished training run; `chance`: the majority-camera share of the test-device images its
    curve was scored on (metrics.majority_chance)."""
    history = result.history
    last = history.iloc[-1]
    chance_loss = math.log(n_classes)
    evaluated = history.dropna(subset=["test_accuracy"]) if "test_accuracy" in history else history.iloc[0:0]
    accuracy = _finite(evaluated.test_accuracy.iloc[-1]) if len(evaluated) else None
    n_eval = int(evaluated.test_images.iloc[-1]) if "test_images" in evaluated and len(evaluated) else 0
    above_chance = True
    if accuracy is not None and n_eval:
        above_chance = wilson(accuracy * n_eval, n_eval)[0] > chance
    learned = bool(last.train_loss < LEARNED_LOSS_FRACTION * chance_loss and above_chance)
    cycle_ends = _cycle_end_accuracies(history, config)
    gain = cycle_ends[-1] - cycle_ends[-2] if len(cycle_ends) >= 2 else None
    curve = [CurvePoint(epoch=int(r.epoch), train_loss=float(r.train_loss), train_accuracy=float(r.train_accuracy),
                        lr_end=float(r.lr_end), val_accuracy=_finite(getattr(r, "val_accuracy", None)),
                        test_accuracy=_finite(getattr(r, "test_accuracy", None))) for r in history.itertuples()]
    steps = int(result.steps.step.max() + 1) if len(result.steps) else 0
    return ModelSummary(label=label, role=role, seed=config.seed, arch=config.arch, weights=config.weights,
                        images_per_class=images_per_class, epochs=config.epochs, steps=steps, crop=config.augment.crop,
                        eval_crops=config.eval_crops,
                        final_train_loss=float(last.train_loss), final_train_accuracy=float(last.train_accuracy),
                        train_minutes=float(history.train_seconds.sum() / 60),
                        crops_per_s=float(history.images_per_s.mean()), chance_loss=chance_loss,
                        chance=_finite(chance), learned=learned,
                        cycle_gain=gain, plateaued=None if gain is None else bool(gain < PLATEAU_GAIN), curve=curve,
                        checkpoint=str(result.checkpoint))


def _cycle_end_accuracies(history, config: TrainConfig) -> list[float]:
    """Test accuracy at the epochs where an LR cycle ends (annealed), in order."""
    if config.schedule != "cosine_restarts" or "test_accuracy" not in history:
        return []
    ends = {round(k * config.cycle_epochs) for k in range(1, int(config.epochs / config.cycle_epochs + 1e-9) + 1)}
    rows = history[history.epoch.isin(ends)].dropna(subset=["test_accuracy"])
    return [float(v) for v in rows.test_accuracy]


def model_job(run: Run, role: str, config: TrainConfig, records=None, eval_records=None):
    """The training of one model of the run, in run/models/<role>-seed<seed> (its data is part of its identity)."""
    from ..parallel import TrainJob
    data = run.data
    records = data.train if records is None else records
    config = TrainConfig(**{**config.to_dict(), "data": data.key(records)})
    return TrainJob(records, data.classes, config, str(run.path / "models" / f"{role}-seed{config.seed}"),
                    data.test if eval_records is None else eval_records)


def train_model(run: Run, role: str, config: TrainConfig, records=None) -> TrainResult:
    """Train (or reuse, or resume) one model of the run here."""
    job = model_job(run, role, config, records)
    return train(job.records, job.classes, job.config, job.out_dir, eval_records=job.eval_records, progress=run.progress)
