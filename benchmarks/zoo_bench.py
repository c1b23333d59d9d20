"""Benchmark of the camera zoo build: prints `name value unit` lines (speed, stage shares, peak memory)."""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from camlib.zoo import build, pipeline


def run(out_dir: Path, profile: str, workers: int, difficulty: str) -> list[tuple[str, float, str]]:
    if (out_dir / build.MANIFEST).exists():
        raise SystemExit(f"{out_dir} already holds a zoo (a cache hit measures nothing); give an empty folder")
    pipeline.reset_stage_seconds()
    pipeline.enable_stage_timing(True)
    start = time.perf_counter()
    build.build_zoo(out_dir, profile, difficulty=difficulty, workers=workers)
    wall = time.perf_counter() - start
    stats = build.last_build_stats()
    stages = pipeline.stage_seconds()
    total = sum(stages.values()) or 1.0
    # Upper bound of the peak: this process plus every worker at the largest worker's peak (KiB -> GiB).
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + stats["workers"] * stats["worker_peak_rss_kib"]
    lines = [
        ("zoo_build_s", wall, "s"),
        ("zoo_frames", stats["frames"], "frames"),
        ("zoo_simulated_mp", stats["megapixels"], "MP"),
        ("zoo_workers", stats["workers"], "processes"),
        ("zoo_frames_per_s", stats["frames"] / wall, "frames/s"),
        ("zoo_mp_per_s_per_core", stats["megapixels"] / wall / stats["workers"], "MP/s"),
        # CPU time does not grow when other jobs share the cores: cpu_s / workers is the build time on idle cores.
        ("zoo_cpu_s", stats["cpu_seconds"], "s"),
        ("zoo_mp_per_cpu_s", stats["megapixels"] / stats["cpu_seconds"], "MP/s"),
    ]
    lines += [(f"zoo_stage_share_{stage}", stages[stage] / total, "ratio") for stage in pipeline.STAGES]
    lines.append(("zoo_peak_rss_gib", peak_kib / 2 ** 20, "GiB"))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out_dir", nargs="?", help="empty folder to build into (default: a temporary folder)")
    parser.add_argument("--profile", default="cpu", choices=sorted(build.PROFILES))
    parser.add_argument("--difficulty", default="distinct")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    if args.out_dir:
        lines = run(Path(args.out_dir), args.profile, args.workers, args.difficulty)
    else:
        with tempfile.TemporaryDirectory(prefix="zoo_bench_") as folder:
            lines = run(Path(folder) / "zoo", args.profile, args.workers, args.difficulty)
    for name, value, unit in lines:
        print(f"{name} {value:.4g} {unit}")


if __name__ == "__main__":
    main()
