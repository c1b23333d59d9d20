"""Train several models at once, one process each, the CPU cores split between them.

On a small CPU one training process cannot keep every core busy (its data loading runs between the steps, and
small convolutions scale poorly across threads), so two processes with half the cores each train two models in
less time than one after the other. Each process decodes its own frames; results do not depend on which
process trains which model, but they do depend on the number of threads each gets (floating-point order)."""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import torch
from tqdm import tqdm


@dataclass
class TrainJob:
    """Everything `camlib.train.train` needs for one model."""

    records: list
    classes: list
    config: Any  # TrainConfig (not imported here: the parent process need not import train)
    out_dir: str
    eval_records: list


def default_processes(jobs: int) -> int:
    """Processes to train `jobs` models with: 2 on a multi-core CPU, 1 with a GPU or a single core."""
    if torch.cuda.is_available() or (os.cpu_count() or 1) < 2:
        return 1
    return min(2, jobs)


def _init(threads: int) -> None:
    torch.set_num_threads(threads)


def _train(job: TrainJob):
    from .train import train
    result = train(job.records, job.classes, job.config, job.out_dir, eval_records=job.eval_records, progress=False)
    result.model = None  # type: ignore[assignment]  # the weights are in the checkpoint; not sent back between processes
    return result


def train_many(jobs: list[TrainJob], processes: int = 0, progress: bool = True, desc: str = "models") -> list:
    """TrainResults of every job, in order (their `model` is None when trained in another process: load the
    checkpoint). processes 0 = default_processes; 1 trains here, one after the other. Jobs that do not fill a
    round of `processes` (the last of an odd number, with 2) train here with every core: one process alone
    on a split of the cores would be slower than one after the other."""
    from .train import train

    def here(job):
        return train(job.records, job.classes, job.config, job.out_dir, eval_records=job.eval_records, progress=progress)

    processes = processes or default_processes(len(jobs))
    together = len(jobs) - len(jobs) % processes if processes > 1 else 0
    results: list = [None] * len(jobs)
    if together:
        threads = max(1, (os.cpu_count() or 1) // processes)
        start = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context(start), initializer=_init,
                                 initargs=(threads,)) as executor:
            futures = {executor.submit(_train, job): index for index, job in enumerate(jobs[:together])}
            for future in tqdm(as_completed(futures), total=together, desc=f"{desc} ({processes} at once)",
                               disable=not progress):
                results[futures[future]] = future.result()
    for index in range(together, len(jobs)):
        results[index] = here(jobs[index])
    return results
