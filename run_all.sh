#!/usr/bin/env bash
# Builds the default dataset, executes the notebooks with papermill and renders the HTML tech report.
#   ./run_all.sh                       the default report (cpu profile, simulated data) -> reports/
#   ./run_all.sh --profile smoke       a quick end-to-end check (about 2 minutes)
#   ./run_all.sh --layout dresden --data-dir PATH [--profile cpu]   the report on real photos
#   ./run_all.sh -p epochs 3 -p arch resnet34   override any parameter (python -m camlib.settings lists them)
#   ./run_all.sh --publish NAME         also copy the report to reports/NAME.html (tracked files change only with --publish)
#   ./run_all.sh --tests [PYTEST ARGS]  set up the same environment and run the test suite
set -euo pipefail
CALLER=$(pwd)  # relative --data-dir and --out are relative to where the command was typed
cd "$(dirname "$0")"
ROOT=$(pwd)

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; echo "options: --profile smoke|cpu|gpu  --out DIR  --layout zoo|kaggle|dresden|folder  --data-dir DIR  --seed N (first training seed)  -p NAME VALUE  --only NOTEBOOK  --publish NAME  --tests"; }

PROFILE=cpu; OUT=""; LAYOUT=zoo; DATA_DIR=""; SEED=0; RUN_TESTS=0; ONLY=""; PUBLISH=""; PARAMS=(); PYTEST_ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --profile) PROFILE="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --layout) LAYOUT="$2"; shift 2 ;;
    --data-dir) DATA_DIR="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --publish) PUBLISH="$2"; shift 2 ;;
    -p) [[ $# -ge 3 ]] || { echo "run_all.sh: -p needs NAME and VALUE" >&2; exit 2; }; PARAMS+=(-p "$2" "$3"); shift 3 ;;
    --tests) RUN_TESTS=1; shift; PYTEST_ARGS=("$@"); break ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_all.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$PROFILE" in smoke|cpu|gpu) ;; *) echo "run_all.sh: unknown profile '$PROFILE' (smoke, cpu or gpu)" >&2; exit 2 ;; esac
[[ -z "$PUBLISH" || "$PUBLISH" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || { echo "run_all.sh: --publish takes a plain name (letters, digits, . _ -), got '$PUBLISH'" >&2; exit 2; }
case "$LAYOUT" in zoo|kaggle|dresden|folder) ;; *) echo "run_all.sh: unknown layout '$LAYOUT' (zoo, kaggle, dresden or folder)" >&2; exit 2 ;; esac
# Paths near the repository are passed relative to it (the notebooks run there): the reports and their
# appendix then name the data folder by name, not by this machine's absolute path.
near() { python3 -c 'import os, sys; p = os.path.abspath(os.path.join(sys.argv[3], sys.argv[1])); r = os.path.relpath(p, sys.argv[2]); print(p if r.startswith(os.path.join("..", "..")) else r)' "$1" "$ROOT" "$CALLER"; }
[[ -n "$DATA_DIR" ]] && DATA_DIR=$(near "$DATA_DIR")
if [[ "$LAYOUT" != zoo && ! -d "$DATA_DIR" ]]; then echo "run_all.sh: --layout $LAYOUT needs --data-dir pointing to an existing folder (got '${DATA_DIR}')" >&2; exit 2; fi

# --- environment: .venv with the exact versions of requirements.lock (made by ./lock.sh from pyproject.toml),
# then camlib itself; re-installed when pyproject.toml or the lock changes ---
PYTHON_BIN=${PYTHON:-$(command -v python3.11 || command -v python3)}
STAMP=.venv/.camlib-install-$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-12)
if [[ ! -f "$STAMP" ]]; then
  echo "== setting up .venv (first run: installs torch and the notebook stack, a few minutes)"
  [[ -x .venv/bin/python ]] || "$PYTHON_BIN" -m venv .venv
  .venv/bin/python -m pip install --quiet "pip==26.3"  # the pip the lock was made with (lock.sh)
  .venv/bin/python -m pip install --quiet -r requirements.lock
  .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
  rm -f .venv/.camlib-install-*; touch "$STAMP"
fi
# On a machine shared with other jobs, OMP_WAIT_POLICY=PASSIVE stops idle torch threads from spinning
# (measured 5-9x slower steps under load without it); on an idle laptop it slows this run down 1.5-2x.
export PATH="$ROOT/.venv/bin:$PATH" PYTHONUNBUFFERED=1 MPLBACKEND=Agg

if [[ $RUN_TESTS == 1 ]]; then
  exec python -m pytest "${PYTEST_ARGS[@]}"
fi

# --- the report ---
NAME="$PROFILE-$LAYOUT"; [[ "$SEED" != 0 ]] && NAME="$NAME-seed$SEED"
RUN_DIR=$(near "${OUT:-runs/$NAME}")
mkdir -p "$RUN_DIR/notebooks"
LOG="$RUN_DIR/run.log"
RUN_START=$(date +%s.%N)
export CAMLIB_RUN_STARTED; CAMLIB_RUN_STARTED=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
echo "== run folder: $RUN_DIR (log: $LOG)" | tee -a "$LOG"
# The default report keeps reports/appendix; another published report gets its own NAME-appendix folder.
APPENDIX=appendix; [[ -n "$PUBLISH" && "$PUBLISH" != camera-model-identification ]] && APPENDIX="$PUBLISH-appendix"
mkdir -p "$RUN_DIR/$APPENDIX"
COMMON=(-p profile "$PROFILE" -p run_dir "$RUN_DIR" -p layout "$LAYOUT" -p data_dir "$DATA_DIR" -p seed "$SEED")

python -m camlib.validate "${COMMON[@]}" "${PARAMS[@]}" | tee -a "$LOG" || exit 2

for notebook in notebooks/[0-9][0-9]_*.ipynb; do
  name=$(basename "$notebook" .ipynb)
  [[ -n "$ONLY" && "$name" != *"$ONLY"* && "$name" != 99_report ]] && continue
  executed="$RUN_DIR/notebooks/$name.ipynb"
  echo "== $name" | tee -a "$LOG"
  start=$(date +%s.%N)
  ARGS=("${COMMON[@]}" "${PARAMS[@]}")
  # the report reads the run's settings.json: it takes only the run folder (and where the appendix goes)
  [[ "$name" == 99_report ]] && ARGS=(-p profile "$PROFILE" -p run_dir "$RUN_DIR" -p appendix_dir "$APPENDIX")
  if ! papermill "$notebook" "$executed" -k python3 --cwd "$ROOT" "${ARGS[@]}" >>"$LOG" 2>&1; then
    echo "run_all.sh: notebook $name failed; the executed copy with the error is $executed (log: $LOG)" >&2
    python -m camlib.notebook_error "$executed" >&2 || true
    exit 1
  fi
  seconds=$(python -c "import sys; print(round($(date +%s.%N) - $start, 1))")
  python -m camlib.runlog "$RUN_DIR/notebook_seconds.json" "$name" "$seconds"
  echo "   $name: ${seconds}s" | tee -a "$LOG"
done

echo "== rendering the report" | tee -a "$LOG"
# The 'offline' template (camlib/templates/nbconvert) fetches nothing from the network: the pages work offline.
RENDER=(jupyter nbconvert --to html --template offline --TemplateExporter.extra_template_basedirs="$ROOT/camlib/templates/nbconvert")
for executed in "$RUN_DIR"/notebooks/*.ipynb; do
  name=$(basename "$executed" .ipynb)
  [[ "$name" == 99_report ]] && continue
  "${RENDER[@]}" "$executed" --output-dir "$RUN_DIR/$APPENDIX" --output "$name.partial" >>"$LOG" 2>&1
  mv -f "$RUN_DIR/$APPENDIX/$name.partial.html" "$RUN_DIR/$APPENDIX/$name.html"
done
"${RENDER[@]}" --no-input --no-prompt "$RUN_DIR/notebooks/99_report.ipynb" --output-dir "$RUN_DIR" --output report.partial >>"$LOG" 2>&1
mv -f "$RUN_DIR/report.partial.html" "$RUN_DIR/report.html"  # a killed render never leaves a half report
echo "== report: $RUN_DIR/report.html" | tee -a "$LOG"
# a partial run (--only) is recorded under its own key: run_all.sh stays the wall time of the whole run
python -m camlib.runlog "$RUN_DIR/run_seconds.json" "run_all.sh${ONLY:+ --only $ONLY}" \
  "$(python -c "print(round($(date +%s.%N) - $RUN_START, 1))")"

if [[ -n "$PUBLISH" ]]; then
  python -m camlib.runlog --publish "$RUN_DIR" reports "$PUBLISH" "$APPENDIX"
  echo "== published: reports/$PUBLISH.html and reports/$PUBLISH.metrics.json" | tee -a "$LOG"
fi
