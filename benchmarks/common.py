"""Helpers shared by the benchmark scripts: thread/seed setup, `name value unit` output, peak RSS."""
from __future__ import annotations

import os
import random
import resource
import sys
import time

import numpy as np
import torch


def setup(seed: int = 0, threads: int | None = None) -> None:
    """Torch threads (default: every core, as camlib.stages.core.set_threads does) and fixed seeds."""
    torch.set_num_threads(threads or os.cpu_count() or 1)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def emit(name: str, value: float, unit: str) -> None:
    """One figure on stdout, as `name value unit`."""
    print(f"{name} {value:.4g} {unit}", flush=True)


def log(message: str) -> None:
    """Progress, to stderr (run.sh keeps only the figures of stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def peak_rss_gib(children: bool = True) -> float:
    """Peak resident memory of this process, plus that of its largest finished child when `children`
    (ru_maxrss is KiB on Linux)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if children:
        kib += resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return kib / 2 ** 20


def cpu_data(profile: str = "cpu"):
    """(settings, RunData) of the profile's simulated zoo: built once, reused from data/ afterwards."""
    from camlib.rundata import load_data
    from camlib.settings import resolve
    settings = resolve(profile)
    log(f"loading the {profile} zoo (built on first use)")
    return settings, load_data(settings)
