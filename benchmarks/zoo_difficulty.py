"""Calibrates a zoo difficulty: the residual baseline and the main CNN (with TTA) on the same test crops.

The default difficulty must leave the CNN below 100% on the manipulated half and the baseline clearly
below the CNN; this prints both, computed as the report's notebooks do (same settings, same code).
"""
from __future__ import annotations

import argparse
import ast
import tempfile
import time

from camlib import baseline, infer, project
from camlib.train import train
from common import emit, log, setup

KEYS = ("weighted_accuracy", "accuracy_unalt", "accuracy_manip")


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--difficulty", default="default")
    parser.add_argument("--skip-cnn", action="store_true", help="baseline only (a minute instead of several)")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="any Settings field, as for run_all.sh (values read as Python literals)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", default=None, help="folder to keep the trained model in (default: a temporary one)")
    args = parser.parse_args()
    setup(args.seed)
    with tempfile.TemporaryDirectory() as run_dir:
        overrides = {name: _literal(value) for name, value in args.p}
        settings = project.resolve(args.profile, {**overrides, "zoo_difficulty": args.difficulty,
                                                  "seed": args.seed, "run_dir": run_dir})
        started = time.perf_counter()
        data = project.load_data(settings, progress=False)
        log(f"zoo {data.root}: {len(data.train)} training frames, {len(data.test)} test crops "
            f"({time.perf_counter() - started:.0f} s)")
        if not args.skip_baseline:
            scores = baseline.evaluate_baseline(data.train, data.test, data.classes, settings.baseline_crop,
                                                settings.baseline_crops_per_image, settings.seed,
                                                settings.baseline_max_iter, progress=False)
            for feature_set in baseline.FEATURE_SETS:
                prefix = "baseline" if feature_set == "seed" else f"baseline_{feature_set}"
                for key in KEYS:
                    emit(f"{args.difficulty}_{prefix}_{key}", scores[feature_set]["metrics"][key], "fraction")
        if args.skip_cnn:
            return
        result = train(data.train, data.classes, settings.train_config(), args.keep or f"{run_dir}/model", progress=False)
        scores = infer.accuracy_metrics(infer.predict_records(result.model, data.test, data.classes,
                                                              settings.tta_config(), progress=False))
        for key in KEYS:
            emit(f"{args.difficulty}_cnn_{key}", scores[key], "fraction")
        worst = min(scores["per_class"], key=scores["per_class"].get)
        emit(f"{args.difficulty}_cnn_worst_class_accuracy", scores["per_class"][worst], "fraction")
        log(f"per class: {scores['per_class']}; last validation accuracy (training device): "
            f"{result.history.val_accuracy.dropna().iloc[-1]:.3f}")
        emit(f"{args.difficulty}_cnn_train_minutes", result.seconds / 60, "min")


if __name__ == "__main__":
    main()
