"""Figures and tables of the report (seaborn), saved to the run folder and shown in the notebooks."""
from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
import seaborn as sns

from .explore import noise_residual
from .io import ImageReadError, read_image

sns.set_theme(context="notebook", style="whitegrid")
TRAINING_RANGES = {"jpeg": (70, 90), "gamma": (0.8, 1.2), "resize": (0.5, 2.0)}
FAMILY_LABELS = {"jpeg": "JPEG quality", "gamma": "gamma", "resize": "bicubic resize factor"}


def savefig(fig, run_dir, name: str) -> Path:
    """Save a figure as run_dir/figures/<name>.png (atomically) and return the path."""
    from .runs import atomic_write_bytes
    import io
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return atomic_write_bytes(Path(run_dir) / "figures" / f"{name}.png", buffer.getvalue())


def plot_class_counts(table: pd.DataFrame, title="Images per camera and split"):
    fig, ax = plt.subplots(figsize=(9, 4))
    counts = table.groupby(["camera", "split"]).size().rename("images").reset_index()
    sns.barplot(data=counts, y="camera", x="images", hue="split", ax=ax)
    ax.set(xlabel="images", ylabel="camera model", title=title)
    return fig


def plot_image_sizes(table: pd.DataFrame, title="Native image size per camera (training frames)"):
    fig, ax = plt.subplots(figsize=(7, 4))
    frames = table[(table.split == "train") & table.width.notna()]
    sns.scatterplot(data=frames, x="width", y="height", hue="camera", ax=ax, s=40)
    ax.set(xlabel="width (pixels)", ylabel="height (pixels)", title=title)
    ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    return fig


def show_samples(records, classes, zoom: int = 96, per_row: int = 2):
    """Each camera: a frame, a zoomed centre crop, and its noise residual (contrast-stretched)."""
    rows = (len(classes) + per_row - 1) // per_row
    fig, axes = plt.subplots(rows, 3 * per_row, figsize=(4.2 * per_row * 1.5, 2.3 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for index, camera in enumerate(classes):
        row, column = divmod(index, per_row)
        panel = axes[row, 3 * column:3 * column + 3]
        record = next((r for r in records if r.camera == camera), None)
        if record is None:
            continue
        try:
            image = read_image(record.path)
        except ImageReadError as exc:
            panel[0].set_title(str(exc)[:60], fontsize=7)
            continue
        height, width = image.shape[:2]
        top, left = (height - zoom) // 2, (width - zoom) // 2
        patch = image[top:top + zoom, left:left + zoom]
        residual = noise_residual(patch)
        scale = max(3 * residual.std(), 1e-6)
        panel[0].imshow(image)
        panel[0].set_title(f"{camera}\n{width}x{height}", fontsize=8)
        panel[1].imshow(patch, interpolation="nearest")
        panel[1].set_title(f"centre {zoom} px", fontsize=8)
        panel[2].imshow(np.clip(residual / scale * 0.5 + 0.5, 0, 1), interpolation="nearest")
        panel[2].set_title("noise residual", fontsize=8)
    fig.suptitle("One training frame per camera, its centre and its noise residual (image - 3x3 median)")
    fig.tight_layout()
    return fig


def plot_residual_stats(stats: pd.DataFrame, title="Noise-residual statistics differ between camera models"):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    sns.scatterplot(data=stats, x="residual_std_G", y="corr_RG", hue="camera", ax=axes[0], s=35)
    axes[0].set(xlabel="residual std, green (grey levels)", ylabel="R-G residual correlation")
    axes[0].legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left").set_visible(False)
    long = stats.melt(id_vars="camera", value_vars=["residual_std_R", "residual_std_G", "residual_std_B"],
                      var_name="channel", value_name="std")
    long["channel"] = long.channel.str[-1]
    sns.boxplot(data=long, x="std", y="camera", hue="channel", ax=axes[1], fliersize=2)
    axes[1].set(xlabel="residual std (grey levels)", ylabel="")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_augmentations(image: np.ndarray, pipeline, n: int = 12, title="The training augmentation on one frame"):
    from .augment import augment
    columns = 6
    fig, axes = plt.subplots((n + columns - 1) // columns, columns, figsize=(12, 2.2 * ((n + columns - 1) // columns)))
    for index, ax in enumerate(np.ravel(axes)):
        ax.axis("off")
        if index < n:
            ax.imshow(augment(pipeline, image), interpolation="nearest")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_training(history: pd.DataFrame, steps: pd.DataFrame, title: str | None = None):
    """Loss per step, accuracy per epoch (train on augmented crops, validation and test when evaluated), LR.
    The default title states where the run ended."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    if not steps.empty:
        axes[0].plot(steps.step, steps.loss, alpha=0.35, label="per step")
        axes[0].plot(steps.step, steps.loss.rolling(10, min_periods=1).mean(), label="mean of 10 steps")
        axes[0].legend()
        sns.lineplot(data=steps, x="step", y="lr", ax=axes[2])
    axes[0].set(xlabel="optimisation step", ylabel="cross-entropy loss", title="loss")
    labels = {"train_accuracy": "train (augmented crops)", "val_accuracy": "validation (training device, 4 crops)",
              "test_accuracy": "test device (4 crops)"}
    columns = [c for c in labels if c in history]
    if not history.empty:
        long = history.melt(id_vars="epoch", value_vars=columns, var_name="split", value_name="accuracy").dropna()
        long["split"] = long.split.map(labels)
        sns.lineplot(data=long, x="epoch", y="accuracy", hue="split", marker="o", ax=axes[1])
        axes[1].legend(loc="upper left", fontsize="small")
    axes[1].set(xlabel="epoch", ylabel="accuracy (fraction)", ylim=(0, 1.02), title="accuracy per epoch")
    axes[2].set(xlabel="optimisation step", ylabel="learning rate", title="cyclic learning rate", yscale="log")
    if title is None:
        title = "Training curves"
        if not steps.empty and "test_accuracy" in history and history.test_accuracy.notna().any():
            last = history.dropna(subset=["test_accuracy"]).iloc[-1]
            title = (f"Loss falls from {steps.loss.iloc[:10].mean():.2f} to {steps.loss.iloc[-10:].mean():.2f}; "
                     f"test-device accuracy {last.test_accuracy:.2f} after epoch {int(last.epoch)}")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion(table: pd.DataFrame, title="Confusion matrix (test device)"):
    fig, ax = plt.subplots(figsize=(8, 6.5))
    sns.heatmap(table, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax)
    ax.set(xlabel="predicted camera", ylabel="true camera", title=title)
    return fig


def plot_per_class(per_class: dict, title="Accuracy per camera (TTA, test device)"):
    fig, ax = plt.subplots(figsize=(7, 4))
    series = pd.Series(per_class).sort_values()
    sns.barplot(x=series.values, y=series.index, ax=ax, color="tab:blue")
    ax.set(xlabel="accuracy (fraction)", ylabel="", xlim=(0, 1), title=title)
    return fig


def plot_robustness(table: pd.DataFrame, chance: float, title="Accuracy under each manipulation"):
    """One panel per family, one curve per variant; the training-augmentation range shaded green."""
    families = list(dict.fromkeys(table.family))
    fig, axes = plt.subplots(1, len(families), figsize=(5 * len(families), 3.8), squeeze=False)
    for ax, family in zip(axes[0], families):
        low, high = TRAINING_RANGES[family]
        ax.axvspan(low, high, color="tab:green", alpha=0.15, label="augmentation range")
        sns.lineplot(data=table[table.family == family], x="value", y="accuracy", hue="variant", marker="o", ax=ax)
        ax.axhline(chance, color="grey", ls=":", label="chance")
        ax.set(xlabel=FAMILY_LABELS[family], ylabel="accuracy (fraction)", ylim=(0, 1.02))
        if family == "resize":
            ax.set_xscale("log")
            ax.set_xticks([0.25, 0.5, 1, 2])
            ax.set_xticklabels(["0.25", "0.5", "1", "2"])
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_crop_size(table: pd.DataFrame, train_crop: int, chance: float, title="Accuracy vs test crop size"):
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.lineplot(data=table, x="crop", y="accuracy", marker="o", ax=ax)
    ax.axvline(train_crop, color="tab:red", ls="--", label=f"training crop ({train_crop} px)")
    ax.axvline(250, color="tab:green", ls=":", label="seed: >= 250 px for > 90%")
    ax.axhline(chance, color="grey", ls=":", label="chance")
    ax.set(xlabel="side of the centre test crop (pixels)", ylabel="accuracy (fraction)", ylim=(0, 1.02), xscale="log", title=title)
    ax.set_xticks(list(table.crop))
    ax.set_xticklabels([str(c) for c in table.crop])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.legend(fontsize=8)
    return fig


def plot_train_size(table: pd.DataFrame, chance: float, title="Accuracy vs training images per camera"):
    fig, ax = plt.subplots(figsize=(7, 4))
    long = table.melt(id_vars="images_per_class", value_vars=["accuracy_unalt", "accuracy_manip", "weighted_accuracy"],
                      var_name="metric", value_name="value")
    sns.lineplot(data=long, x="images_per_class", y="value", hue="metric", marker="o", ax=ax)
    ax.axhline(chance, color="grey", ls=":", label="chance")
    ax.set(xlabel="training images per camera", ylabel="accuracy (fraction)", ylim=(0, 1.02), xscale="log", title=title)
    ax.set_xticks(list(table.images_per_class))
    ax.set_xticklabels([str(c) for c in table.images_per_class])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    return fig


def plot_variants(table: pd.DataFrame, title="Weighted accuracy by model", label="variant"):
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(table) + 1.5))
    long = table.melt(id_vars=label, value_vars=["accuracy_unalt", "accuracy_manip", "weighted_accuracy"],
                      var_name="metric", value_name="value")
    sns.barplot(data=long, y=label, x="value", hue="metric", ax=ax)
    ax.set(xlabel="accuracy (fraction)", ylabel="", xlim=(0, 1), title=title)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def show_figure(run_dir, name: str):
    """Display a saved figure of the run (embedded in the rendered HTML), or say that the stage is missing."""
    from IPython.display import Image, Markdown, display
    path = Path(run_dir) / "figures" / f"{name}.png"
    display(Image(filename=str(path)) if path.exists() else Markdown(f"*Figure `{name}` missing: its stage did not run.*"))


def show_markdown(text: str):
    from IPython.display import Markdown, display
    display(Markdown(text))
