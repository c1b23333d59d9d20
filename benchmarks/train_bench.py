"""Loader efficiency: training crops/s through DataLoader(CropDataset) vs the same steps on in-memory tensors."""
from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace

import torch
from torch.utils.data import DataLoader, RandomSampler

import camlib.train as camtrain
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
    """The body of camlib.train.train's step loop on CPU (lr set, forward, loss, backward, step, stats)."""
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
    emit("train_peak_rss_gib", peak_rss_gib(), "GiB")

    # 2. the same step on batches from the loader and on batches already in memory
    train_records, _ = stratified_split(data.train, config.val_fraction, config.seed)
    dataset = CropDataset(train_records, data.classes, config)
    images_per_step = config.batch_size // config.crops_per_image
    model = create_model(config.arch, len(data.classes), config.weights, classes=data.classes).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    criterion = torch.nn.CrossEntropyLoss()

    def step(images, labels):
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

    read_image, augment = Timed(camtrain.read_image), Timed(camtrain.augment)
    camtrain.read_image, camtrain.augment = read_image, augment  # what CropDataset calls (counted with workers=0)
    ratios = {}
    for n_workers in sorted({0, 1, workers}):
        # Alternate in-memory and loader blocks so that a busy spell of a shared machine hits both alike:
        # single steps when the loader runs in this process; with worker processes, blocks of a few steps
        # from a fresh loader whose start-up falls in one untimed step.
        rounds, block_warmup = (args.steps, 0) if n_workers == 0 else (args.rounds, 1)
        steps = max(1, args.steps // rounds)
        log(f"workers={n_workers}: {args.warmup} warm-up steps, then {rounds} x ({steps} steps in memory, "
            f"{block_warmup}+{steps} from the loader)")
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
        ratios[n_workers] = (e2e_crops / e2e_seconds) / (mem_crops / mem_seconds)
        emit(f"loader_efficiency_workers{n_workers}", ratios[n_workers], "ratio")
        if n_workers == workers:
            emit("loader_efficiency", ratios[n_workers], "ratio")
            emit("train_crops_per_s_end_to_end", e2e_crops / e2e_seconds, "crops/s")
            emit("train_crops_per_s_in_memory", mem_crops / mem_seconds, "crops/s")
        emit(f"train_loader_wait_share_workers{n_workers}", wait / e2e_seconds, "ratio")
        if n_workers == 0:  # the loader ran in this process: split its waiting time
            emit("train_loader_share_decode", read_image.seconds / wait, "ratio")
            emit("train_loader_share_augment", augment.seconds / wait, "ratio")
            emit("train_decode_ms_per_image", 1000 * read_image.seconds / (e2e_crops / config.crops_per_image), "ms")
            emit("train_augment_ms_per_crop", 1000 * augment.seconds / e2e_crops, "ms")
    emit("loader_best_workers", max(ratios, key=ratios.get), "workers")


if __name__ == "__main__":
    main()
