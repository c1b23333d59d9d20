"""Check a run's parameters and data before any notebook starts: `python -m camlib.validate -p NAME VALUE ...`.

Every problem is one line on stderr and exit status 2: an unknown name, a value of the wrong type or out of
range, an architecture whose weights are not available, data that cannot make a run."""
from __future__ import annotations

import sys


def parse_args(args: list[str]) -> dict:
    """{name: text} of `-p NAME VALUE` pairs (values stay text: the settings model types them)."""
    values = {}
    while args:
        flag = args.pop(0)
        if flag != "-p" or len(args) < 2:
            raise ValueError(f"expected '-p NAME VALUE', got {flag!r}")
        name, value = args.pop(0), args.pop(0)
        values[name] = None if value in ("None", "null") else value
    return values


def main(argv=None) -> int:
    from .settings import SettingsError, check_names, resolve
    try:
        values = parse_args(list(sys.argv[1:] if argv is None else argv))
        check_names(values)
        settings = resolve(values.pop("profile", "cpu"), values)
    except (SettingsError, ValueError, OSError) as exc:
        return _refuse(exc)
    # only parameters that make a run reach the modules that import torch, albumentations and cv2
    from .datasets import LayoutError
    from .rundata import check_data
    from .stages.core import check_resources
    try:
        check_resources(settings)
        print(f"== data: {check_data(settings)}")
    except (SettingsError, LayoutError, ValueError, OSError) as exc:
        return _refuse(exc)
    return 0


def _refuse(exc: Exception) -> int:
    print(f"run_all.sh: {exc}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
