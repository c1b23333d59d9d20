"""Loader efficiency: training crops/s through DataLoader(CropDataset) vs the same steps on in-memory tensors."""
from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace

import torch
from torch.utils.data import DataLoader, RandomSampler

import camlib.train as camtrain
from camlib import framecache
from camlib.models import create_model
from camlib.train import CropDataset, collate_crops, stratified_split
from common import cpu_data, emit, log, peak_rss_gib, setup


class Timed:
    """Wraps a function and adds up the seconds spent in it while `active` (in this process only)."""

    def __init__(self, fn):
        self.fn, self.seconds, self.active = fn, 0.0, False

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += (time.perf_counter() - start) * self.active


def train_step(model, optimizer, criterion, images, labels, lr):
    """The body of camlib.train.train's step loop on CPU (lr set, forward, loss, backward, step, stats);
    the caller puts images in the model's memory format."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    logits = model(images)
    loss = criterion(logits.float(), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item(), int((logits.argmax(1) == labels).sum())


def run_steps(batches, step, warmup: int, steps: int, timers=()) -> tuple[float, float, int]:
    """(seconds of the timed steps, seconds spent waiting for batches, crops) after `warmup` untimed steps;
    `timers` count only during the timed steps."""
    wait = crops = 0
    for i in range(warmup + steps):
        if i == warmup:
            for timer in timers:
                timer.active = True
            start, wait, crops = time.perf_counter(), 0.0, 0
        t0 = time.perf_counter()
        images, labels = next(batches)[:2]
        wait += time.perf_counter() - t0
        step(images, labels)
        crops += len(labels)
    for timer in timers:
        timer.active = False
    return time.perf_counter() - start, wait, crops


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: the cpu profile's)")
    parser.add_argument("--steps", type=int, default=15, help="timed steps per side (in memory / loader)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed warm-up steps per side and workers setting")
    parser.add_argument("--rounds", type=int, default=5, help="alternating blocks the steps are split into (workers > 0)")
    parser.add_argument("--train-images", type=int, default=64, help="images_per_epoch of the short real training (peak RSS)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: os.cpu_count())")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    setup(args.seed, args.threads)

    settings, data = cpu_data()
    config = settings.train_config(epochs=1)
    workers = settings.workers if args.workers is None else args.workers
    config = replace(config, workers=workers)

    # 1. a short real training: the peak memory of camlib.train.train (with its validation pass)
    log(f"short real training: 1 epoch of {args.train_images} images, workers={workers}")
    with tempfile.TemporaryDirectory() as out:
        camtrain.train(data.train, data.classes, replace(config, images_per_epoch=args.train_images), out, progress=False)

    # 2. the same step on batches from the loader and on batches already in memory
    train_records, _ = stratified_split(data.train, config.val_fraction, config.seed)
    dataset = CropDataset(train_records, data.classes, config)
    images_per_step = config.batch_size // config.crops_per_image
    model = create_model(config.arch, len(data.classes), config.weights, classes=data.classes).train()
    if config.channels_last:  # as camlib.train.train does
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    criterion = torch.nn.CrossEntropyLoss()

    def step(images, labels):
        if config.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        train_step(model, optimizer, criterion, images, labels, config.lr)

    memory = [collate_crops([dataset[i * images_per_step + j] for j in range(images_per_step)]) for i in range(2)]

    def in_memory():
        while True:
            yield from memory

    def loader(n_workers, n_steps, round_index):
        generator = torch.Generator().manual_seed(args.seed * 1000 + round_index)
        sampler = RandomSampler(dataset, num_samples=images_per_step * n_steps, generator=generator)
        return iter(DataLoader(dataset, batch_size=images_per_step, sampler=sampler, num_workers=n_workers,
                               collate_fn=collate_crops, drop_last=True, persistent_workers=False))

    read_image, augment = Timed(framecache.read_image), Timed(camtrain.augment)
    framecache.read_image, camtrain.augment = read_image, augment  # what CropDataset calls (counted in this process)
    # (label, workers, frame cache): the first epoch decodes every frame (= no cache); later epochs of a
    # workers=0 run read them from the cache; worker processes restart each epoch, so they run uncached.
    setups = [("uncached", 0, 0.0)] + [(f"workers{n}", n, 0.0) for n in sorted({1, workers} - {0})]
    setups.append(("cached", 0, config.frame_cache_gib))  # last: its full cache counts in the peak RSS
    rates = {}
    for label, n_workers, cache_gib in setups:
        dataset.config = replace(config, frame_cache_gib=cache_gib)
        framecache.clear()
        if cache_gib > 0:
            log(f"{label}: decoding the {len(dataset)} training frames once (what epoch 1 of a training does)")
            for index in range(len(dataset)):
                dataset[index]
        # Alternate in-memory and loader blocks so that a busy spell of a shared machine hits both alike:
        # single steps when the loader runs in this process; with worker processes, blocks of a few steps
        # from a fresh loader whose start-up falls in one untimed step.
        rounds, block_warmup = (args.steps, 0) if n_workers == 0 else (args.rounds, 1)
        steps = max(1, args.steps // rounds)
        log(f"{label} (workers={n_workers}, frame cache {cache_gib:g} GiB): {args.warmup} warm-up steps, then "
            f"{rounds} x ({steps} steps in memory, {block_warmup}+{steps} from the loader)")
        run_steps(in_memory(), step, args.warmup, 1)
        run_steps(loader(n_workers, args.warmup + 1, -1), step, args.warmup, 1)
        mem_seconds = mem_crops = e2e_seconds = e2e_crops = wait = 0
        read_image.seconds = augment.seconds = 0.0
        for round_index in range(rounds):
            seconds, _, crops = run_steps(in_memory(), step, 0, steps)
            mem_seconds, mem_crops = mem_seconds + seconds, mem_crops + crops
            batches = loader(n_workers, block_warmup + steps, round_index)
            seconds, waited, crops = run_steps(batches, step, block_warmup, steps, (read_image, augment))
            e2e_seconds, e2e_crops, wait = e2e_seconds + seconds, e2e_crops + crops, wait + waited
        rates[label] = (e2e_crops / e2e_seconds, mem_crops / mem_seconds)
        emit(f"loader_efficiency_{label}", rates[label][0] / rates[label][1], "ratio")
        emit(f"train_loader_wait_share_{label}", wait / e2e_seconds, "ratio")
        if n_workers == 0:  # the loader ran in this process: split its waiting time
            emit(f"train_loader_share_decode_{label}", read_image.seconds / wait, "ratio")
            emit(f"train_loader_share_augment_{label}", augment.seconds / wait, "ratio")
            emit(f"train_decode_ms_per_image_{label}", 1000 * read_image.seconds / (e2e_crops / config.crops_per_image), "ms")
            emit(f"train_augment_ms_per_crop_{label}", 1000 * augment.seconds / e2e_crops, "ms")
    # The profile's whole training: epoch 1 at the uncached rate, the other epochs at the cached one
    # (workers=0 and a cache that holds the training set, as on the cpu profile).
    epochs = settings.epochs
    if workers == 0 and config.frame_cache_gib > 0:
        seconds_per_crop = (rates["uncached"][0] ** -1 + (epochs - 1) * rates["cached"][0] ** -1) / epochs
        memory_rate = (rates["uncached"][1] + rates["cached"][1]) / 2
        emit("loader_efficiency", 1 / seconds_per_crop / memory_rate, "ratio")
        emit("train_crops_per_s_end_to_end", 1 / seconds_per_crop, "crops/s")
    else:
        key = "uncached" if workers == 0 else f"workers{workers}"
        emit("loader_efficiency", rates[key][0] / rates[key][1], "ratio")
        emit("train_crops_per_s_end_to_end", rates[key][0], "crops/s")
    emit("train_crops_per_s_in_memory", sum(r[1] for r in rates.values()) / len(rates), "crops/s")
    emit("train_training_epochs", epochs, "epochs")
    # after the short training and with every training frame in the cache, as late in a cpu-profile training;
    # the cpu profile trains in one process (workers=0), so the benchmark's own worker processes do not count
    emit("train_peak_rss_gib", peak_rss_gib(children=workers > 0), "GiB")
    emit("train_frame_cache_gib", framecache.cache_info()["bytes"] / 2 ** 30, "GiB")


if __name__ == "__main__":
    main()
