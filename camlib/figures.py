"""The report's figures, drawn from the stages' typed results, every accuracy with its 95% interval."""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
import seaborn as sns

from .explore import noise_residual
from .io import ImageReadError, read_image
from .runs import atomic_write_bytes
from .stats import Estimate

sns.set_theme(context="notebook", style="whitegrid")
FAMILY_LABELS = {"jpeg": "JPEG quality", "gamma": "gamma", "resize": "bicubic resize factor"}
VARIANT_COLOURS = {"with augmentation": "tab:blue", "without augmentation": "tab:orange"}


def save(fig, run_dir, name: str) -> None:
    """Save a figure as run_dir/figures/<name>.png (atomically); the notebook shows it as well."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    # returns nothing: a notebook cell ending in save() would otherwise print this machine's path into the report
    atomic_write_bytes(Path(run_dir) / "figures" / f"{name}.png", buffer.getvalue())


def _errorbar(ax, x, estimates: list[Estimate], **kw):
    values = np.array([e.value for e in estimates])
    low = values - np.array([e.low for e in estimates])
    high = np.array([e.high for e in estimates]) - values
    return ax.errorbar(x, values, yerr=[low, high], capsize=3, marker="o", **kw)


def _log_ticks(ax, ticks, axis="x"):
    set_ticks, set_labels = (ax.set_xticks, ax.set_xticklabels) if axis == "x" else (ax.set_yticks, ax.set_yticklabels)
    set_ticks(list(ticks))
    set_labels([f"{t:g}" for t in ticks])
    (ax.xaxis if axis == "x" else ax.yaxis).set_minor_formatter(matplotlib.ticker.NullFormatter())


# --- chapter 1: the data

def class_counts(exploration):
    table = exploration.frame()
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(exploration.classes) + 1.5))
    counts = table[table.camera.notna()].groupby(["camera", "split"]).size().rename("images").reset_index()
    sns.barplot(data=counts, y="camera", x="images", hue="split", ax=ax)
    for container in ax.containers:
        ax.bar_label(container, fontsize=7, padding=2)
    ax.set(xlabel="images", ylabel="camera model", title="Images per camera: training device and test device")
    ax.legend(title="split", fontsize=8)
    return fig


def image_sizes(exploration):
    table = exploration.frame()
    frames = table[(table.split == "train") & table.width.notna()]
    fig, ax = plt.subplots(figsize=(8, 4))
    sns.scatterplot(data=frames, x="width", y="height", hue="camera", style="camera", ax=ax, s=45)
    ax.set(xlabel="width (pixels)", ylabel="height (pixels)", title="Native frame size of the training photos")
    ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left", title="camera")
    return fig


def samples(records, classes, simulated: bool, zoom: int = 96, per_row: int = 2):
    """Per camera: for simulated data a frame, its centre and the centre's noise residual; for real photos
    only a small centre crop (too small to carry a scene) and its residual."""
    panels = 3 if simulated else 2
    zoom = zoom if simulated else 48
    rows = (len(classes) + per_row - 1) // per_row
    fig, axes = plt.subplots(rows, panels * per_row, figsize=(2.1 * panels * per_row, 2.3 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for index, camera in enumerate(classes):
        row, column = divmod(index, per_row)
        panel = list(axes[row, panels * column:panels * column + panels])
        record = next((r for r in records if r.camera == camera), None)
        if record is None:
            continue
        try:
            image = read_image(record.path)
        except ImageReadError as exc:
            panel[0].set_title(str(exc.reason)[:40], fontsize=7)
            continue
        height, width = image.shape[:2]
        top, left = (height - zoom) // 2, (width - zoom) // 2
        patch = image[top:top + zoom, left:left + zoom]
        residual = noise_residual(patch)
        scale = max(3 * residual.std(), 1e-6)
        if simulated:
            panel.pop(0).imshow(image)
        panel[0].imshow(patch, interpolation="nearest")
        panel[0].set_title(f"{camera}\ncentre {zoom} px of {width}x{height}", fontsize=7)
        panel[1].imshow(np.clip(residual / scale * 0.5 + 0.5, 0, 1), interpolation="nearest")
        panel[1].set_title("noise residual\n(image - 3x3 median)", fontsize=7)
    fig.tight_layout()
    return fig


def residual_stats(exploration):
    stats = pd.DataFrame([r.model_dump() for r in exploration.residuals])
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.3 * len(exploration.classes) + 3), gridspec_kw={"width_ratios": [1.2, 1]})
    sns.scatterplot(data=stats, x="residual_std_G", y="corr_RG", hue="camera", style="camera", ax=axes[0], s=40)
    axes[0].set(xlabel="residual std, green (grey levels)", ylabel="R-G residual correlation",
                title="Each point: one training frame")
    axes[0].legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left", title="camera")
    long = stats.melt(id_vars="camera", value_vars=["residual_std_R", "residual_std_G", "residual_std_B"],
                      var_name="channel", value_name="std")
    long["channel"] = long.channel.str[-1]
    sns.boxplot(data=long, x="std", y="camera", hue="channel", ax=axes[1], fliersize=2,
                palette={"R": "tab:red", "G": "tab:green", "B": "tab:blue"})
    axes[1].set(xlabel="residual std (grey levels)", ylabel="", title="Residual std per colour channel")
    axes[1].legend(title="channel", fontsize=7)
    fig.tight_layout()
    return fig


# --- chapter 2: training

def augmentations(image: np.ndarray, augment_config, seed: int = 0, n: int = 11):
    """The unaugmented training crop, then `n` draws of the run's augmentation, each labelled with what it got."""
    import albumentations as A

    from .augment import training_pipeline
    pipeline = training_pipeline(augment_config, seed=seed)
    labelled = A.Compose(pipeline.transforms, seed=seed, save_applied_params=True)
    columns = 6
    rows = (n + 1 + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(12, 2.35 * rows))
    axes = np.ravel(axes)
    for ax in axes:
        ax.axis("off")
    height, width = image.shape[:2]
    crop = augment_config.crop
    top, left = max(0, (height - crop) // 2), max(0, (width - crop) // 2)
    axes[0].imshow(image[top:top + crop, left:left + crop], interpolation="nearest")
    axes[0].set_title("unaugmented\ncentre crop", fontsize=8)
    for ax in axes[1:n + 1]:
        out = labelled(image=image)
        ax.imshow(out["image"], interpolation="nearest")
        ax.set_title(_applied_label(out["applied_transforms"]), fontsize=8)
    fig.suptitle(f"The training augmentation: {crop} px crops from one training frame")
    fig.tight_layout()
    return fig


def _applied_label(applied) -> str:
    d4, manipulation = "", "no manipulation"
    for name, params in applied:
        if name == "D4":
            d4 = {"e": "identity", "r90": "rot 90", "r180": "rot 180", "r270": "rot 270", "v": "flip v", "hvt": "transpose",
                  "h": "flip h", "t": "anti-transpose"}.get(str(params.get("group_element")), str(params.get("group_element")))
        elif name == "RandomJpegManip":
            manipulation = f"JPEG q{params['quality']}"
        elif name == "RandomGammaManip":
            manipulation = f"gamma {params['gamma_value']:.2f}"
        elif name == "RandomResizeManip":
            manipulation = f"resize x{params['factor']:.2f}"
    return f"{manipulation}\n{d4}" if d4 else manipulation


def training_curves(models, title: str | None = None):
    """Per replicate: training loss (smoothed per epoch), test-device accuracy when evaluated, and the LR."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    palette = sns.color_palette("tab10", len(models))
    for colour, model in zip(palette, models):
        curve = pd.DataFrame([p.model_dump() for p in model.curve])
        label = f"seed {model.seed}"
        axes[0].plot(curve.epoch, curve.train_loss, marker="o", color=colour, label=label)
        evaluated = curve.dropna(subset=["test_accuracy"])
        axes[1].plot(evaluated.epoch, evaluated.test_accuracy, marker="o", color=colour, label=f"{label}, test device")
        axes[1].plot(curve.epoch, curve.train_accuracy, ls=":", color=colour, label=f"{label}, training crops")
        axes[2].plot(curve.epoch, curve.lr_end, marker=".", color=colour, label=label)
    if models:
        axes[0].axhline(models[0].chance_loss, color="grey", ls=":", label="chance (ln cameras)")
    axes[0].set(xlabel="epoch", ylabel="cross-entropy (mean over the epoch)", title="training loss")
    crops = models[0].eval_crops if models else 1
    axes[1].set(xlabel="epoch", ylabel="accuracy (fraction)", ylim=(0, 1.02),
                title=f"accuracy: test device ({'one centre crop' if crops == 1 else f'{crops} crops'}) and training crops")
    axes[2].set(xlabel="epoch", ylabel="learning rate at the epoch's end", yscale="log", title="learning rate")
    for ax in axes:
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --- chapter 3: test device

def confusion(outcome, title: str):
    table = outcome.confusion()
    fig, ax = plt.subplots(figsize=(8.5, 7))
    sns.heatmap(table, annot=True, fmt=".1f" if len(outcome.seeds) > 1 else ".0f", cmap="Blues", cbar=False, ax=ax,
                annot_kws={"fontsize": 8})
    ax.set(xlabel="predicted camera", ylabel="true camera", title=title)
    return fig


def per_class(scores, title: str):
    names = sorted(scores.per_class, key=lambda c: scores.per_class[c].value)
    estimates = [scores.per_class[c] for c in names]
    fig, ax = plt.subplots(figsize=(7.5, 0.35 * len(names) + 1.5))
    values = np.array([e.value for e in estimates])
    ax.barh(names, values, color="tab:blue", alpha=0.7)
    ax.errorbar(values, names, xerr=[values - [e.low for e in estimates], [e.high for e in estimates] - values],
                fmt="none", ecolor="black", capsize=3, label="95% interval")
    for y, e in enumerate(estimates):
        ax.text(min(e.high + 0.02, 0.93), y, f"{e.value:.2f}", va="center", fontsize=7)
    ax.set(xlabel="accuracy (fraction)", xlim=(0, 1.05), title=title)
    ax.legend(fontsize=7, loc="lower right")
    return fig


# --- chapter 4: robustness

def robustness(result, chance: float | None = None):
    """Per family: accuracy of both models against the manipulation value, 95% interval bands (pooled over
    the sweep seeds), the training range of the augmented model shaded, the unaltered level dotted; chance (by
    default) the majority camera's share of the sweep's images."""
    if chance is None:
        chance = result.points[0].outcome.chance() if result.points else float("nan")
    families = [f for f in ("jpeg", "gamma", "resize") if any(p.family == f for p in result.points)]
    fig, axes = plt.subplots(1, len(families), figsize=(5.2 * len(families), 4), squeeze=False)
    for ax, family in zip(axes[0], families):
        bounds = result.training_ranges.get(family)
        if bounds:
            ax.axvspan(bounds[0], bounds[1], color="tab:green", alpha=0.12, label="training range (augmented model)")
        for variant, colour in VARIANT_COLOURS.items():
            points = sorted((p for p in result.points if p.family == family and p.variant == variant), key=lambda p: p.value)
            if not points:
                continue
            estimates = [p.outcome.accuracy() for p in points]
            x = [p.value for p in points]
            ax.plot(x, [e.value for e in estimates], marker="o", color=colour, label=variant)
            ax.fill_between(x, [e.low for e in estimates], [e.high for e in estimates], color=colour, alpha=0.15)
            reference = result.point("none", 0.0, variant)
            if reference is not None:
                ax.axhline(reference.accuracy().value, color=colour, ls="--", lw=1, alpha=0.7)
        ax.axhline(chance, color="grey", ls=":", label=f"chance (majority camera, {chance:.2f})")
        ax.set(xlabel=FAMILY_LABELS[family], ylabel="accuracy (fraction)", ylim=(0, 1.02))
        if family == "resize":
            ax.set_xscale("log")
            _log_ticks(ax, [0.25, 0.5, 1, 2])
        ax.legend(fontsize=7, loc="lower center")
    fig.suptitle(f"Accuracy under each manipulation ({result.points[0].outcome.scores().n_images} unaltered test images, "
                 f"{len(result.sweep_seeds)} seeds; dashed: unaltered; bands: 95% intervals)")
    fig.tight_layout()
    return fig


# --- chapter 5: crop size

def crop_size(result, chance: float | None = None, target: float = 0.9, claimed: int = 250, claimed_train: int = 480):
    """Accuracy against the test crop's side (left) and against its side relative to the training crop (right),
    where the original claim (`claimed` px of a `claimed_train` px training crop) sits at claimed / claimed_train."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), sharey=True)
    points = sorted(result.points, key=lambda p: p.crop)
    estimates = [p.outcome.accuracy() for p in points]
    chance = points[0].outcome.chance() if chance is None and points else chance
    crops = [p.crop for p in points]
    relative = [c / result.train_crop for c in crops]
    panels = ((axes[0], crops, result.train_crop, claimed, "side of the centre test crop (pixels)", "px"),
              (axes[1], relative, 1.0, claimed / claimed_train, "test crop side / training crop side", "x"))
    for ax, x, train_mark, claim_mark, xlabel, unit in panels:
        _errorbar(ax, x, estimates, color="tab:blue", label="one centre crop (95% interval)")
        ax.axvline(train_mark, color="tab:red", ls="--", label=f"training crop ({result.train_crop} px)")
        claim_text = (f"original claim: >= {claimed} px for > {target:.0%}" if unit == "px" else
                      f"original claim, relative: {claimed}/{claimed_train} = {claim_mark:.2f} for > {target:.0%}")
        ax.axvline(claim_mark, color="tab:green", ls=":", label=claim_text)
        ax.axhline(target, color="tab:green", ls="-.", lw=1)
        if chance is not None:
            ax.axhline(chance, color="grey", ls=":", label=f"chance (majority camera, {chance:.2f})")
        ax.set(xlabel=xlabel, ylim=(0, 1.02), xscale="log")
        _log_ticks(ax, [round(v, 2) for v in x])
        ax.legend(fontsize=7, loc="lower right")
    axes[0].set(ylabel="accuracy (fraction)",
                title=f"Accuracy against test crop size ({estimates[0].n_images} unaltered images, {len(result.seeds)} seeds)")
    axes[1].set(title=f"The same against the crop relative to the training crop ({result.train_crop} px)")
    fig.tight_layout()
    return fig


# --- chapters 6, 7 and the baseline: variants side by side

def variants(rows, title: str, chance: float, label_key: str = "label"):
    """Weighted accuracy, unaltered and manipulated accuracy per variant, with 95% error bars."""
    metrics = [("weighted_accuracy", "weighted (challenge metric)"), ("accuracy_unalt", "unaltered"),
               ("accuracy_manip", "manipulated")]
    fig, ax = plt.subplots(figsize=(9, 0.8 * len(rows) + 1.8))
    height = 0.8 / len(metrics)
    colours = sns.color_palette("tab10", len(metrics))
    labels = [getattr(r, label_key) for r in rows]
    for k, ((key, name), colour) in enumerate(zip(metrics, colours)):
        estimates = [getattr(r, key) for r in rows]
        y = np.arange(len(rows)) + (k - 1) * height
        values = np.array([np.nan if e is None else e.value for e in estimates])
        ax.barh(y, values, height=height, color=colour, alpha=0.8, label=name)
        low = np.array([np.nan if e is None else e.value - e.low for e in estimates])
        high = np.array([np.nan if e is None else e.high - e.value for e in estimates])
        ax.errorbar(values, y, xerr=[low, high], fmt="none", ecolor="black", capsize=2, lw=1)
    ax.set_yticks(np.arange(len(rows)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.axvline(chance, color="grey", ls=":", label="chance")
    ax.set(xlabel="accuracy (fraction); bars: 95% intervals", xlim=(0, 1.05), title=title)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def train_size(rows, chance: float):
    fig, ax = plt.subplots(figsize=(7.5, 4))
    rows = sorted(rows, key=lambda r: r.images_per_class)
    x = [r.images_per_class for r in rows]
    for key, name, colour in (("weighted_accuracy", "weighted", "tab:blue"), ("accuracy_unalt", "unaltered", "tab:green"),
                              ("accuracy_manip", "manipulated", "tab:red")):
        estimates = [getattr(r.scores, key) for r in rows]
        if all(e is not None for e in estimates):  # real photos have no manipulated half
            _errorbar(ax, x, estimates, color=colour, label=name)
    ax.axhline(chance, color="grey", ls=":", label="chance")
    ax.set(xlabel="training images per camera", ylabel="accuracy (fraction)", ylim=(0, 1.02), xscale="log",
           title=f"Accuracy against training-set size (same steps; {len(rows[0].scores.seeds)} seeds per point)")
    _log_ticks(ax, x)
    ax.legend(fontsize=7, loc="lower right")
    return fig


# --- chapters 9-15: the open questions

def estimate_bars(items: list[tuple[str, Estimate]], title: str, xlabel: str = "weighted accuracy (fraction)",
                  chance: float | None = None):
    """One horizontal bar per (label, estimate), with its 95% interval and its value written beside it."""
    fig, ax = plt.subplots(figsize=(8.5, 0.55 * len(items) + 1.6))
    labels = [label for label, _ in items]
    values = np.array([e.value for _, e in items])
    ax.barh(labels, values, color=sns.color_palette("tab10", len(items)), alpha=0.8)
    ax.errorbar(values, labels, xerr=[values - [e.low for _, e in items], [e.high for _, e in items] - values],
                fmt="none", ecolor="black", capsize=3, label="95% interval")
    for y, (_, e) in enumerate(items):
        ax.text(min(e.high + 0.015, 0.95), y, f"{e.value:.3f}", va="center", fontsize=8)
    if chance is not None:
        ax.axvline(chance, color="grey", ls=":", label="chance")
    ax.set(xlabel=xlabel, xlim=(0, 1.05), title=title)
    ax.invert_yaxis()
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def manipulation_head(result):
    """The head's confusion (true family x predicted, mean over seeds) and its accuracy per test operation."""
    outcome = result.outcome
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [1, 1.3]})
    sns.heatmap(outcome.confusion(), annot=True, fmt=".1f", cmap="Greens", cbar=False, ax=axes[0])
    axes[0].set(xlabel="predicted manipulation", ylabel="true manipulation", title="Confusion (mean over seeds)")
    names = sorted(set(outcome.manipulations), key=lambda n: (n != "unalt", n))
    estimates = [outcome.subset([m == n for m in outcome.manipulations]).accuracy() for n in names]
    values = np.array([e.value for e in estimates])
    axes[1].barh(names, values, color="tab:green", alpha=0.7)
    axes[1].errorbar(values, names, xerr=[values - [e.low for e in estimates], [e.high for e in estimates] - values],
                     fmt="none", ecolor="black", capsize=3)
    axes[1].axvline(outcome.chance(), color="grey", ls=":",
                    label=f"chance: the majority family's share of the test images ({outcome.chance():.2f})")
    axes[1].set(xlabel="share of test images whose manipulation family is right", xlim=(0, 1.05),
                title="Per test operation (95% intervals)")
    axes[1].legend(fontsize=7)
    axes[1].invert_yaxis()
    fig.tight_layout()
    return fig


def saliency_examples(result):
    """Per example crop: the crop, where the camera logit's gradient is large, and the noise residual."""
    examples = result.examples
    fig, axes = plt.subplots(len(examples), 3, figsize=(7.5, 2.5 * len(examples)), squeeze=False)
    for row, example in zip(axes, examples):
        row[0].imshow(np.asarray(example.crop, dtype=np.uint8), interpolation="nearest")
        row[0].set_title(f"{example.camera}\n(predicted {example.predicted})", fontsize=7)
        row[1].imshow(np.asarray(example.saliency), cmap="magma", interpolation="nearest")
        row[1].set_title("gradient saliency", fontsize=7)
        row[2].imshow(np.asarray(example.residual), cmap="gray", interpolation="nearest")
        row[2].set_title("|noise residual|", fontsize=7)
        for ax in row:
            ax.axis("off")
    fig.tight_layout()
    return fig


def metric_heatmap(result):
    """Accuracy of every variant under every metric (values; the variant each metric ranks first is boxed)."""
    table = pd.DataFrame({r.variant: {m: (None if e is None else e.value) for m, e in r.values.items()} for r in result.rows}).T
    fig, ax = plt.subplots(figsize=(12, 0.5 * len(table) + 2))
    sns.heatmap(table.astype(float), annot=True, fmt=".2f", cmap="viridis", vmin=0, vmax=1, ax=ax,
                cbar_kws={"label": "accuracy"}, annot_kws={"fontsize": 7})
    for column, name in enumerate(table.columns):
        if name in result.top:
            ax.add_patch(plt.Rectangle((column, list(table.index).index(result.top[name])), 1, 1, fill=False, lw=2,
                                       edgecolor="red"))
    ax.set(xlabel="metric (red box: the variant it ranks first)", ylabel="", title="Every variant under every metric")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return fig


def open_set(result):
    fig, ax = plt.subplots(figsize=(8, 4))
    bins = np.linspace(0, 1, 41)
    ax.hist(result.known_scores, bins=bins, alpha=0.6, density=True, label=f"known cameras ({result.n_known_test} photos)")
    ax.hist(result.unknown_scores, bins=bins, alpha=0.6, density=True,
            label=f"unknown cameras ({result.n_unknown_test} photos)")
    ax.axvline(result.threshold, color="black", ls="--",
               label=f"threshold {result.threshold:.2f} (keeps 95% of known validation photos)")
    ax.set(xlabel="maximum class probability (mean over seeds)", ylabel="density",
           title=f"AUROC {result.auroc.text()}: unknown photos still attributed {result.false_attribution.text(2)}")
    ax.legend(fontsize=7, loc="upper left")
    return fig
