"""Trainer: Adam + cyclic LR, several crops per decode, channels_last, bf16 AMP on CUDA, DDP via torchrun,
atomic checkpoints with everything needed to resume, and a per-epoch/per-step history."""
from __future__ import annotations

import io
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler, WeightedRandomSampler
from tqdm import tqdm

from .augment import AugmentConfig, augment, training_pipeline
from .choices import SCHEDULES
from .datasets import stratified_split
from .framecache import read_frame
from .infer import TTAConfig, predict_records, to_tensor
from .io import ImageReadError
from .metrics import accuracy_metrics
from .models import CameraNet, create_model, model_from_config
from .runs import atomic_write_bytes, atomic_write_text, params_hash

CHECKPOINT_FORMAT = "camlib-checkpoint-v1"


class CheckpointError(RuntimeError):
    """A file that is not a usable camlib checkpoint; str() is `path: reason`."""


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved inside every checkpoint)."""

    arch: str = "efficientnet_lite0"
    weights: str = "imagenet"  # 'imagenet', 'none' or a weights file
    init_checkpoint: str = ""  # start from this camlib checkpoint's weights, head included (a fine-tune); '' = off
    epochs: int = 8
    batch_size: int = 32  # crops per optimisation step
    crops_per_image: int = 4  # random crops taken from each decoded image (decode once, use several times)
    lr: float = 1e-3  # Adam, the seed's value
    lr_min: float = 1e-5
    schedule: str = "cosine_restarts"  # 'cosine_restarts' (SGDR), 'triangular' or 'constant'
    cycle_epochs: float = 2.0  # length of one LR cycle (cosine_restarts, triangular)
    warmup_fraction: float = 0.05  # share of the first LR cycle (one_cycle: of all steps) spent warming up from lr_min
    weight_decay: float = 0.0
    val_fraction: float = 0.1  # held-out part of the training device, stratified
    eval_crops: int = 4  # grid crops per image for the per-epoch validation
    images_per_epoch: int | None = None  # images drawn per epoch (None = each once); more than the dataset repeats them
    draws_per_camera: int = 0  # with images_per_epoch None: this many draws per camera per epoch (at least each image once)
    average_last: int = 0  # average the weights of the last k epochs at the end (0/1 = off)
    keep_epochs: int = 3  # keep the weights of the last k epochs as epoch<N>.pt (for averaging them later)
    precise_bn_batches: int = 20  # re-estimate batch-norm statistics on this many training batches at the end (0: off)
    ema_decay: float = 0.0  # exponential moving average of the weights, per step (0 = off); the final model is it
    center_fraction: float = 1.0  # train on the central part of each frame (Kaggle's 4th place: 0.8)
    crop_mean: bool = False  # the network sees each crop minus its own mean colour (camlib.models.ModelConfig)
    balance_classes: bool = False  # draw every camera equally often per epoch, whatever its number of photos
    workers: int = 0  # DataLoader processes
    frame_cache_gib: float = 2.0  # decoded frames kept in memory between epochs, per process (0 = decode every time)
    eval_every: int = 1  # validate (and test) every k epochs and after the last
    seed: int = 0
    amp: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    channels_last: bool = True  # NHWC weights and batches on every device (decoded crops are NHWC already)
    data: str = ""  # hash of the training records (set by the run): a model trained on other data is not reused
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self):
        if isinstance(self.augment, dict):
            self.augment = AugmentConfig(**self.augment)
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose from {', '.join(SCHEDULES)}")
        for name in ("epochs", "batch_size", "crops_per_image", "eval_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.center_fraction <= 1:
            raise ValueError(f"center_fraction must be in (0, 1], got {self.center_fraction}")
        if self.batch_size % self.crops_per_image:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of crops_per_image ({self.crops_per_image})")

    def to_dict(self) -> dict:
        return asdict(self)

    def identity(self) -> str:
        """Hash of what changes the result (not workers or the cache): a checkpoint resumes only under the same identity."""
        params = self.to_dict()
        for name in ("workers", "frame_cache_gib", "keep_epochs"):
            params.pop(name)
        for name in ("crop_mean", "draws_per_camera"):  # added later: models trained without them keep their identity
            if not params[name]:
                params.pop(name)
        if self.average_last > 1:  # averaged models made before BatchNorm was re-estimated after averaging are stale
            params["batchnorm_after_averaging"] = True
        return params_hash(params)


class CropDataset(Dataset):
    """Item i = `crops_per_image` augmented crops of image i, from one decode (kept for later epochs within
    `frame_cache_gib`); augmentation seeded by (seed, epoch, i) so results do not depend on the number of
    workers, the cache or resuming."""

    def __init__(self, records, classes, config: TrainConfig):
        self.records, self.classes, self.config = list(records), list(classes), config
        self.pipeline = training_pipeline(config.augment)
        self.epoch = 0
        self.crop = config.augment.crop

    def __len__(self):
        return len(self.records)

    def __getitem__(self, index):
        record = self.records[index]
        self.pipeline.set_random_seed(int(np.random.SeedSequence([self.config.seed, self.epoch, index]).generate_state(1)[0]))
        try:
            image = read_frame(record.path, self.config.frame_cache_gib, self.config.center_fraction)
        except ImageReadError as exc:
            return torch.empty(0, 3, self.crop, self.crop), torch.empty(0, dtype=torch.long), str(exc)
        crops = np.stack([augment(self.pipeline, image) for _ in range(self.config.crops_per_image)])
        labels = torch.full((len(crops),), self.classes.index(record.camera), dtype=torch.long)
        return to_tensor(crops), labels, ""


def collate_crops(items):
    images, labels, errors = zip(*items)
    return torch.cat(images), torch.cat(labels), [e for e in errors if e]


def lr_at(step: int, steps_per_epoch: int, config: TrainConfig) -> float:
    """The cyclic learning rate at optimisation step `step` (0-based)."""
    if config.schedule == "constant":
        return config.lr
    if config.schedule == "one_cycle":  # linear warm-up, then one cosine down to lr_min at the last step
        total = max(1, config.epochs * steps_per_epoch)
        warmup = int(round(config.warmup_fraction * total))
        if step < warmup:
            return config.lr_min + (config.lr - config.lr_min) * (step + 1) / warmup
        phase = min(1.0, (step - warmup) / max(1, total - warmup - 1))
        return config.lr_min + 0.5 * (config.lr - config.lr_min) * (1 + math.cos(math.pi * phase))
    cycle = max(1, int(round(config.cycle_epochs * steps_per_epoch)))
    if config.schedule == "triangular":
        phase = (step % cycle) / cycle
        return config.lr_min + (config.lr - config.lr_min) * (1 - abs(2 * phase - 1))
    warmup = int(round(config.warmup_fraction * cycle))
    if step < warmup:  # the first cycle warms up like one_cycle
        return config.lr_min + (config.lr - config.lr_min) * (step + 1) / warmup
    start = warmup if step < cycle else 0
    phase = (step % cycle - start) / max(1, cycle - start - 1)  # 1 at a cycle's last step: it ends annealed
    return config.lr_min + 0.5 * (config.lr - config.lr_min) * (1 + math.cos(math.pi * phase))


def _distributed() -> tuple[int, int]:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _device() -> torch.device:
    if torch.cuda.is_available():
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def epoch_draws(config: TrainConfig, images: int, cameras: int) -> int:
    """Images drawn per epoch from `images` training images of `cameras` cameras."""
    if config.images_per_epoch:
        return config.images_per_epoch
    return max(images, config.draws_per_camera * cameras)


def save_checkpoint(path, model, config: TrainConfig, epoch: int, step: int, history: list, optimizer=None,
                    best_metric: float | None = None, ema=None) -> Path:
    """Atomic checkpoint: weights, model config, run config, progress, optimizer and RNG state."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model_config": model.config.to_dict(),
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "crop": config.augment.crop,  # the training crop: the TTA crop of `camlib predict`
        "train_config": config.to_dict(),
        "identity": config.identity(),
        "epoch": epoch,  # epochs completed
        "step": step,
        "history": history,
        "best_metric": best_metric,
        "torch_rng": torch.get_rng_state(),
    }
    if optimizer is not None:
        payload["optimizer_state"] = optimizer.state_dict()
    if ema is not None:
        payload["ema_state"] = {k: v.detach().cpu() for k, v in ema.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path) -> dict:
    """Read a camlib checkpoint with weights_only=True; anything else is refused with a clear line."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a camlib checkpoint (cannot be read safely: {type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a camlib checkpoint (no '{CHECKPOINT_FORMAT}' marker)")
    return payload


def load_model(path, expected_classes=None) -> CameraNet:
    """Model from a checkpoint, in eval mode; refuses a checkpoint made for other classes."""
    payload = load_checkpoint(path)
    model = model_from_config(payload["model_config"])
    model.load_state_dict(payload["model_state"])
    if expected_classes is not None and list(expected_classes) != list(model.config.classes):
        raise CheckpointError(f"{path}: trained for classes {model.config.classes}, but the data has {list(expected_classes)}")
    return model.eval()


@dataclass
class TrainResult:
    """What a finished (or resumed-and-finished) training run produced."""

    model: nn.Module
    history: pd.DataFrame  # one row per epoch
    steps: pd.DataFrame  # one row per optimisation step: lr, loss
    checkpoint: Path
    out_dir: Path
    skipped: list[str]  # unreadable training files, 'path: reason'
    seconds: float


def _evaluate(model, records, classes, config: TrainConfig) -> dict:
    if not records:
        return {}
    grid = int(math.sqrt(config.eval_crops))
    tta = TTAConfig(crop=config.augment.crop, crops="grid" if grid > 1 else "center", grid_size=max(grid, 1),
                    transforms="none", batch_size=max(config.batch_size, 16))
    return accuracy_metrics(predict_records(model, records, classes, tta, progress=False))


@dataclass
class _Run:
    """One training run's fixed parts: its settings, data, folder, device and place in the DDP group."""

    config: TrainConfig
    classes: list[str]
    out_dir: Path
    train_records: list
    val_records: list
    eval_records: list
    rank: int
    world_size: int
    device: torch.device

    @property
    def images_per_step(self) -> int:
        """Images decoded per optimisation step (each gives `crops_per_image` crops)."""
        return self.config.batch_size // self.config.crops_per_image

    @property
    def use_amp(self) -> bool:
        """bf16 autocast: on CUDA only."""
        return self.device.type == "cuda" and self.config.amp


@dataclass
class _Learner:
    """The model being trained, its optimizer and weight average, and the module batches go through (DDP or it)."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    ema: AveragedModel | None
    wrapped: nn.Module

    @property
    def delivered(self) -> nn.Module:
        """The weights the run will deliver: the moving average when there is one."""
        return self.model if self.ema is None else self.ema.module


@dataclass
class _Progress:
    """How far a run got: epoch and step rows, the next step, the best validation metric, unreadable files."""

    history: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    epoch: int = 0  # epochs completed
    step: int = 0
    best_metric: float | None = None
    skipped: set = field(default_factory=set)


def train(records, classes, config: TrainConfig, out_dir, eval_records=None, resume=True, progress=True) -> TrainResult:
    """Train on `records` (training device), validate each epoch on a held-out part of them and on
    `eval_records` (test device, when labelled). Writes out_dir/{last,best,final}.pt and history CSVs."""
    run = _setup(records, classes, config, out_dir, eval_records)
    learner = _build(run)
    state = _resume(run, learner) if resume else _Progress()
    final_path = run.out_dir / "final.pt"
    if state.epoch >= config.epochs and final_path.exists():
        learner.model.load_state_dict(load_checkpoint(final_path)["model_state"])
        return TrainResult(learner.model.eval(), pd.DataFrame(state.history), pd.DataFrame(state.steps), final_path,
                           run.out_dir, [], 0.0)
    dataset = CropDataset(run.train_records, run.classes, config)
    if run.world_size > 1:
        learner.wrapped = nn.parallel.DistributedDataParallel(
            learner.model, device_ids=[run.device.index] if run.device.type == "cuda" else None)
    started = time.perf_counter()
    for epoch in range(state.epoch, config.epochs):
        epoch_start = time.perf_counter()
        row = _train_epoch(run, learner, state, dataset, epoch, progress)
        if run.rank == 0:
            _evaluate_and_save(run, learner, state, row, epoch_start)
        _barrier(run)
    if run.rank == 0:
        _finish(run, learner, state, dataset)
    _barrier(run)
    if state.skipped and run.rank == 0:
        atomic_write_text(run.out_dir / "skipped.txt", "\n".join(sorted(state.skipped)) + "\n")
    return TrainResult(learner.model.eval(), pd.DataFrame(state.history), pd.DataFrame(state.steps), final_path,
                       run.out_dir, sorted(state.skipped), time.perf_counter() - started)


def _setup(records, classes, config: TrainConfig, out_dir, eval_records) -> _Run:
    """Join the DDP group if any, seed torch, check the classes and hold out the validation images."""
    out_dir = Path(out_dir)
    rank, world_size = _distributed()
    device = _device()
    torch.manual_seed(config.seed)
    classes = list(classes)
    unknown = sorted({r.camera for r in records} - set(classes))
    if unknown:
        raise ValueError(f"training records have cameras outside the class list: {unknown}")
    empty = [c for c in classes if not any(r.camera == c for r in records)]
    if empty:
        raise ValueError(f"no training image for class(es) {empty}: add images or remove the class")
    train_records, val_records = stratified_split(records, config.val_fraction, config.seed)
    eval_records = [r for r in (eval_records or []) if r.camera in classes]
    return _Run(config, classes, out_dir, train_records, val_records, eval_records, rank, world_size, device)


def _build(run: _Run) -> _Learner:
    """The model (from its initial weights or a camlib checkpoint's), its Adam optimizer and its EMA when asked."""
    config = run.config
    model = create_model(config.arch, len(run.classes), config.weights, classes=run.classes,
                         crop_mean=config.crop_mean).to(run.device)
    if config.init_checkpoint:
        start = load_checkpoint(config.init_checkpoint)
        if list(start["model_config"]["classes"]) != run.classes:
            raise CheckpointError(f"{config.init_checkpoint}: trained for classes {start['model_config']['classes']}, "
                                  f"not {run.classes}")
        model.load_state_dict(start["model_state"])
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    ema = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
           if config.ema_decay > 0 else None)
    return _Learner(model, optimizer, ema, wrapped=model)


def _resume(run: _Run, learner: _Learner) -> _Progress:
    """The progress saved in last.pt, its weights, optimizer and RNG state loaded, if made under the same identity."""
    path = run.out_dir / "last.pt"
    if not path.exists():
        return _Progress()
    saved = load_checkpoint(path)
    if saved["identity"] != run.config.identity():
        return _Progress()
    learner.model.load_state_dict(saved["model_state"])
    if "optimizer_state" in saved:
        learner.optimizer.load_state_dict(saved["optimizer_state"])
    if learner.ema is not None and "ema_state" in saved:
        learner.ema.load_state_dict(saved["ema_state"])
    torch.set_rng_state(saved["torch_rng"])
    state = _Progress(list(saved["history"]), [], saved["epoch"], saved["step"], saved["best_metric"])
    if (run.out_dir / "steps.csv").exists():  # the steps after last.pt was written are done again
        steps = pd.read_csv(run.out_dir / "steps.csv")
        state.steps = steps[steps.step < state.step].to_dict("records")
    return state


def _epoch_loader(run: _Run, dataset: CropDataset, epoch: int) -> DataLoader:
    """The epoch's batches, seeded by (seed, epoch): split across DDP ranks, else balanced by camera or shuffled."""
    config = run.config
    generator = torch.Generator().manual_seed(config.seed * 1000 + epoch)
    num_samples = epoch_draws(config, len(dataset), len(run.classes))  # may exceed the dataset: fixed compute per epoch
    if run.world_size > 1:
        sampler = DistributedSampler(dataset, run.world_size, run.rank, shuffle=True, seed=config.seed)
        sampler.set_epoch(epoch)
    elif config.balance_classes:  # each camera gets the same share of the epoch's draws
        counts = {camera: sum(r.camera == camera for r in run.train_records) for camera in run.classes}
        weights = [1.0 / counts[r.camera] for r in run.train_records]
        sampler = WeightedRandomSampler(weights, num_samples=num_samples, replacement=True, generator=generator)
    else:
        sampler = RandomSampler(dataset, num_samples=num_samples, generator=generator)
    return DataLoader(dataset, batch_size=run.images_per_step, sampler=sampler, num_workers=config.workers,
                      collate_fn=collate_crops, drop_last=len(dataset) > run.images_per_step,
                      persistent_workers=False, pin_memory=run.device.type == "cuda")


def _train_epoch(run: _Run, learner: _Learner, state: _Progress, dataset: CropDataset, epoch: int,
                 progress: bool) -> dict:
    """One pass over the epoch's batches (then, after the last epoch, precise batch norm); returns its history row."""
    config = run.config
    dataset.epoch = epoch
    loader = _epoch_loader(run, dataset, epoch)
    steps_per_epoch = max(1, len(loader))
    learner.wrapped.train()
    losses, correct, seen, train_start = [], 0, 0, time.perf_counter()
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress or run.rank != 0, leave=False)
    for images, labels, errors in bar:
        state.skipped.update(errors)
        if len(labels) == 0:
            continue
        lr = lr_at(state.step, steps_per_epoch, config)
        loss, hits = _step(run, learner, images, labels, lr)
        losses.append(loss)
        correct += hits
        seen += len(labels)
        state.steps.append({"step": state.step, "epoch": epoch + 1, "lr": lr, "loss": loss})
        state.step += 1
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", lr=f"{lr:.1e}")
    if epoch + 1 == config.epochs and config.precise_bn_batches and learner.ema is None:
        recalibrate_batchnorm(learner.model, dataset, run.images_per_step, config.precise_bn_batches, run.device,
                              config)
    state.epoch = epoch + 1
    train_seconds = time.perf_counter() - train_start
    return {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else float("nan"),
            "train_accuracy": correct / max(seen, 1), "lr_end": lr_at(max(state.step - 1, 0), steps_per_epoch, config),
            "images_per_s": seen * run.world_size / max(train_seconds, 1e-9), "train_seconds": train_seconds}


def _step(run: _Run, learner: _Learner, images, labels, lr: float) -> tuple[float, int]:
    """One optimisation step at learning rate `lr`; returns the batch's loss and how many crops it got right."""
    for group in learner.optimizer.param_groups:
        group["lr"] = lr
    images, labels = images.to(run.device, non_blocking=True), labels.to(run.device, non_blocking=True)
    if run.config.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=run.use_amp):
        logits = learner.wrapped(images)  # (B, num_classes)
        loss = nn.functional.cross_entropy(logits.float(), labels)
    learner.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    learner.optimizer.step()
    if learner.ema is not None:
        learner.ema.update_parameters(learner.model)
    return loss.item(), int((logits.argmax(1) == labels).sum())


def _evaluate_and_save(run: _Run, learner: _Learner, state: _Progress, row: dict, epoch_start: float) -> None:
    """Score the delivered weights when due, record the epoch's row, and write the CSVs and checkpoints."""
    config, epoch = run.config, row["epoch"]
    evaluate = epoch % config.eval_every == 0 or epoch == config.epochs
    val = _evaluate(learner.delivered, run.val_records, run.classes, config) if evaluate else {}
    test = _evaluate(learner.delivered, run.eval_records, run.classes, config) if evaluate else {}
    row.update({"val_accuracy": val.get("accuracy", float("nan")),
                "test_accuracy": test.get("accuracy", float("nan")),
                "test_weighted_accuracy": test.get("weighted_accuracy", float("nan")),
                "test_images": test.get("n_images", 0),
                "epoch_seconds": time.perf_counter() - epoch_start})
    state.history.append(row)
    atomic_write_text(run.out_dir / "steps.csv", pd.DataFrame(state.steps).to_csv(index=False))
    atomic_write_text(run.out_dir / "history.csv", pd.DataFrame(state.history).to_csv(index=False))
    _save_checkpoints(run, learner, state, scored=evaluate or not run.val_records)


def _save_checkpoints(run: _Run, learner: _Learner, state: _Progress, scored: bool) -> None:
    """epoch<N>.pt in the last epochs (for averaging), best.pt when scored and no worse than before, last.pt always."""
    config, row, epoch = run.config, state.history[-1], state.epoch
    if epoch > config.epochs - max(config.average_last, config.keep_epochs):
        save_checkpoint(run.out_dir / f"epoch{epoch}.pt", learner.delivered, config, epoch, state.step, state.history)
    metric = row["val_accuracy"] if not math.isnan(row["val_accuracy"]) else -row["train_loss"]
    if scored and (state.best_metric is None or metric >= state.best_metric):
        state.best_metric = metric
        save_checkpoint(run.out_dir / "best.pt", learner.model, config, epoch, state.step, state.history,
                        best_metric=metric)
    save_checkpoint(run.out_dir / "last.pt", learner.model, config, epoch, state.step, state.history, learner.optimizer,
                    state.best_metric, learner.ema)


def _finish(run: _Run, learner: _Learner, state: _Progress, dataset: CropDataset) -> None:
    """Save as final.pt the delivered weights: the EMA's, or the mean of the last epochs' when averaging."""
    config = run.config
    if learner.ema is not None:
        learner.model.load_state_dict(learner.ema.module.state_dict())
    if config.average_last > 1:
        epochs = range(config.epochs - config.average_last + 1, config.epochs + 1)
        average_checkpoints(learner.model, [run.out_dir / f"epoch{e}.pt" for e in epochs], dataset, run.device)
    save_checkpoint(run.out_dir / "final.pt", learner.model, config, config.epochs, state.step, state.history,
                    best_metric=state.best_metric)


def _barrier(run: _Run) -> None:
    """Wait for every DDP rank (no-op in a single process)."""
    if run.world_size > 1:
        dist.barrier()


@torch.no_grad()
def recalibrate_batchnorm(model, dataset, images_per_step: int, batches: int, device, config: TrainConfig) -> None:
    """Replace the batch-norm running statistics by their plain average over `batches` training batches.

    The running averages lag behind the weights (EfficientNet's momentum is 0.01); in a short run, above all
    from scratch, they can be far from the final weights' statistics and the model collapses to one class in
    eval mode. The batches are the last epoch's augmented crops, drawn with a fixed generator; the random draws
    inside the network (stochastic depth) are seeded too, so the same weights always get the same statistics."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average
    sampler = RandomSampler(dataset, num_samples=batches * images_per_step, generator=torch.Generator().manual_seed(config.seed))
    loader = DataLoader(dataset, batch_size=images_per_step, sampler=sampler, num_workers=0, collate_fn=collate_crops)
    model.train()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(config.seed)
        for images, labels, _ in loader:
            if len(labels):
                images = images.to(device)
                model(images.contiguous(memory_format=torch.channels_last) if config.channels_last else images)
    for norm, momentum in zip(norms, saved):
        norm.momentum = momentum
    model.eval()


BN_BATCHES = 20  # batches that re-estimate the batch-norm statistics of averaged weights when precise_bn_batches is 0


def training_crops(records, classes, config: TrainConfig) -> CropDataset:
    """The crops of a model's last training epoch: its training split (the validation part held out), augmented as
    they were."""
    train_records, _ = stratified_split(records, config.val_fraction, config.seed)
    dataset = CropDataset(train_records, classes, config)
    dataset.epoch = config.epochs - 1
    return dataset


def average_checkpoints(model, checkpoint_paths, dataset: CropDataset, device=None) -> None:
    """The mean of the checkpoints' weights, with batch-norm statistics re-estimated on training crops (as
    torch.optim.swa_utils.update_bn does).

    Each checkpoint's running statistics belong to its own weights (and lag behind them: momentum 0.01), not to
    their mean; averaged as they are, they can cost many points. Re-estimated on the last epoch's crops, k
    identical checkpoints give exactly the statistics, so the predictions, of one recalibrated checkpoint."""
    average_into(model, checkpoint_paths)
    config = dataset.config
    dataset.epoch = config.epochs - 1
    device = next(model.parameters()).device if device is None else device
    recalibrate_batchnorm(model, dataset, config.batch_size // config.crops_per_image, config.precise_bn_batches or BN_BATCHES,
                          device, config)


def average_into(model, checkpoint_paths) -> None:
    """Replace the model's weights by the mean of the given checkpoints' weights (float tensors); batch-norm
    statistics are averaged too and need re-estimating (`average_checkpoints`)."""
    states = [load_checkpoint(p)["model_state"] for p in checkpoint_paths if Path(p).exists()]
    if not states:
        return
    averaged = {}
    for key, value in states[0].items():
        if value.is_floating_point():
            averaged[key] = torch.stack([s[key] for s in states]).mean(0)
        else:
            averaged[key] = states[-1][key]
    model.load_state_dict(averaged)
