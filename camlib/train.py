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
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler
from tqdm import tqdm

from .augment import AugmentConfig, augment, training_pipeline
from .datasets import Record
from .infer import TTAConfig, accuracy_metrics, predict_records, to_tensor
from .framecache import read_frame
from .io import ImageReadError
from .models import create_model, model_from_config
from .runs import atomic_write_bytes, atomic_write_text, params_hash

CHECKPOINT_FORMAT = "camlib-checkpoint-v1"
SCHEDULES = ("cosine_restarts", "triangular", "constant")


class CheckpointError(RuntimeError):
    """A file that is not a usable camlib checkpoint; str() is `path: reason`."""


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved inside every checkpoint)."""

    arch: str = "efficientnet_lite0"
    weights: str = "imagenet"  # 'imagenet', 'none' or a weights file
    epochs: int = 8
    batch_size: int = 32  # crops per optimisation step
    crops_per_image: int = 4  # random crops taken from each decoded image (decode once, use several times)
    lr: float = 1e-3  # Adam, the seed's value
    lr_min: float = 1e-5
    schedule: str = "cosine_restarts"  # 'cosine_restarts' (SGDR), 'triangular' or 'constant'
    cycle_epochs: float = 2.0  # length of one LR cycle
    weight_decay: float = 0.0
    val_fraction: float = 0.1  # held-out part of the training device, stratified
    eval_crops: int = 4  # grid crops per image for the per-epoch validation
    images_per_epoch: int | None = None  # images drawn per epoch (None = each once); more than the dataset repeats them
    average_last: int = 0  # average the weights of the last k epochs at the end (0/1 = off)
    center_fraction: float = 1.0  # train on the central part of each frame (Kaggle's 4th place: 0.8)
    workers: int = 0  # DataLoader processes
    frame_cache_gib: float = 2.0  # decoded frames kept in memory between epochs, per process (0 = decode every time)
    eval_every: int = 1  # validate (and test) every k epochs and after the last
    seed: int = 0
    amp: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    channels_last: bool = True  # NHWC weights and batches on every device (decoded crops are NHWC already)
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
        params.pop("workers")
        params.pop("frame_cache_gib")
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


def stratified_split(records, fraction: float, seed: int):
    """(train, val) with about `fraction` of each camera's images held out (none for tiny classes)."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    by_camera: dict[str, list] = {}
    for record in records:
        by_camera.setdefault(record.camera, []).append(record)
    for camera in sorted(by_camera):
        group = by_camera[camera]
        held = int(round(len(group) * fraction)) if len(group) >= 3 else 0
        order = rng.permutation(len(group))
        val += [group[i] for i in order[:held]]
        train += [group[i] for i in order[held:]]
    return train, val


def lr_at(step: int, steps_per_epoch: int, config: TrainConfig) -> float:
    """The cyclic learning rate at optimisation step `step` (0-based)."""
    if config.schedule == "constant":
        return config.lr
    cycle = max(1, int(round(config.cycle_epochs * steps_per_epoch)))
    phase = (step % cycle) / cycle
    if config.schedule == "cosine_restarts":
        return config.lr_min + 0.5 * (config.lr - config.lr_min) * (1 + math.cos(math.pi * phase))
    return config.lr_min + (config.lr - config.lr_min) * (1 - abs(2 * phase - 1))  # triangular


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


def save_checkpoint(path, model, config: TrainConfig, epoch: int, step: int, history: list, optimizer=None,
                    best_metric: float | None = None) -> Path:
    """Atomic checkpoint: weights, model config, run config, progress, optimizer and RNG state."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model_config": model.config.to_dict(),
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
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


def load_model(path, expected_classes=None) -> nn.Module:
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


def train(records, classes, config: TrainConfig, out_dir, eval_records=None, resume=True, progress=True) -> TrainResult:
    """Train on `records` (training device), validate each epoch on a held-out part of them and on
    `eval_records` (test device, when labelled). Writes out_dir/{last,best,final}.pt and history CSVs."""
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

    model = create_model(config.arch, len(classes), config.weights, classes=classes).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    history, step_rows, start_epoch, step, best_metric = [], [], 0, 0, None
    last_path, final_path = out_dir / "last.pt", out_dir / "final.pt"
    if resume and last_path.exists():
        state = load_checkpoint(last_path)
        if state["identity"] == config.identity():
            model.load_state_dict(state["model_state"])
            if "optimizer_state" in state:
                optimizer.load_state_dict(state["optimizer_state"])
            torch.set_rng_state(state["torch_rng"])
            history, start_epoch, step, best_metric = list(state["history"]), state["epoch"], state["step"], state["best_metric"]
            if (out_dir / "steps.csv").exists():
                step_rows = pd.read_csv(out_dir / "steps.csv").query("step < @step").to_dict("records")
    if start_epoch >= config.epochs and final_path.exists():
        final = load_checkpoint(final_path)
        model.load_state_dict(final["model_state"])
        return TrainResult(model.eval(), pd.DataFrame(history), pd.DataFrame(step_rows), final_path, out_dir, [], 0.0)

    dataset = CropDataset(train_records, classes, config)
    images_per_step = config.batch_size // config.crops_per_image
    ddp_model = model
    if world_size > 1:
        ddp_model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    criterion = nn.CrossEntropyLoss()
    use_amp = device.type == "cuda" and config.amp
    skipped: set[str] = set()
    started = time.perf_counter()

    for epoch in range(start_epoch, config.epochs):
        dataset.epoch = epoch
        generator = torch.Generator().manual_seed(config.seed * 1000 + epoch)
        num_samples = config.images_per_epoch or len(dataset)  # may exceed the dataset: fixed compute per epoch
        if world_size > 1:
            sampler = DistributedSampler(dataset, world_size, rank, shuffle=True, seed=config.seed)
            sampler.set_epoch(epoch)
        else:
            sampler = RandomSampler(dataset, num_samples=num_samples, generator=generator)
        loader = DataLoader(dataset, batch_size=images_per_step, sampler=sampler, num_workers=config.workers,
                            collate_fn=collate_crops, drop_last=len(dataset) > images_per_step,
                            persistent_workers=False, pin_memory=device.type == "cuda")
        steps_per_epoch = max(1, len(loader))
        ddp_model.train()
        losses, correct, seen, epoch_start = [], 0, 0, time.perf_counter()
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress or rank != 0, leave=False)
        for images, labels, errors in bar:
            skipped.update(errors)
            if len(labels) == 0:
                continue
            lr = lr_at(step, steps_per_epoch, config)
            for group in optimizer.param_groups:
                group["lr"] = lr
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            if config.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                logits = ddp_model(images)  # (B, num_classes)
                loss = criterion(logits.float(), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            correct += int((logits.argmax(1) == labels).sum())
            seen += len(labels)
            step_rows.append({"step": step, "epoch": epoch + 1, "lr": lr, "loss": losses[-1]})
            step += 1
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", lr=f"{lr:.1e}")
        train_seconds = time.perf_counter() - epoch_start
        row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else float("nan"),
               "train_accuracy": correct / max(seen, 1), "lr_end": lr_at(max(step - 1, 0), steps_per_epoch, config),
               "images_per_s": seen * world_size / max(train_seconds, 1e-9), "train_seconds": train_seconds}
        if rank == 0:
            evaluate = (epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs
            val = _evaluate(model, val_records, classes, config) if evaluate else {}
            test = _evaluate(model, eval_records, classes, config) if evaluate else {}
            row.update({"val_accuracy": val.get("accuracy", float("nan")),
                        "test_accuracy": test.get("accuracy", float("nan")),
                        "test_weighted_accuracy": test.get("weighted_accuracy", float("nan")),
                        "epoch_seconds": time.perf_counter() - epoch_start})
            history.append(row)
            metric = row["val_accuracy"] if not math.isnan(row["val_accuracy"]) else -row["train_loss"]
            atomic_write_text(out_dir / "steps.csv", pd.DataFrame(step_rows).to_csv(index=False))
            atomic_write_text(out_dir / "history.csv", pd.DataFrame(history).to_csv(index=False))
            if config.average_last > 1 and epoch >= config.epochs - config.average_last:
                save_checkpoint(out_dir / f"epoch{epoch + 1}.pt", model, config, epoch + 1, step, history)
            if (evaluate or not val_records) and (best_metric is None or metric >= best_metric):
                best_metric = metric
                save_checkpoint(out_dir / "best.pt", model, config, epoch + 1, step, history, best_metric=best_metric)
            save_checkpoint(last_path, model, config, epoch + 1, step, history, optimizer, best_metric)
        if world_size > 1:
            dist.barrier()

    if rank == 0:
        if config.average_last > 1:
            average_into(model, [out_dir / f"epoch{e}.pt" for e in range(config.epochs - config.average_last + 1, config.epochs + 1)])
        save_checkpoint(final_path, model, config, config.epochs, step, history, best_metric=best_metric)
    if world_size > 1:
        dist.barrier()
    if skipped and rank == 0:
        atomic_write_text(out_dir / "skipped.txt", "\n".join(sorted(skipped)) + "\n")
    return TrainResult(model.eval(), pd.DataFrame(history), pd.DataFrame(step_rows), final_path, out_dir,
                       sorted(skipped), time.perf_counter() - started)


def average_into(model, checkpoint_paths) -> None:
    """Replace the model's weights by the mean of the given checkpoints' weights (float tensors)."""
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
