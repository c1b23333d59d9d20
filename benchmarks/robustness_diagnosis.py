"""Why does the in-range robustness claim fail? The JPEG 70 and resize 2 drops, one change at a time.

    python benchmarks/robustness_diagnosis.py [--images-per-class 30] [--seed 0]

Trains one seed of the cpu recipe per variant on the default zoo (the recipes: camlib's former `oneof`, the team's
`released` code and its `writeup`; longer training; grid-aligned first crops; the cyclic schedule with restarts),
then scores each on the same unaltered test-device images after JPEG 70 (aligned with the camera's 8x8 grid, as
the zoo's test crops are, and shifted by 4 px), resize 2, resize 0.5, gamma 0.8, each scored two ways: one centre
crop (the former robustness sweep) and the main model's TTA. Also the weighted accuracy and the manipulated half
on the whole test device (main TTA). Writes benchmarks/robustness_diagnosis.{json,md} (the report cites them) and
prints `name value unit` lines. Models are kept in runs/diagnosis, so a re-run only scores them again.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from common import emit, log, setup

REPO = Path(__file__).resolve().parents[1]
OUT_JSON, OUT_MD = REPO / "benchmarks" / "robustness_diagnosis.json", REPO / "benchmarks" / "robustness_diagnosis.md"

# name -> (what changes, settings overrides); each row changes one thing against the row it names.
VARIANTS = {
    "oneof-4": ("camlib's former recipe (oneof, p 0.5: each manipulation on 1/6 of the crops), 4 epochs, one cycle",
                dict(aug_recipe="oneof", epochs=4)),
    "released-4": ("the released code's exposure (one of the 8 test operations, p 0.5), 4 epochs",
                   dict(aug_recipe="released", epochs=4)),
    "writeup-4": ("the write-up's exposure (gamma, JPEG each p 0.5; every crop rescaled), 4 epochs",
                  dict(aug_recipe="writeup", epochs=4)),
    "writeup-8": ("writeup, 8 epochs", dict(aug_recipe="writeup", epochs=8)),
    "writeup-16": ("writeup, 16 epochs", dict(aug_recipe="writeup", epochs=16)),
    "writeup-aligned-8": ("writeup, 8 epochs, first crops on the 8x8 JPEG grid", dict(aug_recipe="writeup", epochs=8,
                                                                                      aug_jpeg_aligned=True)),
    "writeup-restarts-8": ("writeup, 8 epochs, cosine restarts every 2 epochs (the write-up's schedule)",
                           dict(aug_recipe="writeup", epochs=8, schedule="cosine_restarts", cycle_epochs=2.0)),
}
# test manipulations: name -> (family, value, shift in px before manipulating)
POINTS = {"unaltered": ("none", 0.0, 0), "jpeg70": ("jpeg", 70, 0), "jpeg70 shifted 4 px": ("jpeg", 70, 4),
          "unaltered shifted 4 px": ("none", 0.0, 4), "resize2": ("resize", 2.0, 0), "resize0.5": ("resize", 0.5, 0),
          "gamma0.8": ("gamma", 0.8, 0)}


def _manipulate(image, family, value, shift):
    from camlib import manipulations
    image = image[shift:, shift:] if shift else image
    return image if family == "none" else manipulations.apply(image, family, value)


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images-per-class", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default="", help="comma-separated variant names (default: all)")
    args = parser.parse_args()
    setup(args.seed)
    import torch
    from camlib import studies
    from camlib.infer import image_views, predict_records, probabilities_by_item, prediction_row, read_test_image
    from camlib.metrics import accuracy_metrics
    from camlib.parallel import train_many
    from camlib.settings import resolve
    from camlib.stages.core import Run, model_job
    from camlib.stats import bootstrap, paired_difference
    from camlib.train import load_model
    from tqdm import tqdm

    started = time.perf_counter()
    names = [n for n in VARIANTS if not args.only or n in args.only.split(",")]
    base = resolve("cpu", {"run_dir": "runs/diagnosis", "replicates": 1, "seed": args.seed})
    run = Run(base, progress=False)
    data = run.data
    settings_of = {n: resolve("cpu", {**base.to_dict(), **VARIANTS[n][1]}) for n in names}
    jobs = [model_job(run, n, settings_of[n].train_config(seed=args.seed)) for n in names]
    log(f"training {len(jobs)} variants (one seed each), two at a time")
    results = train_many(jobs, progress=True, desc="diagnosis models")
    train_minutes = (time.perf_counter() - started) / 60
    models = {n: load_model(r.checkpoint, data.classes) for n, r in zip(names, results)}
    histories = {n: r.history for n, r in zip(names, results)}

    records = studies.per_class_subset(data.test_unaltered, args.images_per_class)
    ttas = {"centre crop": base.tta_config("robustness"), "main TTA": base.tta_config("main")}
    correct = {}  # (variant, tta, point) -> 0/1 per image
    for record in tqdm(records, desc=f"scoring {len(records)} images x {len(POINTS)} points x {len(models)} models"):
        image, error = read_test_image(record)
        for tta_name, tta in ttas.items():
            views = [image_views(_manipulate(image, *point), tta) for point in POINTS.values()]
            for name, model in models.items():
                for point, probabilities in zip(POINTS, probabilities_by_item(model, views, tta.batch_size)):
                    row = prediction_row(record, data.classes, probabilities, error)
                    correct.setdefault((name, tta_name, point), []).append(float(row["pred"] == record.camera))
    whole = {name: accuracy_metrics(predict_records(model, data.test, data.classes, ttas["main TTA"], progress=False))
             for name, model in models.items()}

    rows = []
    for name in names:
        history = histories[name]
        row = {"variant": name, "change": VARIANTS[name][0], "epochs": settings_of[name].epochs,
               "final_train_loss": round(float(history.train_loss.iloc[-1]), 3),
               "weighted_accuracy": round(whole[name]["weighted_accuracy"], 4),
               "unaltered_half": round(whole[name]["accuracy_unalt"], 4),
               "manipulated_half": round(whole[name]["accuracy_manip"], 4),
               "curve": [[int(r.epoch), round(float(r.test_weighted_accuracy), 4)] for r in history.itertuples()
                         if r.test_weighted_accuracy == r.test_weighted_accuracy]}
        for tta_name in ttas:
            reference = {0: np.array(correct[(name, tta_name, "unaltered")]),
                         4: np.array(correct[(name, tta_name, "unaltered shifted 4 px")])}
            for point, (family, value, shift) in POINTS.items():
                if family == "none":
                    continue
                ours = np.array(correct[(name, tta_name, point)])
                drop = paired_difference(ours, reference[shift])
                accuracy = bootstrap(ours)
                row[f"{tta_name}: {point}"] = {"accuracy": round(accuracy.value, 4),
                                               "drop": [round(100 * drop.value, 1), round(100 * drop.low, 1),
                                                        round(100 * drop.high, 1)]}
            row[f"{tta_name}: unaltered"] = round(float(reference[0].mean()), 4)
        rows.append(row)
        emit(f"{name}_jpeg70_drop_main_tta", row["main TTA: jpeg70"]["drop"][0], "points")
        emit(f"{name}_resize2_drop_main_tta", row["main TTA: resize2"]["drop"][0], "points")
        emit(f"{name}_manipulated_half", row["manipulated_half"], "fraction")

    minutes = (time.perf_counter() - started) / 60
    meta = {"commit": _commit(), "minutes": round(minutes, 1), "train_minutes": round(train_minutes, 1),
            "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
            "seed": args.seed, "images": len(records), "images_per_class": args.images_per_class,
            "zoo": f"{base.zoo_difficulty}, zoo_seed {base.zoo_seed}", "crop": base.crop,
            "tta": {k: v.to_dict() for k, v in ttas.items()}}
    OUT_JSON.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    OUT_MD.write_text(markdown(meta, rows))
    log(f"wrote {OUT_JSON.relative_to(REPO)} and {OUT_MD.relative_to(REPO)} ({minutes:.1f} min)")
    return 0


def markdown(meta: dict, rows: list[dict]) -> str:
    """The diagnosis table: drops in points [95% paired interval] against the same images unaltered."""
    lines = ["# Robustness diagnosis (`benchmarks/robustness_diagnosis.py`)", "",
             f"Commit {meta['commit']}, {meta['minutes']} minutes ({meta['train_minutes']} training), one training seed "
             f"({meta['seed']}), {meta['images']} unaltered test-device images ({meta['images_per_class']} per camera), zoo "
             f"{meta['zoo']}, {meta['crop']} px training crops. Drops are accuracy after the manipulation minus unaltered, "
             "in points, with the 95% paired bootstrap interval; 'main TTA' is the main model's test-time augmentation, "
             "'centre crop' the former robustness sweep's single crop.", "",
             "| variant | epochs | final loss | weighted (main TTA) | manipulated half | JPEG 70, centre crop | JPEG 70, main TTA "
             "| JPEG 70 shifted 4 px, main TTA | resize 2, centre crop | resize 2, main TTA | resize 0.5, main TTA | gamma 0.8, main TTA |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def cell(row, key):
        d = row[key]["drop"]
        return f"{d[0]:+.1f} [{d[1]:+.1f}, {d[2]:+.1f}]"

    for row in rows:
        lines.append(f"| {row['variant']} | {row['epochs']} | {row['final_train_loss']:.2f} | {row['weighted_accuracy']:.3f} | "
                     f"{row['manipulated_half']:.3f} | {cell(row, 'centre crop: jpeg70')} | {cell(row, 'main TTA: jpeg70')} | "
                     f"{cell(row, 'main TTA: jpeg70 shifted 4 px')} | {cell(row, 'centre crop: resize2')} | "
                     f"{cell(row, 'main TTA: resize2')} | {cell(row, 'main TTA: resize0.5')} | {cell(row, 'main TTA: gamma0.8')} |")
    lines += ["", "Variants:", ""] + [f"- `{row['variant']}`: {row['change']}" for row in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
