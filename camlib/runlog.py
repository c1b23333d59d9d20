"""Small helpers that run_all.sh calls: record a stage's wall time, and publish a run's report."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from .runs import atomic_write_bytes, read_json, write_json


def record_seconds(path, stage: str, seconds: float) -> None:
    times = read_json(path, {})
    times[stage] = float(seconds)
    write_json(path, times)


def publish(run_dir, reports_dir, name: str, appendix: str = "appendix") -> None:
    """Copy report.html, metrics.json, the appendix and the figures of a run into reports/ (file by file,
    atomically): reports/NAME.html and .metrics.json, reports/<appendix>/ and the figures in reports/figures/
    (the default report) or reports/NAME-figures/."""
    run_dir, reports_dir = Path(run_dir), Path(reports_dir)
    atomic_write_bytes(reports_dir / f"{name}.html", (run_dir / "report.html").read_bytes())
    atomic_write_bytes(reports_dir / f"{name}.metrics.json", (run_dir / "metrics.json").read_bytes())
    figures = "figures" if appendix == "appendix" else f"{name}-figures"
    for source, folder, pattern in ((appendix, appendix, "*.html"), ("figures", figures, "*.png")):
        target = reports_dir / folder
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for page in sorted((run_dir / source).glob(pattern)):
            atomic_write_bytes(target / page.name, page.read_bytes())


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "--publish":
        publish(*args[1:5])
    else:
        record_seconds(args[0], args[1], float(args[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
