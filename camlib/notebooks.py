"""The chapters' parameters cells, generated from the settings (`python -m camlib.notebooks --write`), and
the check that each notebook declares exactly the parameters its stage uses (`--check`)."""
from __future__ import annotations

import argparse
import json
import sys
import typing
from pathlib import Path

from .settings import PROFILES, REPO_ROOT, Settings

NOTEBOOKS = REPO_ROOT / "notebooks"
HEADER = ("# Parameters of this chapter: papermill -p NAME VALUE, or ./run_all.sh -p NAME VALUE for every chapter.\n"
          "# None takes the profile's value (shown as cpu: ...). Every parameter: python -m camlib.settings")
REPORT_FIELDS = ("profile", "run_dir")
REPORT_EXTRA = 'appendix_dir: str = "appendix"  # where run_all.sh renders the executed notebooks, relative to the report'


def _type_text(name: str) -> str:
    field = Settings.model_fields[name]
    annotation = field.annotation
    if typing.get_origin(annotation) is typing.Literal:
        return " | ".join(str(a) for a in typing.get_args(annotation))
    bounds = []  # in words: papermill skips a parameter line with a second '=' (as in >=)
    for rule in field.metadata:
        for attr, word in (("ge", "at least"), ("gt", "above"), ("le", "at most"), ("lt", "below")):
            if getattr(rule, attr, None) is not None:
                bounds.append(f"{word} {getattr(rule, attr)}")
    base = getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")
    if typing.get_origin(annotation) in (list, tuple) or "list" in str(annotation) or "tuple" in str(annotation):
        base = "pair low,high" if "tuple" in str(annotation) else "list a,b,c"
    return f"{base}, {' and '.join(bounds)}" if bounds else base


def _python_type(name: str) -> str:
    """The annotation papermill shows: int, float, bool, str or list."""
    annotation = Settings.model_fields[name].annotation
    if typing.get_origin(annotation) is typing.Literal:
        return "str"
    text = str(annotation)
    if "list" in text or "tuple" in text:
        return "list"
    return getattr(annotation, "__name__", "str")


def parameter_line(name: str) -> str:
    field = Settings.model_fields[name]
    cpu = Settings(**PROFILES["cpu"]).to_dict()[name]
    if name == "profile":
        return f'profile: str = "cpu"  # {field.description} [smoke | cpu | gpu]; it fills every parameter left at None'
    return f"{name}: {_python_type(name)} = None  # {field.description} [{_type_text(name)}] (cpu: {cpu!r})"


def parameters_source(chapter: str) -> str:
    if chapter == "99_report":
        return "\n".join([HEADER] + [parameter_line(n) for n in REPORT_FIELDS] + [REPORT_EXTRA])
    from .stages import CHAPTER_FIELDS
    return "\n".join([HEADER] + [parameter_line(name) for name in CHAPTER_FIELDS[chapter]])


def _parameters_cell(notebook: dict) -> dict:
    cells = [c for c in notebook["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"expected one cell tagged 'parameters', found {len(cells)}")
    return cells[0]


def check(path: Path) -> list[str]:
    """Problems of one notebook: a missing or stale parameters cell, committed outputs."""
    notebook = json.loads(path.read_text())
    problems = []
    try:
        cell = _parameters_cell(notebook)
        if "".join(cell["source"]) != parameters_source(path.stem):
            problems.append(f"{path.name}: parameters cell out of date (python -m camlib.notebooks --write)")
    except ValueError as exc:
        problems.append(f"{path.name}: {exc}")
    if any(c.get("outputs") for c in notebook["cells"] if c["cell_type"] == "code"):
        problems.append(f"{path.name}: outputs committed")
    return problems


def write(path: Path) -> None:
    notebook = json.loads(path.read_text())
    cell = _parameters_cell(notebook)
    cell["source"] = parameters_source(path.stem).splitlines(keepends=True)
    for code in notebook["cells"]:
        if code["cell_type"] == "code":
            code["outputs"], code["execution_count"] = [], None
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")


def chapters() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="regenerate every parameters cell and strip outputs")
    args = parser.parse_args(argv)
    problems = []
    for path in chapters():
        if args.write:
            write(path)
        problems += check(path)
    print("\n".join(problems) or "notebooks: parameters cells in sync, no outputs")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
