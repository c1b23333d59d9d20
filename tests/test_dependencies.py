"""Every third-party package that camlib, its notebooks, benchmarks and tests import is declared in
pyproject.toml, and the GUI build of OpenCV stays out (camlib uses opencv-python-headless)."""
import ast
import json
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parents[1]
LOCAL = {"camlib", "common"} | {p.stem for p in (ROOT / "tests").glob("*.py")}  # benchmarks/common.py, test helpers
NOT_INSTALLED = {"pillow_heif": "pillow-heif", "turbojpeg": "pyturbojpeg"}  # optional extras (heic, bench)


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", requirement).group()).lower()


def _sources():
    for folder in ("camlib", "benchmarks", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            yield path, path.read_text()
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        cells = json.loads(path.read_text())["cells"]
        yield path, "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def _imported():
    found = {}
    for path, source in _sources():
        for node in ast.walk(ast.parse(source)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in LOCAL:
                    found.setdefault(top, path.relative_to(ROOT))
    return found


def test_every_imported_package_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in project["dependencies"]}
    declared |= {_name(r) for extra in project["optional-dependencies"].values() for r in extra}
    owners = metadata.packages_distributions()
    missing = []
    for module, where in sorted(_imported().items()):
        dists = {_name(d) for d in owners.get(module, [])} or {NOT_INSTALLED.get(module, f"<{module}: unknown>")}
        if not dists & declared:
            missing.append(f"{module} (imported in {where}; distribution {' or '.join(sorted(dists))})")
    assert not missing, "not declared in pyproject.toml: " + ", ".join(missing)


def test_opencv_is_the_headless_build():
    metadata.distribution("opencv-python-headless")
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.distribution("opencv-python")  # the GUI build would overwrite the same cv2 package
