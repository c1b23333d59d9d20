"""Print the error of a failed executed notebook in a few lines (run_all.sh calls it)."""
from __future__ import annotations

import json
import re
import sys


def notebook_error(path) -> str:
    """'cell N: ExceptionName: message' of the first error output in an executed notebook."""
    with open(path) as stream:
        notebook = json.load(stream)
    for index, cell in enumerate(notebook.get("cells", [])):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                message = re.sub(r"\x1b\[[0-9;]*m", "", output.get("evalue", ""))
                return f"  cell {index}: {output.get('ename')}: {message}"
    return "  (no error output found in the notebook)"


if __name__ == "__main__":
    print(notebook_error(sys.argv[1]))
