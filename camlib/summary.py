"""The run's metrics.json, the claims table and the report's number-bearing sentences, from stage results."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .runs import read_json, write_json

# A difference counts as an effect only beyond this many accuracy points (small test sets are noisy).
MARGIN = 0.02


def _stage(run_dir, name):
    stored = read_json(Path(run_dir) / "stages" / f"{name}.json")
    return stored["result"] if stored else None


def collect_metrics(run_dir) -> dict:
    """Merge the stage results of a run into the documented metrics.json keys (missing stages -> None)."""
    run_dir = Path(run_dir)
    tta, noaug, baseline = _stage(run_dir, "tta"), _stage(run_dir, "noaug"), _stage(run_dir, "baseline")
    training, exploration = _stage(run_dir, "training"), _stage(run_dir, "exploration")
    metrics = {
        "weighted_accuracy": tta and tta["tta"]["weighted_accuracy"],
        "accuracy_unalt": tta and tta["tta"]["accuracy_unalt"],
        "accuracy_manip": tta and tta["tta"]["accuracy_manip"],
        "accuracy": tta and tta["tta"]["accuracy"],
        "crop_accuracy": tta and tta["tta"]["crop_accuracy"],
        "per_class_accuracy": tta and tta["tta"]["per_class"],
        "single_crop_weighted_accuracy": tta and tta["single_crop"]["weighted_accuracy"],
        "single_crop_accuracy_unalt": tta and tta["single_crop"]["accuracy_unalt"],
        "single_crop_accuracy_manip": tta and tta["single_crop"]["accuracy_manip"],
        "noaug_weighted_accuracy": noaug and noaug["weighted_accuracy"],
        "noaug_accuracy_unalt": noaug and noaug["accuracy_unalt"],
        "noaug_accuracy_manip": noaug and noaug["accuracy_manip"],
        "baseline_weighted_accuracy": baseline and baseline["seed"]["metrics"]["weighted_accuracy"],
        "baseline_accuracy_unalt": baseline and baseline["seed"]["metrics"]["accuracy_unalt"],
        "baseline_accuracy_manip": baseline and baseline["seed"]["metrics"]["accuracy_manip"],
        "baseline_extended_weighted_accuracy": baseline and baseline["extended"]["metrics"]["weighted_accuracy"],
        "baseline_extended_accuracy_unalt": baseline and baseline["extended"]["metrics"]["accuracy_unalt"],
        "baseline_extended_accuracy_manip": baseline and baseline["extended"]["metrics"]["accuracy_manip"],
        "robustness": _stage(run_dir, "robustness") or [],
        "crop_size": _stage(run_dir, "crop_size") or [],
        "train_size": _stage(run_dir, "train_size") or [],
        "architectures": _stage(run_dir, "architectures") or [],
        "train_minutes": training and training["train_minutes"],
        "train_images_per_s": training and training["images_per_s"],
        "n_classes": exploration and len(exploration["classes"]),
        "n_train_images": exploration and exploration["n_train"],
        "n_test_images": exploration and exploration["n_test"],
        "test_is_holdout": bool(exploration and exploration.get("test_is_holdout")),
        "settings": read_json(run_dir / "settings.json"),
        "environment": read_json(run_dir / "environment.json"),
        "stage_seconds": read_json(run_dir / "notebook_seconds.json", {}),
    }
    return metrics


def write_metrics(run_dir) -> dict:
    metrics = collect_metrics(run_dir)
    write_json(Path(run_dir) / "metrics.json", metrics)
    return metrics


def _diff(a, b):
    """a - b, or None when either is missing."""
    if a is None or b is None or any(isinstance(v, float) and math.isnan(v) for v in (a, b)):
        return None
    return float(a) - float(b)


def _verdict(difference):
    if difference is None or (isinstance(difference, float) and math.isnan(difference)):
        return "not measured"
    if difference > MARGIN:
        return "supported"
    if difference < -MARGIN:
        return "contradicted"
    return "inconclusive (within ±2 points)"


def _fmt(value):
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def claims_table(metrics: dict) -> pd.DataFrame:
    """Claim of the original study | what this run measured | supported?"""
    rows = []
    wa, noaug, base = metrics["weighted_accuracy"], metrics["noaug_weighted_accuracy"], metrics["baseline_weighted_accuracy"]
    if wa is not None and noaug is not None:
        gain_manip = _diff(metrics["accuracy_manip"], metrics["noaug_accuracy_manip"])
        rows.append(("Augmentation (gamma, JPEG, rescale) is essential for manipulated test images",
                     f"manipulated half: {_fmt(metrics['accuracy_manip'])} with vs {_fmt(metrics['noaug_accuracy_manip'])} without "
                     f"augmentation; weighted {_fmt(wa)} vs {_fmt(noaug)}", _verdict(gain_manip)))
    robustness = pd.DataFrame(metrics["robustness"])
    if not robustness.empty:
        inside = robustness[((robustness.family == "jpeg") & robustness.value.between(70, 90)) |
                            ((robustness.family == "gamma") & robustness.value.between(0.8, 1.2)) |
                            ((robustness.family == "resize") & robustness.value.between(0.5, 2.0))]
        means = inside.groupby("variant").accuracy.mean()
        if {"with augmentation", "without augmentation"} <= set(means.index):
            rows.append(("Inside the augmentation ranges, the augmented model keeps its accuracy; the plain one does not",
                         f"mean accuracy over manipulations inside the ranges: {_fmt(means['with augmentation'])} with vs "
                         f"{_fmt(means['without augmentation'])} without", _verdict(_diff(means["with augmentation"], means["without augmentation"]))))
        outside = robustness[(robustness.family == "jpeg") & (robustness.value <= 30) & (robustness.variant == "with augmentation")]
        unaltered = metrics["accuracy_unalt"]
        if not outside.empty and unaltered is not None:
            rows.append(("Far outside the ranges (JPEG quality <= 30) accuracy drops even with augmentation",
                         f"{_fmt(outside.accuracy.mean())} at JPEG <= 30 vs {_fmt(unaltered)} on unaltered images",
                         _verdict(_diff(unaltered, outside.accuracy.mean()))))
    if wa is not None and metrics["single_crop_weighted_accuracy"] is not None:
        rows.append(("Test-time augmentation over crops improves accuracy",
                     f"weighted {_fmt(wa)} with TTA vs {_fmt(metrics['single_crop_weighted_accuracy'])} with one centre crop",
                     _verdict(_diff(wa, metrics["single_crop_weighted_accuracy"]))))
    crops = pd.DataFrame(metrics["crop_size"])
    if not crops.empty:
        small = crops[crops.crop < 250].accuracy.max() if (crops.crop < 250).any() else float("nan")
        large = crops[crops.crop >= 250].accuracy.min() if (crops.crop >= 250).any() else float("nan")
        verdict = "supported" if large > 0.9 and not small > 0.9 else ("partly: >90% reached below 250 px too" if large > 0.9 else "contradicted: <90% even at >= 250 px")
        rows.append(("Test crops of at least 250x250 px are needed for > 90% accuracy",
                     f"best below 250 px: {_fmt(small)}; worst at >= 250 px: {_fmt(large)}", verdict))
    sizes = pd.DataFrame(metrics["train_size"])
    if len(sizes) >= 2:
        sizes = sizes.sort_values("images_per_class")
        rows.append(("More training images per camera give higher accuracy",
                     f"weighted {_fmt(sizes.weighted_accuracy.iloc[0])} with {sizes.images_per_class.iloc[0]} vs "
                     f"{_fmt(sizes.weighted_accuracy.iloc[-1])} with {sizes.images_per_class.iloc[-1]} images per camera",
                     _verdict(_diff(sizes.weighted_accuracy.iloc[-1], sizes.weighted_accuracy.iloc[0]))))
    archs = pd.DataFrame(metrics["architectures"])
    if not archs.empty:
        for arch, group in archs.groupby("arch"):
            if {"imagenet", "none"} <= set(group.weights):
                pretrained = group[group.weights == "imagenet"].weighted_accuracy.iloc[0]
                scratch = group[group.weights == "none"].weighted_accuracy.iloc[0]
                rows.append((f"ImageNet initialisation beats training from scratch ({arch})",
                             f"weighted {_fmt(pretrained)} from ImageNet vs {_fmt(scratch)} from scratch, same short schedule",
                             _verdict(_diff(pretrained, scratch))))
    if wa is not None and base is not None:
        rows.append(("A CNN beats hand-crafted residual statistics with a classical classifier (the seed's first idea)",
                     f"weighted {_fmt(wa)} (CNN + TTA) vs {_fmt(base)} (residual statistics + gradient boosting)",
                     _verdict(_diff(wa, base))))
    extended = metrics.get("baseline_extended_weighted_accuracy")
    if wa is not None and extended is not None:
        rows.append(("(not in the original study) The CNN also beats features aimed at the CFA phase and the JPEG grid",
                     f"weighted {_fmt(wa)} (CNN + TTA) vs {_fmt(extended)} (residual statistics + CFA-phase and 8x8-block features)",
                     _verdict(_diff(wa, extended))))
    return pd.DataFrame(rows, columns=["claim of the original study", "what this run measured", "supported?"])


def stage_times(metrics: dict) -> pd.DataFrame:
    seconds = metrics.get("stage_seconds") or {}
    table = pd.DataFrame({"stage": list(seconds), "minutes": [round(s / 60, 2) for s in seconds.values()]})
    if not table.empty:
        table.loc[len(table)] = ["total (before this report)", round(sum(seconds.values()) / 60, 2)]
    return table


def _simulated(metrics) -> bool:
    return (metrics.get("settings") or {}).get("layout", "zoo") == "zoo"


def _data_note(metrics) -> str:
    settings = metrics.get("settings") or {}
    if _simulated(metrics):
        return ("**All numbers in this report come from the simulated camera zoo**: virtual camera pipelines "
                f"(profile `{settings.get('profile')}`, difficulty `{settings.get('zoo_difficulty')}`), not real photos. "
                "They show that the method and the studies work and how they behave; they are not the accuracy on real cameras.")
    return f"Data: the `{settings.get('layout')}` layout at `{settings.get('data_dir')}` (real photos)."


def headline(metrics) -> str:
    settings = metrics.get("settings") or {}
    return (f"{_data_note(metrics)}\n\n"
            f"**Main result** ({settings.get('arch')}, weights `{settings.get('weights')}`, {settings.get('epochs')} epochs, "
            f"{metrics.get('n_classes')} cameras): weighted accuracy **{_fmt(metrics['weighted_accuracy'])}** on the test device "
            f"(unaltered {_fmt(metrics['accuracy_unalt'])}, manipulated {_fmt(metrics['accuracy_manip'])}); "
            f"the same model trained without augmentation: {_fmt(metrics['noaug_weighted_accuracy'])}; "
            f"the classical residual-statistics baseline: {_fmt(metrics['baseline_weighted_accuracy'])}; "
            f"chance: {_fmt(1 / metrics['n_classes'] if metrics.get('n_classes') else None)}.")


def data_paragraph(metrics) -> str:
    text = (f"{_data_note(metrics)}\n\n{metrics.get('n_train_images')} training images (first device of each camera) and "
            f"{metrics.get('n_test_images')} labelled test images (other device).")
    if metrics.get("test_is_holdout"):
        text += ("\n\n**The test folder has no labels**, so every accuracy here is measured on a held-out 20% of the "
                 "training device: same device as training, so optimistic compared with a second device.")
    if _simulated(metrics):
        text += ("\n\nThe zoo simulates, per camera model, a scene in linear light through optics blur, a colour filter array "
                 "(RGGB/BGGR/GRBG/GBRG), one demosaicing algorithm (bilinear, Malvar-He-Cutler, Menon), white balance and colour "
                 "matrix, denoising, sharpening, a tone curve and JPEG quantisation; each of two devices per model adds its own "
                 "sensor noise (PRNU gain map, read/shot noise, hot pixels), and every frame is shot at its own sensor gain "
                 "(auto-ISO; not at the `easy` difficulty), so the noise level changes from frame to frame as in real photos. The test set is built like the challenge's: 512x512 "
                 "centre crops from the second device, half manipulated with the 8 challenge operations.")
    return text


def method_paragraph(metrics) -> str:
    settings = metrics.get("settings") or {}
    return (f"This run: `{settings.get('arch')}` from `{settings.get('weights')}` weights, final crop {settings.get('crop')} px "
            f"(first crop {2 * (settings.get('crop') or 0)} px), batch {settings.get('batch_size')} crops "
            f"({settings.get('crops_per_image')} per decoded frame), {settings.get('epochs')} epochs, Adam lr {settings.get('lr')} "
            f"with a `{settings.get('schedule')}` schedule (cycle {settings.get('cycle_epochs')} epochs); "
            f"TTA: `{settings.get('tta_crops')}` crops x `{settings.get('tta_transforms')}`. "
            f"Training took {_fmt(metrics.get('train_minutes'))} minutes at {_fmt(metrics.get('train_images_per_s'))} crops/s. "
            f"The seed's recipe (the `gpu` profile) is DenseNet161 with crops 960 -> 480.")


def results_table(metrics) -> pd.DataFrame:
    rows = [("CNN + TTA", metrics["accuracy_unalt"], metrics["accuracy_manip"], metrics["weighted_accuracy"]),
            ("CNN, one centre crop", metrics["single_crop_accuracy_unalt"], metrics["single_crop_accuracy_manip"], metrics["single_crop_weighted_accuracy"]),
            ("CNN without augmentation + TTA", metrics["noaug_accuracy_unalt"], metrics["noaug_accuracy_manip"], metrics["noaug_weighted_accuracy"]),
            ("residual statistics + gradient boosting", metrics["baseline_accuracy_unalt"], metrics["baseline_accuracy_manip"], metrics["baseline_weighted_accuracy"]),
            ("the same + CFA-phase and JPEG-block features", metrics.get("baseline_extended_accuracy_unalt"),
             metrics.get("baseline_extended_accuracy_manip"), metrics.get("baseline_extended_weighted_accuracy"))]
    table = pd.DataFrame(rows, columns=["model", "accuracy unaltered", "accuracy manipulated", "weighted accuracy"])
    return table.round(3)


def results_paragraph(metrics) -> str:
    per_class = metrics.get("per_class_accuracy") or {}
    worst = sorted(per_class.items(), key=lambda item: item[1])[:3]
    gain = _diff(metrics["weighted_accuracy"], metrics["single_crop_weighted_accuracy"])
    return (f"{_data_note(metrics)}\n\nWith TTA the weighted accuracy is {_fmt(metrics['weighted_accuracy'])} "
            f"(crop-level accuracy {_fmt(metrics.get('crop_accuracy'))}); TTA changes it by {_fmt(gain)} over one centre crop. "
            f"Hardest cameras: " + ", ".join(f"{name} ({_fmt(value)})" for name, value in worst) + ".")


def robustness_paragraph(metrics) -> str:
    table = pd.DataFrame(metrics["robustness"])
    if table.empty:
        return "*The robustness study did not run.*"
    lines = []
    for family, group in table.groupby("family"):
        pivot = group.pivot_table(index="value", columns="variant", values="accuracy")
        worst_value = pivot.min(axis=1).idxmin()
        lines.append(f"- **{family}**: " + "; ".join(
            f"{variant}: min {_fmt(pivot[variant].min())} (at {pivot[variant].idxmin():g}), mean {_fmt(pivot[variant].mean())}"
            for variant in pivot.columns) + f". The hardest setting is {worst_value:g}.")
    return (f"{_data_note(metrics)}\n\nAccuracy on unaltered test-device images after each manipulation "
            f"(the green band is the training-augmentation range):\n\n" + "\n".join(lines))


def crop_paragraph(metrics) -> str:
    table = pd.DataFrame(metrics["crop_size"])
    if table.empty:
        return "*The crop-size study did not run.*"
    above = table[table.accuracy > 0.9]
    smallest = int(above.crop.min()) if not above.empty else None
    train_crop = (metrics.get("settings") or {}).get("crop")
    return (f"{_data_note(metrics)}\n\nOne centre crop per unaltered test image; the model was trained on {train_crop} px crops. "
            + (f"Accuracy first exceeds 90% at {smallest} px." if smallest else "Accuracy never exceeds 90% here.")
            + f" Best: {_fmt(table.accuracy.max())} at {int(table.loc[table.accuracy.idxmax(), 'crop'])} px.")


def baseline_paragraph(metrics) -> str:
    text = (f"{_data_note(metrics)}\n\nThe seed's residual-statistics baseline reaches a weighted accuracy of "
            f"{_fmt(metrics['baseline_weighted_accuracy'])} (unaltered {_fmt(metrics['baseline_accuracy_unalt'])}, "
            f"manipulated {_fmt(metrics['baseline_accuracy_manip'])}) against {_fmt(metrics['weighted_accuracy'])} for the CNN with TTA.")
    if metrics.get("baseline_extended_weighted_accuracy") is not None:
        text += (f" Adding features aimed at the traces the zoo simulates (residual energy per CFA phase and at 8x8 block "
                 f"boundaries) raises it to {_fmt(metrics['baseline_extended_weighted_accuracy'])} (unaltered "
                 f"{_fmt(metrics['baseline_extended_accuracy_unalt'])}, manipulated {_fmt(metrics['baseline_extended_accuracy_manip'])}): "
                 "hand-crafted features that know where to look are strong on unaltered images; on the manipulated half, "
                 "which shifts every residual statistic, the augmented CNN keeps more of its accuracy.")
    return text


def limitations(metrics) -> str:
    items = []
    if _simulated(metrics):
        items.append("The data is **simulated**. The zoo models the main stages of a camera pipeline, but real cameras differ "
                     "in ways it does not model (proprietary demosaicing and denoising, lens shading, multi-frame processing, "
                     "compression settings that depend on content). Accuracies here say nothing about real phones; the "
                     "*direction* of each effect is what the run tests.")
    items.append(f"Small test sets: {metrics.get('n_test_images')} labelled test images, so one image moves the accuracy by "
                 f"about {_fmt(1 / max(metrics.get('n_test_images') or 1, 1))}. Differences under 2 points are treated as noise.")
    settings = metrics.get("settings") or {}
    if settings.get("profile") != "gpu":
        items.append(f"Short training (profile `{settings.get('profile')}`: {settings.get('epochs')} epochs, {settings.get('crop')} px "
                     "crops, efficientnet_lite0) instead of the seed's DenseNet161 on 480 px crops for many epochs; the study "
                     f"models (training-set size, architectures) train for {settings.get('study_epochs')} epochs each (one LR "
                     f"cycle) and are scored with `{settings.get('study_tta_crops')}` crops x `{settings.get('study_tta_transforms')}`: "
                     "far from converged, so their differences are rough. The `gpu` profile runs the full recipe.")
    items.append("One seed per configuration: no confidence intervals across training runs, and single runs vary far more "
                 "than the 2-point margin of the verdicts. In development, a change that only altered floating-point rounding "
                 "(a fused Adam kernel: same update rule, seed and data, commit 7e1d135) moved the default run's main model "
                 "from 0.713 to 0.466 weighted accuracy (README, 'How much to trust one run'). Read each verdict as this "
                 "run's, not as settled.")
    return "\n".join(f"- {item}" for item in items)


def reproducibility(metrics) -> str:
    env = metrics.get("environment") or {}
    packages = ", ".join(f"{name} {version}" for name, version in (env.get("packages") or {}).items() if version)
    settings = metrics.get("settings") or {}
    return (f"- Command: `./run_all.sh --profile {settings.get('profile')}` (parameters below; any of them can be changed with `-p NAME VALUE`)\n"
            f"- git commit: `{env.get('git_commit')}`; run folder `{settings.get('run_dir')}`; seed {settings.get('seed')}\n"
            f"- Hardware: {env.get('processor')}, {env.get('cpu_count')} cores, GPU: {env.get('cuda') or 'none'}; "
            f"{env.get('platform')}; Python {env.get('python')}\n- Packages: {packages}\n- Run started: {env.get('time')}\n\n"
            "Runtime of each stage (notebook wall time, from the run log):")


def appendix_links(run_dir, appendix_dir: str) -> str:
    notebooks = sorted(p.stem for p in (Path(run_dir) / "notebooks").glob("*.ipynb") if not p.stem.startswith("99"))
    if not notebooks:
        return "*No executed notebooks found.*"
    return "\n".join(f"- [{name}]({appendix_dir}/{name}.html): the executed notebook, code and outputs" for name in notebooks)
