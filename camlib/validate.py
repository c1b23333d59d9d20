"""Check a run's parameters and data before any notebook starts: `python -m camlib.validate -p NAME VALUE ...`."""
from __future__ import annotations

import ast
import sys


def parse_value(text: str):
    """Papermill-like typing of a -p value: int, float, bool, None, list literal, else the string."""
    lowered = text.strip()
    if lowered in ("True", "true"):
        return True
    if lowered in ("False", "false"):
        return False
    if lowered in ("None", "null"):
        return None
    try:
        return ast.literal_eval(lowered)
    except (ValueError, SyntaxError):
        return text


def main(argv=None) -> int:
    from .project import check_data, resolve
    args = list(sys.argv[1:] if argv is None else argv)
    values = {}
    while args:
        flag = args.pop(0)
        if flag != "-p" or len(args) < 2:
            print(f"camlib.validate: expected '-p NAME VALUE', got {flag!r}", file=sys.stderr)
            return 2
        name, value = args.pop(0), args.pop(0)
        values[name] = value if name in ("data_dir", "run_dir", "layout", "profile", "weights", "arch") else parse_value(value)
    try:
        settings = resolve(values.pop("profile", "cpu"), values)
        print(f"== data: {check_data(settings)}")
    except (ValueError, OSError) as exc:
        print(f"run_all.sh: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
