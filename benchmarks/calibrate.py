"""Calibration sweep: one zoo setting x one training recipe -> converged test accuracy, as JSON lines.

    python benchmarks/calibrate.py --zoo difficulty=default,test_frames=600 --recipe crop=64,epochs=8 --seeds 0,1

Each (zoo, recipe, seed) trains one model with camlib.train.train and scores the zoo's test device with the
given TTA; the line holds the zoo and recipe, the accuracies, the final training loss and the minutes.
"""
from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from common import log, setup

REPO = Path(__file__).resolve().parents[1]


def _pairs(text: str) -> dict:
    out = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        try:
            out[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[name] = value
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--zoo", default="", help="difficulty=..., zoo_seed=..., and zoo profile overrides")
    parser.add_argument("--recipe", default="", help="TrainConfig / AugmentConfig fields, e.g. crop=64,epochs=8,lr=2e-3")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--tta", default="grid4", help="grid<k>, five or center, optionally +flip")
    parser.add_argument("--out", default=None, help="append the JSON lines to this file too")
    parser.add_argument("--keep", default=None, help="folder for the trained models (default: runs/calibrate)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: every core); 1 to run two sweeps at once")
    args = parser.parse_args()
    setup(0, args.threads or None)
    from camlib import infer
    from camlib.metrics import accuracy_metrics
    from camlib.augment import AugmentConfig
    from camlib.choices import NO_AUGMENTATION
    from camlib.datasets import class_names, read_kaggle
    from camlib.train import TrainConfig, train
    from camlib.zoo import build_zoo

    zoo = _pairs(args.zoo)
    difficulty, zoo_seed = zoo.pop("difficulty", "distinct"), int(zoo.pop("zoo_seed", 0))
    name = "-".join(f"{k}{v}" for k, v in sorted(zoo.items()))
    root = REPO / "data" / f"calib-{difficulty}-z{zoo_seed}{'-' + name if name else ''}"
    started = time.perf_counter()
    build_zoo(root, profile="cpu", seed=zoo_seed, difficulty=difficulty, **zoo)
    log(f"zoo {root.name} ready in {time.perf_counter() - started:.0f} s")
    records = read_kaggle(root)
    classes = class_names(records)
    train_records = [r for r in records if r.split == "train"]
    test_records = [r for r in records if r.split == "test"]

    recipe = _pairs(args.recipe)
    augment_fields = set(AugmentConfig.__dataclass_fields__)
    augment = AugmentConfig(**{k: v for k, v in recipe.items() if k in augment_fields})
    if recipe.pop("no_augment", False):
        augment = replace(augment, **NO_AUGMENTATION)
    train_fields = {k: v for k, v in recipe.items() if k not in augment_fields}
    tta_mode, _, tta_transform = args.tta.partition("+")
    tta = infer.TTAConfig(crop=augment.crop, crops="grid" if tta_mode.startswith("grid") else tta_mode,
                          grid_size=int(tta_mode[4:] or 4) if tta_mode.startswith("grid") else 4,
                          transforms=tta_transform or "none")
    for seed in (int(s) for s in args.seeds.split(",")):
        config = TrainConfig(**{"eval_every": 10 ** 6, **train_fields, "seed": seed, "augment": augment})
        folder = Path(args.keep or REPO / "runs" / "calibrate") / f"{root.name}-{config.identity()}"
        result = train(train_records, classes, config, folder, eval_records=test_records, progress=False)
        predictions = infer.predict_records(result.model, test_records, classes, tta, progress=False)
        scores = accuracy_metrics(predictions)
        history = result.history
        line = {"zoo": {"difficulty": difficulty, "zoo_seed": zoo_seed, **zoo}, "recipe": recipe, "seed": seed,
                "tta": args.tta, **{k: round(scores[k], 4) for k in ("weighted_accuracy", "accuracy_unalt", "accuracy_manip")},
                "final_train_loss": round(float(history.train_loss.iloc[-1]), 4),
                "final_train_accuracy": round(float(history.train_accuracy.iloc[-1]), 4),
                "curve": [[int(r.epoch), round(float(r.test_weighted_accuracy), 4)] for r in history.itertuples()
                          if r.test_weighted_accuracy == r.test_weighted_accuracy],
                "train_minutes": round(float(history.train_seconds.sum()) / 60, 2),
                "per_class": {k: round(v, 3) for k, v in scores["per_class"].items()}}
        text = json.dumps(line)
        print(text, flush=True)
        if args.out:
            with open(args.out, "a") as stream:
                stream.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
