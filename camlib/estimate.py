"""How long a model will train on this machine: its data's draws per epoch, times a few decodes and steps timed now."""
from __future__ import annotations

import math
import time
from dataclasses import replace

import torch
from torch import nn

from .models import create_model
from .studies import main_epoch_images
from .train import CropDataset, TrainConfig


def _seconds_per_draw(records, classes, config: TrainConfig, probes: int) -> float:
    """One photo decoded (uncached) and cut into its augmented crops, averaged over the first `probes` photos."""
    dataset = CropDataset(records[:probes], classes, replace(config, frame_cache_gib=0.0))
    started = time.perf_counter()
    for index in range(len(dataset)):
        dataset[index]
    return (time.perf_counter() - started) / max(1, len(dataset))


def _seconds_per_step(classes, config: TrainConfig, steps: int = 2) -> float:
    """One optimisation step of the network on a random batch of training crops (after one untimed step)."""
    model = create_model(config.arch, len(classes), weights="none").to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    crop = config.augment.crop
    batch = torch.randn(config.batch_size, 3, crop, crop).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, len(classes), (config.batch_size,))
    loss_fn = nn.CrossEntropyLoss()
    started = 0.0
    for step in range(steps + 1):
        if step == 1:
            started = time.perf_counter()
        optimizer.zero_grad()
        loss_fn(model(batch), labels).backward()
        optimizer.step()
    return (time.perf_counter() - started) / steps


def training_minutes(records, classes, config: TrainConfig, probes: int = 2) -> float:
    """Minutes to train `config` on `records` here: every draw decoded (the frame cache only makes it faster)."""
    records = list(records)
    draws = main_epoch_images(records, config)
    steps = math.ceil(draws * config.crops_per_image / config.batch_size)
    per_epoch = draws * _seconds_per_draw(records, classes, config, probes) + steps * _seconds_per_step(classes, config)
    return config.epochs * per_epoch / 60


def describe_budget(records, classes, config: TrainConfig, models: int = 1) -> str:
    """One line: the epoch's draws and the estimated minutes of `models` models of this recipe."""
    draws = main_epoch_images(list(records), config)
    minutes = training_minutes(records, classes, config)
    many = f"; {models} such models: about {models * minutes:.1f} minutes" if models > 1 else ""
    return (f"training budget: {config.epochs} epochs of {draws} draws ({config.crops_per_image} crops each) for "
            f"{len(classes)} cameras; about {minutes:.1f} minutes per model on this machine (timed now){many}")
