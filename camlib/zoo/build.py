"""Build a zoo dataset in the Kaggle layout: plan the frames, render them in a process pool, cache by manifest."""
from __future__ import annotations

import ctypes
import json
import math
import multiprocessing
import os
import resource
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import manipulations
from . import pipeline, scenes
from .cameras import (DEFAULT_DIFFICULTY, CameraModel, Device, camera_devices, camera_models, check_difficulty,
                      check_equalize, frame_shape)
from .writer import atomic_write_bytes, camera_jpeg, decode, read_json, tiff_bytes, write_csv, write_json

ZOO_VERSION = "2"  # 2: neutral camera names (Zoo-01 ...)
CROP = 512  # the challenge's test crops
WINDOW_MARGIN = 32  # pixels simulated around a test crop so that no filter sees the window's edge
JPEG_MCU = 16  # test windows start on the frame's 16x16 MCU grid, so JPEG blocks fall as in the full frame
MANIFEST = "zoo.json"
DESCRIPTIVE_MODULES = {"describe.py"}  # they only describe the zoo to a reader: editing them must not rebuild it
ZOO_ENTRIES = {"train", "test", "test_labels.csv", "sample_submission.csv", MANIFEST}

# Profile settings: n_models, training frames per model (device 1), test frames in all (device 2,
# spread round-robin over the models; half manipulated), and the median native frame size.
PROFILES = {
    "smoke": {"n_models": 10, "train_per_model": 6, "test_frames": 32, "megapixels": 0.3},
    "cpu": {"n_models": 10, "train_per_model": 40, "test_frames": 500, "megapixels": 0.7},
    "gpu": {"n_models": 10, "train_per_model": 250, "test_frames": 480, "megapixels": 3.0},
}


@dataclass(frozen=True)
class FrameTask:
    """One frame to render and the file it becomes."""

    role: str  # "train" (device 1, full frame, JPEG) or "test" (device 2, 512 crop, TIFF)
    model_index: int
    frame_index: int
    path: str  # relative to the zoo root
    manipulation: str = "unalt"  # test only: "unalt" or a CHALLENGE_MANIPULATIONS name


def resolve_profile(profile: str, overrides: dict) -> dict:
    """The profile's settings with `overrides` applied, validated (ValueError on any bad value)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown zoo profile {profile!r}; choose from {', '.join(PROFILES)}")
    unknown = set(overrides) - set(PROFILES[profile])
    if unknown:
        raise ValueError(f"unknown zoo setting(s) {sorted(unknown)}; the settings are {sorted(PROFILES[profile])}")
    settings = {**PROFILES[profile], **overrides}
    for key, minimum in (("n_models", 2), ("train_per_model", 1), ("test_frames", 0)):
        value = settings[key]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ValueError(f"zoo setting {key} must be an integer >= {minimum}, got {value!r}")
        settings[key] = int(value)
    if settings["test_frames"] % 2:
        raise ValueError("test_frames must be even (half of the test images are manipulated), "
                         f"got {settings['test_frames']}")
    megapixels = settings["megapixels"]
    if isinstance(megapixels, bool) or not isinstance(megapixels, (int, float)) or not 0.05 <= megapixels <= 50:
        raise ValueError(f"zoo setting megapixels must be a number in 0.05..50, got {megapixels!r}")
    settings["megapixels"] = float(megapixels)
    return settings


def _seed_sequence(seed: int, *key: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(seed, spawn_key=(0x5EED, *key))


def plan_tasks(models: list[CameraModel], settings: dict, seed: int) -> list[FrameTask]:
    """Every frame of the zoo. Test frames: round-robin over models, alternately unaltered and manipulated,
    the manipulated ones cycling over the 8 challenge operations (shuffled), under random hex ids."""
    tasks = []
    for m, model in enumerate(models):
        digits = max(3, len(str(settings["train_per_model"])))
        for i in range(settings["train_per_model"]):
            tasks.append(FrameTask("train", m, i, f"train/{model.name}/{model.name}_{i + 1:0{digits}d}.jpg"))

    total = settings["test_frames"]
    n = len(models)
    slots = [(m, i) for m in range(n) for i in range(total // n + (m < total % n))]
    rng = np.random.default_rng(_seed_sequence(seed, 4))
    names = list(manipulations.CHALLENGE_MANIPULATIONS)
    operations = [names[j % len(names)] for j in range(total // 2)]
    operations = [operations[j] for j in rng.permutation(len(operations))]
    ids = rng.choice(16 ** 7, size=total, replace=False)
    for slot, ((m, i), image_id) in enumerate(zip(slots, ids)):
        manipulation = operations[slot // 2] if slot % 2 else "unalt"
        kind = "unalt" if manipulation == "unalt" else "manip"
        tasks.append(FrameTask("test", m, i, f"test/img_{int(image_id):07x}_{kind}.tif", manipulation))
    return tasks


def crop_side(manipulation: str) -> int:
    """Side of the centre crop a test image starts from: the challenge resized ceil(512/f) crops by f."""
    family, value = manipulations.CHALLENGE_MANIPULATIONS.get(manipulation, ("none", None))
    return math.ceil(CROP / value) if family == "resize" else CROP


def crop_window(height: int, width: int, side: int) -> tuple[pipeline.Window, int, int]:
    """The window to simulate for a centre crop of `side` of a height x width frame, and the crop's offset
    in it. The window keeps WINDOW_MARGIN around the crop and starts on the frame's JPEG MCU grid; where the
    frame is smaller than the crop (small profiles) the sensor is taken as large as the crop needs."""
    top, left = (height - side) // 2, (width - side) // 2

    def span(start: int, size: int) -> tuple[int, int]:
        low = (start - WINDOW_MARGIN) // JPEG_MCU * JPEG_MCU
        high = -(-(start + side + WINDOW_MARGIN) // JPEG_MCU) * JPEG_MCU
        if size >= side:  # the crop fits the frame: never simulate past the frame's real edges
            low, high = max(low, 0), min(high, size)
        return low, high - low

    row, rows = span(top, height)
    col, cols = span(left, width)
    return pipeline.Window(row, col, rows, cols), top - row, left - col


def frame_extent(height: int, width: int, window: pipeline.Window) -> pipeline.Window:
    """The frame a window belongs to: the native frame, grown to hold the window when a crop needs more."""
    top, left = min(0, window.top), min(0, window.left)
    bottom, right = max(height, window.top + window.height), max(width, window.left + window.width)
    return pipeline.Window(top, left, bottom - top, right - left)


def manipulate(crop: np.ndarray, manipulation: str) -> np.ndarray:
    """The challenge's operation on a crop from `crop_side`; resized crops are centre-cropped back to 512."""
    if manipulation == "unalt":
        return crop
    return manipulations.center_crop(manipulations.challenge_manipulation(crop, manipulation), CROP)


_context: dict = {}  # per process: models, devices, settings, seed, scene files, output root, timing flag


def _keep_freed_memory() -> None:
    """Ask glibc to keep freed memory instead of returning it to the OS: every frame allocates the same
    large arrays again, and re-faulting their pages cost ~8% of the build time in system calls."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: serve big arrays from the heap, not fresh mmaps
        libc.mallopt(-1, (1 << 31) - 1)  # M_TRIM_THRESHOLD: never shrink the heap
    except (OSError, AttributeError):
        pass  # not glibc: only slower


def _init_worker(context: dict) -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core already
    _keep_freed_memory()
    pipeline.colour_float32().__enter__()  # for the life of this worker process
    _context.clear()
    _context.update(context)
    pipeline.enable_stage_timing(context["timing"])


def render_task(task: FrameTask) -> tuple[dict[str, float], float, int]:
    """Render one planned frame and write its file; returns this task's stage seconds (empty when stage
    timing is off), its CPU seconds and the process's peak resident memory in KiB."""
    cpu_start = time.process_time()
    models, devices, settings, seed = _context["models"], _context["devices"], _context["settings"], _context["seed"]
    model = models[task.model_index]
    device: Device = devices[task.model_index][0 if task.role == "train" else 1]
    rng = np.random.default_rng(_seed_sequence(seed, 3, int(task.role == "test"), task.model_index, task.frame_index))
    height, width = frame_shape(model, settings["megapixels"])
    if task.role == "train":
        window, crop_top, crop_left = pipeline.Window(0, 0, height, width), 0, 0
    else:
        window, crop_top, crop_left = crop_window(height, width, crop_side(task.manipulation))

    before = pipeline.stage_seconds()
    with pipeline.timed("scene"):
        scene, preview = scenes.frame_scene(rng, frame_extent(height, width, window), window, _context["scene_files"])
    frame = pipeline.render(scene, preview, model, device, window, rng)
    with pipeline.timed("jpeg_write"):
        stored = camera_jpeg(frame, model.name, model.jpeg_quality, model.jpeg_subsampling)
        target = Path(_context["root"]) / task.path
        if task.role == "train":
            atomic_write_bytes(target, stored)
        else:  # the challenge cut its test crops from the decoded JPEGs
            side = crop_side(task.manipulation)
            crop = decode(stored)[crop_top:crop_top + side, crop_left:crop_left + side]
            atomic_write_bytes(target, tiff_bytes(np.ascontiguousarray(manipulate(crop, task.manipulation))))
    after = pipeline.stage_seconds()
    seconds = {stage: after[stage] - before[stage] for stage in after} if pipeline.stage_timing_enabled() else {}
    return seconds, time.process_time() - cpu_start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _task_cost(task: FrameTask, models, settings) -> float:
    height, width = frame_shape(models[task.model_index], settings["megapixels"])
    if task.role == "train":
        return height * width
    window = crop_window(height, width, crop_side(task.manipulation))[0]
    return window.height * window.width


def _scene_listing(scene_files, scene_dir) -> list | None:
    if scene_files is None:
        return None
    root = Path(scene_dir)
    return [[str(p.relative_to(root)) if p.is_relative_to(root) else str(p), p.stat().st_size] for p in scene_files]


def code_fingerprint() -> str:
    """Hash of the zoo's source and of camlib.manipulations: a cached zoo made by other code is rebuilt."""
    import hashlib
    digest = hashlib.sha256()
    sources = [p for p in sorted(Path(__file__).parent.glob("*.py")) if p.name not in DESCRIPTIVE_MODULES]
    sources.append(Path(manipulations.__file__))
    for source in sources:
        digest.update(source.name.encode() + source.read_bytes())
    return digest.hexdigest()[:16]


def zoo_manifest(settings, profile, seed, difficulty, models, devices, tasks, scene_dir, scene_files, equalize=()) -> dict:
    """Everything the zoo's bytes depend on, plus counts: equal manifests mean an identical dataset."""
    test = [t for t in tasks if t.role == "test"]
    manifest = {
        "zoo_version": ZOO_VERSION,
        "code": code_fingerprint(),
        "params": {"profile": profile, "settings": settings, "seed": seed, "difficulty": difficulty,
                   "scene_dir": None if scene_dir is None else str(Path(scene_dir).resolve()),
                   "scene_files": _scene_listing(scene_files, scene_dir)},
        "models": [m.to_dict() for m in models],
        "devices": [[d.to_dict() for d in pair] for pair in devices],
        "frame_shapes": {m.name: list(frame_shape(m, settings["megapixels"])) for m in models},
        "counts": {
            "train": sum(t.role == "train" for t in tasks),
            "test": len(test),
            "test_manipulated": sum(t.manipulation != "unalt" for t in test),
            "test_per_manipulation": {name: sum(t.manipulation == name for t in test)
                                      for name in ["unalt", *manipulations.CHALLENGE_MANIPULATIONS]},
            "test_per_model": {m.name: sum(t.model_index == i for t in test) for i, m in enumerate(models)},
        },
    }
    if equalize:  # only then: the manifest of a zoo without it stays as it was
        manifest["params"]["equalize"] = list(equalize)
    return manifest


def _replaceable(out: Path) -> bool:
    """Whether `out` may be deleted and rebuilt: absent, empty, or holding only zoo entries."""
    if not out.exists():
        return True
    if not out.is_dir():
        return False
    return all(entry.name in ZOO_ENTRIES for entry in out.iterdir())


def _remove_stale_partials(out: Path) -> None:
    """Delete `.name.partial-PID` folders left by killed builds (their process is gone)."""
    for stale in out.parent.glob(f".{out.name}.partial-*"):
        try:
            pid = int(stale.name.rsplit("-", 1)[1])
            os.kill(pid, 0)
            if pid != os.getpid():
                continue  # another live build
        except (ValueError, ProcessLookupError):
            pass
        except PermissionError:
            continue
        shutil.rmtree(stale, ignore_errors=True)


def _process_context():
    """Workers come from a fork server (a clean, single-threaded process that has imported the pipeline
    once): forking the caller itself can deadlock when it runs threads (OpenCV's pool, torch, tqdm)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["camlib.zoo.build", "colour_demosaicing"])
    return context


_last_build: dict = {}


def last_build_stats() -> dict:
    """Facts about the last build that rendered (not a cache hit) in this process: frames, simulated
    megapixels, workers, wall and CPU seconds, and the largest worker's peak resident memory (KiB)."""
    return dict(_last_build)


def _render_all(tasks, context, workers: int) -> tuple[float, int]:
    """Render every task (in-process when workers == 1); returns the CPU seconds of all tasks and the
    largest worker peak RSS in KiB."""
    cpu_seconds, peak_kib = 0.0, 0
    with tqdm(total=len(tasks), desc="zoo frames", unit="frame", mininterval=1.0) as progress:
        if workers == 1:
            saved = dict(_context)
            _context.clear()
            _context.update(context)
            try:
                with pipeline.colour_float32():
                    for task in tasks:
                        _, cpu, rss_kib = render_task(task)  # stage times accumulate in this process directly
                        cpu_seconds, peak_kib = cpu_seconds + cpu, max(peak_kib, rss_kib)
                        progress.update()
            finally:
                _context.clear()
                _context.update(saved)
            return cpu_seconds, peak_kib
        # An executor, not multiprocessing.Pool: a worker killed (e.g. out of memory) fails the build
        # with BrokenProcessPool instead of hanging it forever.
        executor = ProcessPoolExecutor(workers, mp_context=_process_context(), initializer=_init_worker,
                                       initargs=(context,))
        try:
            for future in as_completed([executor.submit(render_task, task) for task in tasks]):
                seconds, cpu, rss_kib = future.result()
                pipeline.add_stage_seconds(seconds)
                cpu_seconds, peak_kib = cpu_seconds + cpu, max(peak_kib, rss_kib)
                progress.update()
        except BaseException:
            executor.shutdown(wait=True, cancel_futures=True)
            raise
        executor.shutdown()
    return cpu_seconds, peak_kib


def build_zoo(out_dir, profile: str = "cpu", seed: int = 0, difficulty: str = DEFAULT_DIFFICULTY, workers: int | None = None,
              scene_dir=None, equalize=(), **overrides) -> Path:
    """Build (or reuse) the simulated camera zoo under `out_dir` in the Kaggle layout and return its path.

    Output: train/<Model>/<Model>_<i>.jpg (device 1), test/img_<id>_{unalt,manip}.tif (device 2, 512x512),
    test_labels.csv, sample_submission.csv and zoo.json (written last). A zoo whose zoo.json matches the
    requested parameters is returned untouched; otherwise it is rebuilt in a temporary folder and swapped in.
    `overrides` change profile settings (n_models, train_per_model, test_frames, megapixels). The bytes depend
    on the parameters only, not on `workers` (default: all cores). Workers come from a fork server, so a
    script that calls this with workers > 1 needs the usual `if __name__ == "__main__":` guard. `equalize` names
    trace families made the same for every camera (cameras.EQUALIZE_FAMILIES; default none)."""
    settings = resolve_profile(profile, overrides)
    check_difficulty(difficulty)
    equalize = check_equalize(equalize)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    workers = (os.cpu_count() or 1) if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    out = Path(out_dir).absolute()
    scene_files = scenes.photo_files(scene_dir) if scene_dir is not None else None

    models = camera_models(settings["n_models"], difficulty, seed, equalize)
    devices = [camera_devices(model, index, seed, equalize) for index, model in enumerate(models)]
    tasks = plan_tasks(models, settings, seed)
    manifest = zoo_manifest(settings, profile, seed, difficulty, models, devices, tasks, scene_dir, scene_files, equalize)
    manifest = read_json_roundtrip(manifest)
    if read_json(out / MANIFEST) == manifest:
        return out
    if not _replaceable(out):
        raise ValueError(f"{out} exists and is not a camlib zoo (no {MANIFEST}, other files inside); "
                         "choose another out_dir or empty it")

    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(out)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for model in models:
            (staging / "train" / model.name).mkdir(parents=True)
        (staging / "test").mkdir()
        ordered = sorted(tasks, key=lambda t: -_task_cost(t, models, settings))  # big frames first
        context = {"models": models, "devices": devices, "settings": settings, "seed": seed,
                   "scene_files": scene_files, "root": str(staging), "timing": pipeline.stage_timing_enabled()}
        workers = min(workers, max(1, len(tasks)))
        started = time.perf_counter()
        cpu_seconds, peak_kib = _render_all(ordered, context, workers)
        _last_build.clear()
        megapixels = sum(_task_cost(t, models, settings) for t in tasks) / 1e6
        _last_build.update(frames=len(tasks), workers=workers, seconds=time.perf_counter() - started,
                           cpu_seconds=cpu_seconds, megapixels=megapixels, worker_peak_rss_kib=peak_kib)
        _write_tables(staging, models, tasks)
        write_json(staging / MANIFEST, manifest)
        if out.exists():
            trash = out.parent / f".{out.name}.old-{os.getpid()}"
            os.rename(out, trash)
            os.rename(staging, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def read_json_roundtrip(payload: dict) -> dict:
    """`payload` as it reads back from JSON (tuples become lists), for comparing with a stored manifest."""
    return json.loads(json.dumps(payload))


def _write_tables(root: Path, models, tasks) -> None:
    test = sorted((t for t in tasks if t.role == "test"), key=lambda t: t.path)
    rows = [(Path(t.path).name, models[t.model_index].name, t.manipulation) for t in test]
    write_csv(root / "test_labels.csv", ["fname", "camera", "manipulation"], rows)
    placeholder = sorted(m.name for m in models)[0]
    write_csv(root / "sample_submission.csv", ["fname", "camera"], [(fname, placeholder) for fname, _, _ in rows])
