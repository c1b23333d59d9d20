#!/usr/bin/env bash
# Regenerates requirements.lock, the exact versions ./run_all.sh installs, from pyproject.toml (with the
# test extra: pytest, ruff, mypy). pip-tools resolves with pip itself, so the lock pins what pip installs
# here: Python 3.11 on Linux x86_64, torch's CUDA build and the nvidia-* wheels it pulls.
#   ./lock.sh                           keep the current pins where pyproject.toml still allows them
#   ./lock.sh --upgrade                 newest versions of everything
#   ./lock.sh --upgrade-package NAME    newest NAME only (any pip-compile option passes through)
# Then run ./run_all.sh --tests: its .venv is re-installed when pyproject.toml or the lock changes.
set -euo pipefail
cd "$(dirname "$0")"
PIP_VERSION=26.3  # keep in step with run_all.sh
TOOLS=$(mktemp -d)
trap 'rm -rf "$TOOLS"' EXIT
"${PYTHON:-$(command -v python3.11 || command -v python3)}" -m venv "$TOOLS"
"$TOOLS/bin/python" -m pip install --quiet "pip==$PIP_VERSION" "pip-tools==7.6.2"
CUSTOM_COMPILE_COMMAND="./lock.sh" "$TOOLS/bin/pip-compile" --quiet --extra test --allow-unsafe --strip-extras \
  --no-emit-index-url --no-emit-find-links --output-file requirements.lock "$@" pyproject.toml
