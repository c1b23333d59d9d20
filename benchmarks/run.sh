#!/usr/bin/env bash
# Runs every benchmark in order; stdout gets only their `name value unit` lines, everything else goes to stderr.
#   benchmarks/run.sh [RUN_DIR]      RUN_DIR: a finished ./run_all.sh run for report_time.py and convergence.py
#                                    (default runs/cpu-zoo, the default report's run)
#   nice -n 10 benchmarks/run.sh 2>bench.log     on a shared machine
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[[ -x $PY ]] || PY=python3
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # camlib importable even without an installed .venv
FIGURE='^[A-Za-z_][A-Za-z0-9_.]* (-?[0-9.]+([eE][-+]?[0-9]+)?|-?nan|-?inf) [^ ]+$'
failed=()

bench() {  # bench SCRIPT [ARGS...]: figures to stdout, any other line to stderr
  echo "== $PY $*" >&2
  "$PY" "$@" | while IFS= read -r line; do
    if [[ $line =~ $FIGURE ]]; then echo "$line"; else echo "$line" >&2; fi
  done
  local rc=${PIPESTATUS[0]}
  if [[ $rc != 0 ]]; then echo "run.sh: $1 failed (exit $rc)" >&2; failed+=("$1"); fi
}

bench benchmarks/refusal_time.py
[[ -f benchmarks/zoo_bench.py ]] && bench benchmarks/zoo_bench.py
bench benchmarks/train_bench.py
bench benchmarks/tta_bench.py
bench benchmarks/scaling.py
bench benchmarks/real_photos.py
bench benchmarks/report_time.py "${1:-runs/cpu-zoo}"
bench benchmarks/convergence.py "${1:-runs/cpu-zoo}"  # trains the main recipe twice as long: the longest step

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "run.sh: failed: ${failed[*]}" >&2
  exit 1
fi
