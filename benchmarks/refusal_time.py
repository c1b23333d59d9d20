"""Wall time of refusing a bad parameter: `python -m camlib.validate -p epochs banana`, a fresh process each time."""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from common import emit, log


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5, help="processes started; the median is reported")
    args = parser.parse_args()
    seconds = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "camlib.validate", "-p", "epochs", "banana"],
                                capture_output=True, text=True)
        seconds.append(time.perf_counter() - started)
        if result.returncode != 2:
            raise SystemExit(f"expected exit status 2, got {result.returncode}: {result.stderr}")
    log(f"refusal: {result.stderr.strip()}")
    emit("refusal_seconds", statistics.median(seconds), "s")


if __name__ == "__main__":
    main()
