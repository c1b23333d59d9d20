"""Try a training recipe on real photos: per-camera image-level accuracy on the test device, with 95% intervals.

    python benchmarks/real_recipe.py --data-dir ../shared/data/dresden-nikon -p crop 96 -p epochs 6 -p replicates 1

The recipe is any set of settings (`-p NAME VALUE`, as for run_all.sh) on top of the cpu profile and the real-photo
defaults; the run folder is runs/real-recipe-<hash> (kept: the same recipe is not trained twice). Prints one JSON
line: the recipe, the weighted and per-camera accuracy with intervals, the training minutes.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import log

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--layout", default="dresden")
    parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    parser.add_argument("--out", default=None, help="append the JSON line to this file too")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: every core); 1 to run two recipes at once")
    args = parser.parse_args()
    from camlib.runs import params_hash
    from camlib.settings import resolve
    from camlib.stages import Run, inference, training
    from camlib.stages.core import set_threads

    recipe = dict(args.p)
    data_dir = str(Path(args.data_dir).resolve())
    name = params_hash({"recipe": recipe, "layout": args.layout, "data": data_dir})
    settings = resolve("cpu", {**recipe, "layout": args.layout, "data_dir": data_dir,
                               "run_dir": str(REPO / "runs" / f"real-recipe-{name}")})
    set_threads()
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    run = Run(settings, progress=False)
    log(f"{len(run.data.train)} training and {len(run.data.test)} test photos; recipe {recipe}")
    models = training(run).models
    scores = inference(run).tta.scores()
    line = {"recipe": recipe, "weighted": scores.weighted_accuracy.text(), "accuracy": scores.accuracy.text(),
            "per_camera": {camera: estimate.text(2) for camera, estimate in scores.per_class.items()},
            "final_train_loss": [round(m.final_train_loss, 3) for m in models],
            "train_minutes": round(sum(m.train_minutes for m in models), 2)}
    text = json.dumps(line)
    print(text, flush=True)
    if args.out:
        with open(args.out, "a") as stream:
            stream.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
