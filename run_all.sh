#!/usr/bin/env bash
# Builds the default dataset, executes the notebooks with papermill and renders the HTML tech report.
#   ./run_all.sh                       the default report (cpu profile, simulated data) -> reports/
#   ./run_all.sh --profile smoke       a quick end-to-end check (about 2 minutes)
#   ./run_all.sh --layout dresden --data-dir PATH [--profile cpu]   the report on real photos
#   ./run_all.sh -p epochs 3 -p arch resnet34   override any notebook parameter
#   ./run_all.sh --tests [PYTEST ARGS]  set up the same environment and run the test suite
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)

usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; echo "options: --profile smoke|cpu|gpu  --out DIR  --layout zoo|kaggle|dresden|folder  --data-dir DIR  --seed N  -p NAME VALUE  --only NOTEBOOK  --tests"; }

PROFILE=cpu; OUT=""; LAYOUT=zoo; DATA_DIR=""; SEED=0; RUN_TESTS=0; ONLY=""; PARAMS=(); PYTEST_ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --profile) PROFILE="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --layout) LAYOUT="$2"; shift 2 ;;
    --data-dir) DATA_DIR="$(cd "$2" 2>/dev/null && pwd || echo "$2")"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    -p) [[ $# -ge 3 ]] || { echo "run_all.sh: -p needs NAME and VALUE" >&2; exit 2; }; PARAMS+=(-p "$2" "$3"); shift 3 ;;
    --tests) RUN_TESTS=1; shift; PYTEST_ARGS=("$@"); break ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_all.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$PROFILE" in smoke|cpu|gpu) ;; *) echo "run_all.sh: unknown profile '$PROFILE' (smoke, cpu or gpu)" >&2; exit 2 ;; esac
case "$LAYOUT" in zoo|kaggle|dresden|folder) ;; *) echo "run_all.sh: unknown layout '$LAYOUT' (zoo, kaggle, dresden or folder)" >&2; exit 2 ;; esac
if [[ "$LAYOUT" != zoo && ! -d "$DATA_DIR" ]]; then echo "run_all.sh: --layout $LAYOUT needs --data-dir pointing to an existing folder (got '${DATA_DIR}')" >&2; exit 2; fi

# --- environment: .venv with camlib and its dependencies, re-installed when pyproject.toml changes ---
PYTHON_BIN=${PYTHON:-$(command -v python3.11 || command -v python3)}
STAMP=.venv/.camlib-install-$(sha256sum pyproject.toml | cut -c1-12)
if [[ ! -f "$STAMP" ]]; then
  echo "== setting up .venv (first run: installs torch and the notebook stack, a few minutes)"
  [[ -x .venv/bin/python ]] || "$PYTHON_BIN" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[test]"
  rm -f .venv/.camlib-install-*; touch "$STAMP"
fi
# On a machine shared with other jobs, OMP_WAIT_POLICY=PASSIVE stops idle torch threads from spinning
# (measured 5-9x slower steps under load without it); on an idle laptop it slows this run down 1.5-2x.
export PATH="$ROOT/.venv/bin:$PATH" PYTHONUNBUFFERED=1 MPLBACKEND=Agg

if [[ $RUN_TESTS == 1 ]]; then
  exec python -m pytest "${PYTEST_ARGS[@]}"
fi

# --- the report ---
DEFAULT_RUN=0
[[ "$PROFILE" == cpu && "$LAYOUT" == zoo && ${#PARAMS[@]} -eq 0 && -z "$OUT" && "$SEED" == 0 && -z "$ONLY" ]] && DEFAULT_RUN=1
NAME="$PROFILE-$LAYOUT"; [[ "$SEED" != 0 ]] && NAME="$NAME-seed$SEED"
RUN_DIR=$(python -c 'import os,sys; print(os.path.abspath(sys.argv[1]))' "${OUT:-runs/$NAME}")
mkdir -p "$RUN_DIR/notebooks" "$RUN_DIR/appendix"
LOG="$RUN_DIR/run.log"
echo "== run folder: $RUN_DIR (log: $LOG)" | tee -a "$LOG"
COMMON=(-p profile "$PROFILE" -p run_dir "$RUN_DIR" -p layout "$LAYOUT" -p data_dir "$DATA_DIR" -p seed "$SEED")
[[ "$LAYOUT" != zoo ]] && COMMON+=(-p test_center_crop 512)

python -m camlib.validate "${COMMON[@]}" "${PARAMS[@]}" | tee -a "$LOG" || exit 2

for notebook in notebooks/[0-9][0-9]_*.ipynb; do
  name=$(basename "$notebook" .ipynb)
  [[ -n "$ONLY" && "$name" != *"$ONLY"* && "$name" != 99_report ]] && continue
  executed="$RUN_DIR/notebooks/$name.ipynb"
  echo "== $name" | tee -a "$LOG"
  start=$(date +%s.%N)
  if ! papermill "$notebook" "$executed" -k python3 --cwd "$ROOT" "${COMMON[@]}" "${PARAMS[@]}" >>"$LOG" 2>&1; then
    echo "run_all.sh: notebook $name failed; the executed copy with the error is $executed (log: $LOG)" >&2
    python -m camlib.notebook_error "$executed" >&2 || true
    exit 1
  fi
  seconds=$(python -c "import sys; print(round($(date +%s.%N) - $start, 1))")
  python -m camlib.runlog "$RUN_DIR/notebook_seconds.json" "$name" "$seconds"
  echo "   $name: ${seconds}s" | tee -a "$LOG"
done

echo "== rendering the report" | tee -a "$LOG"
for executed in "$RUN_DIR"/notebooks/*.ipynb; do
  name=$(basename "$executed" .ipynb)
  [[ "$name" == 99_report ]] && continue
  jupyter nbconvert --to html "$executed" --output-dir "$RUN_DIR/appendix" --output "$name.partial" >>"$LOG" 2>&1
  mv -f "$RUN_DIR/appendix/$name.partial.html" "$RUN_DIR/appendix/$name.html"
done
jupyter nbconvert --to html --no-input --no-prompt "$RUN_DIR/notebooks/99_report.ipynb" --output-dir "$RUN_DIR" --output report.partial >>"$LOG" 2>&1
mv -f "$RUN_DIR/report.partial.html" "$RUN_DIR/report.html"  # a killed render never leaves a half report
echo "== report: $RUN_DIR/report.html" | tee -a "$LOG"

if [[ $DEFAULT_RUN == 1 ]]; then
  python -m camlib.runlog --publish "$RUN_DIR" reports camera-model-identification
  echo "== published: reports/camera-model-identification.html and .metrics.json" | tee -a "$LOG"
fi
