"""Report time: the wall seconds of each notebook of a finished ./run_all.sh run, their sum and the whole run's wall time."""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from common import emit

REPO_ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dir", nargs="?", default="runs/cpu-zoo", help="run folder (default: the default report's)")
    args = parser.parse_args()
    run_dir = Path(args.run_dir)
    run_dir = run_dir if run_dir.is_absolute() or run_dir.exists() else REPO_ROOT / run_dir
    timings = run_dir / "notebook_seconds.json"
    if not timings.is_file():
        print(f"report_time.py: {timings} not found: make the run first with ./run_all.sh "
              f"(the default report; it writes runs/cpu-zoo)", file=sys.stderr)
        return 1
    seconds = json.loads(timings.read_text())
    for notebook, value in seconds.items():
        emit(f"stage_seconds_{re.sub(r'[^A-Za-z0-9_]', '_', notebook)}", float(value), "s")
    if not finished(run_dir / "run.log"):
        print(f"report_time.py: {run_dir} is not a finished run (still running, or a notebook failed: see its run.log); "
              f"report_minutes needs a complete ./run_all.sh", file=sys.stderr)
        return 1
    notebooks = sum(map(float, seconds.values())) / 60
    emit("notebook_minutes", notebooks, "min")
    whole = json.loads((run_dir / "run_seconds.json").read_text()).get("run_all.sh") if (run_dir / "run_seconds.json").is_file() else None
    # the whole ./run_all.sh: building the zoo (inside the first notebook), every notebook and rendering the HTML
    emit("report_minutes", (float(whole) / 60) if whole else notebooks, "min")
    return 0


def finished(log: Path) -> bool:
    """run_all.sh's last `== ` line of a complete run announces the report (or its publication)."""
    if not log.is_file():
        return True  # a run folder without its log (copied elsewhere): trust notebook_seconds.json
    steps = [line for line in log.read_text(errors="replace").splitlines() if line.startswith("== ")]
    return bool(steps) and steps[-1].startswith(("== report:", "== published"))


if __name__ == "__main__":
    sys.exit(main())
