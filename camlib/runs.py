"""Run folders: atomic writes, parameter hashes for caching, and the run's recorded environment."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write to a temp file in the same folder, fsync, then rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp, 0o666 & ~_UMASK)  # mkstemp makes 0600; the file gets the mode open() would give it
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path, payload) -> Path:
    """JSON with sorted keys, NaN written as null, atomically."""
    return atomic_write_text(path, json.dumps(_jsonable(payload), indent=2, sort_keys=True, allow_nan=False) + "\n")


def read_json(path, default=None):
    path = Path(path)
    if not path.exists():
        return default
    return json.loads(path.read_text())


def _jsonable(value):
    import math

    import numpy as np
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(float(value)) or math.isinf(float(value)) else float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, Path):
        return str(value)
    return value


def params_hash(params: dict) -> str:
    """A short stable hash of JSON-able parameters (the cache key of a stage)."""
    return hashlib.sha256(json.dumps(_jsonable(params), sort_keys=True).encode()).hexdigest()[:12]


def git_commit(repo=None) -> str:
    """Current commit (with '+dirty' when the tree has changes), or 'unknown' outside git."""
    repo = repo or Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (commit + ("+dirty" if dirty else "")) if commit else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def cpu_model() -> str | None:
    """The processor's model name (Linux /proc/cpuinfo), e.g. 'AMD EPYC 7B13'."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def environment() -> dict:
    """Versions, hardware and commit: what the reproducibility appendix prints."""
    from importlib.metadata import PackageNotFoundError, version

    import torch
    packages: dict[str, str | None] = {}
    for name in ("camlib", "torch", "torchvision", "numpy", "pandas", "albumentations", "pillow", "opencv-python-headless",
                 "scikit-learn", "pretrainedmodels", "efficientnet-lite-pytorch", "colour-demosaicing", "papermill",
                 "nbconvert", "seaborn", "matplotlib"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    return {
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "git_commit": git_commit(),
        "packages": packages,
        # run_all.sh sets CAMLIB_RUN_STARTED once, so every chapter records the start of the whole run
        "time": os.environ.get("CAMLIB_RUN_STARTED") or time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
