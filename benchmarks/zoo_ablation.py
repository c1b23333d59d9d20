"""Which trace families carry a zoo camera's identity: accuracy when one family is made equal across cameras.

    OMP_NUM_THREADS=1 python benchmarks/zoo_ablation.py [--variants none,jpeg,cfa,colour,noise,isp] [--threads 1]

Builds one small zoo per variant (`build_zoo(equalize=...)`: the same scenes, crops and manipulations, only the named
family made the same for every camera), trains the main recipe of the cpu profile on it (one training seed, the run's
own `inference` stage: training, then the main TTA on the test device) and scores the unaltered and the manipulated
halves. The change against the unaltered zoo is paired over the test images. Writes benchmarks/zoo_ablation.json
(`camlib.zoo_ablation.ZooAblation`, cited by the report) and benchmarks/zoo_ablation.md.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from common import log, setup

REPO = Path(__file__).resolve().parents[1]
# Smaller than the cpu profile's zoo (40 frames per camera, 500 test images, 0.7 MP) so that every variant fits.
ZOO = {"train_per_model": 16, "test_frames": 200, "megapixels": 0.4}


def zoo_settings(args) -> dict:
    return {"train_per_model": args.train_per_model, "test_frames": args.test_frames, "megapixels": args.megapixels}


def run_variant(name: str, equalize: tuple, args):
    """(InferenceResult, minutes) of the main recipe on the zoo with `equalize`."""
    from camlib.rundata import load_data
    from camlib.settings import resolve
    from camlib.stages import Run, inference
    from camlib.zoo import build_zoo

    started = time.perf_counter()
    root = build_zoo(REPO / "data" / "zoo-ablation" / name, "cpu", seed=args.zoo_seed, difficulty=args.difficulty,
                     workers=args.threads, equalize=equalize, **zoo_settings(args))
    log(f"{name}: zoo ready in {time.perf_counter() - started:.0f} s")
    recipe = resolve("cpu", {"replicates": 1, "seed": args.seed, "zoo_seed": args.zoo_seed, "zoo_difficulty": args.difficulty,
                             "epochs": args.epochs, "run_dir": str(REPO / "runs" / "zoo-ablation" / name)})
    run = Run(recipe, progress=False)
    # The zoo is in the Kaggle layout; read it as a zoo run reads its own (the recipe stays the zoo's)
    run.data = load_data(resolve("cpu", {"layout": "kaggle", "data_dir": str(root)}), progress=False)
    result = inference(run)
    log(f"{name}: trained and scored, {(time.perf_counter() - started) / 60:.1f} min")
    return result, recipe, (time.perf_counter() - started) / 60


def markdown(result, ablation_table) -> str:
    from camlib.zoo_ablation import MARGIN
    table = ablation_table(result)
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    recipe = ", ".join(f"{k} {v}" for k, v in result.recipe.items())
    return "\n".join([
        "# Which trace families carry a zoo camera's identity",
        "",
        "`benchmarks/zoo_ablation.py`: one small zoo per row, difficulty "
        f"`{result.difficulty}`, zoo seed {result.zoo_seed} ({result.zoo_settings['train_per_model']} training frames per "
        f"camera at {result.zoo_settings['megapixels']} MP, {result.zoo_settings['test_frames']} test images, half "
        "manipulated). Each row makes one trace family the same for every camera (`build_zoo(equalize=...)`); the scenes, "
        "crops and manipulations are the same in every zoo. The cpu profile's main recipe "
        f"({recipe}), training seed{'s' if len(result.seeds) > 1 else ''} {', '.join(map(str, result.seeds))}, "
        f"scored with its TTA ({result.tta}). Intervals: 95%, bootstrap over test images; changes are paired over the "
        f"same images. Chance (majority camera of the test images): {result.chance:.3f}. A change inside "
        f"±{100 * MARGIN:.0f} points counts as none only when its whole interval lies inside.",
        "",
        *lines,
        "",
        f"Commit {result.commit}; {result.minutes:.1f} minutes on {result.threads} thread(s) of {result.cpu}.",
        "",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default="none,jpeg,cfa,colour,noise,isp",
                        help="'none' (the unaltered zoo, always first) and trace families of camlib.zoo.EQUALIZE_FAMILIES")
    parser.add_argument("--difficulty", default="distinct")
    parser.add_argument("--zoo-seed", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train-per-model", type=int, default=ZOO["train_per_model"])
    parser.add_argument("--test-frames", type=int, default=ZOO["test_frames"])
    parser.add_argument("--megapixels", type=float, default=ZOO["megapixels"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads and zoo workers (1: one core)")
    args = parser.parse_args()
    setup(args.seed, args.threads)
    from camlib.outcomes import difference
    from camlib.runs import cpu_model, git_commit, write_json
    from camlib.zoo import EQUALIZE_FAMILIES
    from camlib.zoo_ablation import FILE, AblationRow, ZooAblation, ablation_table

    families = [v for v in dict.fromkeys(part.strip() for part in args.variants.split(",")) if v and v != "none"]
    unknown = [f for f in families if f not in EQUALIZE_FAMILIES]
    if unknown:
        print(f"zoo_ablation.py: unknown trace family {unknown[0]!r}; choose from none, {', '.join(EQUALIZE_FAMILIES)}",
              file=sys.stderr)
        return 1
    started = time.perf_counter()
    reference, recipe, minutes = run_variant("none", (), args)
    rows = [AblationRow(variant="none", equalized=[], description="nothing (the unaltered zoo)", train_minutes=minutes,
                        **_halves(reference.tta.scores()))]
    for family in families:
        result, _, minutes = run_variant(family, (family,), args)
        manipulated = reference.tta.manipulated()
        rows.append(AblationRow(variant=family, equalized=[family], description=EQUALIZE_FAMILIES[family],
                                train_minutes=minutes, change=difference(result.tta, reference.tta),
                                change_manip=difference(result.tta.subset(manipulated), reference.tta.subset(manipulated),
                                                        weighted=False),
                                **_halves(result.tta.scores())))
    cameras = Counter(reference.tta.cameras)
    ablation = ZooAblation(
        difficulty=args.difficulty, zoo_seed=args.zoo_seed, zoo_settings=zoo_settings(args),
        recipe={k: recipe.to_dict()[k] for k in ("arch", "weights", "epochs", "crop", "batch_size", "crops_per_image",
                                                 "lr", "schedule", "manipulation_prob")
                if k in recipe.to_dict()} | _recipe_name(recipe),
        tta=reference.tta.label, seeds=reference.tta.seeds, chance=max(cameras.values()) / sum(cameras.values()),
        rows=rows, commit=git_commit(REPO), cpu=cpu_model() or "unknown CPU", threads=args.threads,
        minutes=(time.perf_counter() - started) / 60)
    write_json(FILE, ablation.model_dump(mode="json"))
    FILE.with_suffix(".md").write_text(markdown(ablation, ablation_table))
    print(FILE.with_suffix(".md").read_text())
    return 0


def _halves(scores) -> dict:
    return {"weighted_accuracy": scores.weighted_accuracy, "accuracy_unalt": scores.accuracy_unalt,
            "accuracy_manip": scores.accuracy_manip}


def _recipe_name(recipe) -> dict:
    """The named augmentation recipe and its JPEG grid alignment, where the settings have them."""
    values = recipe.to_dict()
    return {k: values[k] for k in ("aug_recipe", "aug_jpeg_aligned") if k in values}


if __name__ == "__main__":
    sys.exit(main())
