"""Has the main model plateaued? Train its recipe twice as long (every seed, same data) and compare.

    python benchmarks/convergence.py [RUN_DIR]        RUN_DIR: a finished default run (default runs/cpu-zoo)

Prints `convergence_gain_2x` (weighted accuracy with twice the epochs minus the run's, mean over seeds, in
points) with its 95% paired interval (`convergence_gain_2x_low`, `_high`), and `seed_std_weighted_accuracy`
(standard deviation of the run's main model across its seeds). The longer models are trained in
RUN_DIR-2x (kept, so a re-run only scores them again).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common import emit, log

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", nargs="?", default="runs/cpu-zoo")
    parser.add_argument("--factor", type=float, default=2.0, help="how much longer to train (default 2)")
    args = parser.parse_args()
    from camlib.convergence import Convergence, no_significant_gain, recipe_hash, write_convergence
    from camlib.infer import predict_records
    from camlib.outcomes import outcome_from_predictions
    from camlib.stages import robustness
    from camlib.stages.robustness import noaug_configs
    from camlib.stages.training import train_replicates
    from camlib.train import load_model
    from camlib.outcomes import difference
    from camlib.runs import read_json
    from camlib.settings import resolve
    from camlib.stages import Run, inference
    from camlib.stages.core import set_threads

    run_dir = Path(args.run_dir) if Path(args.run_dir).is_absolute() else REPO / args.run_dir
    stored = read_json(run_dir / "settings.json")
    if not stored:
        print(f"convergence.py: {run_dir}/settings.json not found: run ./run_all.sh first", file=sys.stderr)
        return 1
    set_threads()
    settings = resolve(stored.pop("profile"), stored)
    short = inference(Run(settings, progress=False, read_only=True))
    short_robust = robustness(Run(settings, progress=False, read_only=True))
    if short is None:
        print(f"convergence.py: {run_dir} has no scored main model (chapter 3 did not run)", file=sys.stderr)
        return 1
    longer = {"epochs": max(1, round(settings.epochs * args.factor)), "run_dir": str(run_dir) + f"-{args.factor:g}x"}
    if settings.schedule in ("cosine_restarts", "triangular"):
        longer["cycle_epochs"] = settings.cycle_epochs * args.factor
    long_settings = resolve(settings.profile, {**settings.to_dict(), **longer})
    log(f"training the main recipe for {long_settings.epochs} epochs instead of {settings.epochs}, seeds {settings.seeds}")
    long_run = Run(long_settings, progress=True)
    long = inference(long_run)
    gain = difference(long.tta, short.tta)

    def manipulated_gain(longer, shorter):
        half = shorter.manipulated()
        return difference(longer.subset(half), shorter.subset(half), weighted=False) if half.any() else None

    gain_manipulated = manipulated_gain(long.tta, short.tta)
    noaug_gain = noaug_gain_manipulated = None
    if short_robust is not None:  # the augmentation and robustness claims use the model without augmentation too
        log(f"training the recipe without augmentation for {long_settings.epochs} epochs")
        data, tta = long_run.data, long_settings.tta_config()
        summaries = train_replicates(long_run, "noaug", "no augmentation", noaug_configs(long_run))
        long_noaug = outcome_from_predictions("no augmentation, longer", data.classes, {
            s.seed: predict_records(load_model(s.checkpoint, data.classes), data.test, data.classes, tta, progress=False)
            for s in summaries}, root=data.root)
        noaug_gain = difference(long_noaug, short_robust.noaug)
        noaug_gain_manipulated = manipulated_gain(long_noaug, short_robust.noaug)
        emit("convergence_noaug_gain_2x", 100 * noaug_gain.value, "points")
    if gain_manipulated is not None:
        emit("convergence_gain_2x_manipulated", 100 * gain_manipulated.value, "points")
        emit("convergence_gain_2x_manipulated_low", 100 * gain_manipulated.low, "points")
        emit("convergence_gain_2x_manipulated_high", 100 * gain_manipulated.high, "points")
    emit("convergence_gain_2x" if args.factor == 2 else f"convergence_gain_{args.factor:g}x", 100 * gain.value, "points")
    emit("convergence_gain_2x_low", 100 * gain.low, "points")
    emit("convergence_gain_2x_high", 100 * gain.high, "points")
    scores, long_scores = short.tta.scores(), long.tta.scores()
    emit("weighted_accuracy", scores.weighted_accuracy.value, "fraction")
    emit("weighted_accuracy_2x", long_scores.weighted_accuracy.value, "fraction")
    # the report of RUN_DIR reads this (re-render it: ./run_all.sh --only 99_report, plus the run's own options)
    write_convergence(run_dir, Convergence(
        factor=args.factor, epochs=settings.epochs, epochs_longer=long_settings.epochs, seeds=settings.seeds, gain=gain,
        weighted_accuracy=scores.weighted_accuracy, weighted_accuracy_longer=long_scores.weighted_accuracy,
        plateaued=no_significant_gain([g for g in (gain, gain_manipulated, noaug_gain, noaug_gain_manipulated) if g]),
        recipe_hash=recipe_hash(settings), gain_manipulated=gain_manipulated, noaug_gain=noaug_gain,
        noaug_gain_manipulated=noaug_gain_manipulated))
    emit("seed_std_weighted_accuracy", 100 * scores.weighted_accuracy_seed_std, "points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
