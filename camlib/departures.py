"""Where a run departs from the seed's recipe: each departure, why, and its measured effect where it bears on a verdict."""
from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from .settings import REPO_ROOT

DIAGNOSIS_FILE = Path("benchmarks") / "robustness_diagnosis.json"  # written by benchmarks/robustness_diagnosis.py


class Departure(BaseModel):
    """One row of the departures table."""

    what: str
    seed: str  # what the seed did (write-up or released code)
    this_run: str
    why: str
    effect: str  # the measured effect with its interval, or where the report measures it


def _claim_text(claims, topic: str, contains: str = "") -> str:
    for claim in claims:
        if claim.topic == topic and contains in claim.test and claim.difference is not None:
            return f"{claim.difference.text(percent=True)} points ({claim.verdict}): {claim.test}"
    return ""


def departures(metrics, settings) -> list[Departure]:
    """The departures of this run from the seed's recipe, from its settings and its measured results."""
    s, claims = settings, metrics.claims
    rows = []
    data_seed = "Kaggle: 10 phone and camera models, 275 photos each from one device; test: 2640 512 px crops of a second device"
    if metrics.data.simulated:
        rows.append(Departure(what="data", seed=data_seed, this_run=f"the simulated zoo ({s.zoo_difficulty}), "
                              f"{metrics.data.n_train_images} training frames of {len(metrics.data.classes)} virtual cameras",
                              why="runs anywhere without a download; the real-photo reports use real cameras",
                              effect="what carries identity in the zoo: benchmarks/zoo_ablation.md; the real-photo reports "
                              "test the method on real cameras"))
    else:
        rows.append(Departure(what="data", seed=data_seed, this_run=f"{metrics.data.n_train_images} training photos of "
                              f"{len(metrics.data.classes)} real cameras ({metrics.data.layout} layout)",
                              why="the photos at hand", effect="section 2 lists them"))
    rows.append(Departure(what="training crop", seed="960 px random crop, then 480 px", this_run=f"{2 * s.crop} px, then {s.crop} px",
                          why="CPU time: a step costs about the square of the crop side",
                          effect=_claim_text(claims, "crop size") or "the crop-size claim (250 px for 90%) is not "
                          "testable at this crop; section 6 shows accuracy against the crop relative to the training crop"))
    rows.append(Departure(what="network", seed="DenseNet161/201 (and peers) from ImageNet", this_run=f"{s.arch} ({s.weights})",
                          why="no offline DenseNet weights; a DenseNet161 step is far too slow on a CPU",
                          effect=_claim_text(claims, "architectures", "minus") or "not measured in this run"))
    convergence = metrics.convergence
    if convergence:
        gains = "; ".join(f"{name} {gain.text(percent=True)}" for name, gain in convergence.gains().items())
        effect = f"trained {convergence.epochs_longer} instead of {convergence.epochs} epochs, gains in points: {gains}"
    else:
        effect = "not measured for this run (benchmarks/convergence.py)"
    rows.append(Departure(what="epochs", seed="100", this_run=str(s.epochs), why="CPU time; the convergence check "
                          "asks whether the models have stopped gaining", effect=effect))
    rows.append(Departure(what="schedule", seed="write-up: Adam with a cyclic learning rate with restarts; released code: "
                          "ReduceLROnPlateau", this_run=f"Adam, {s.schedule}" + (f", cycles of {s.cycle_epochs:g} epochs"
                          if s.schedule == "cosine_restarts" else ""), why="restarts every few epochs need many epochs; "
                          "ReduceLROnPlateau needs a validation curve per epoch",
                          effect=_claim_text(claims, "schedule") or "not measured in this run"))
    recipe = {"writeup": "the write-up's (gamma and JPEG each p 0.5, every crop rescaled)",
              "released": "the released code's (one of the 8 test operations, p 0.5)",
              "oneof": "camlib's oneof (one manipulation from the ranges, p 0.5)"}[s.aug_recipe]
    rows.append(Departure(what="augmentation", seed="write-up: D4, gamma 0.8-1.2 p 0.5, JPEG 70-90 p 0.5, rescale "
                          "0.5-2 p 1; released code: one of the 8 test operations p 0.5", this_run=recipe,
                          why="the write-up states the recipe the claims are about" if s.aug_recipe == "writeup"
                          else "chosen for this run", effect="the robustness diagnosis (section 5) compares the recipes"
                          if metrics.robustness_diagnosis else "not measured in this run"))
    rows.append(Departure(what="training-set size", seed="275 photos per model (up to 25k with extra data)",
                          this_run=f"about {metrics.data.n_train_images // max(1, len(metrics.data.classes))} per camera",
                          why="CPU time and the photos at hand",
                          effect=_claim_text(claims, "data size", "minus") or "not measured in this run"))
    rows.append(Departure(what="test-time augmentation", seed="crops of the 512 px test image x flips/rotations",
                          this_run=(f"{s.tta_crops} crops ({s.tta_grid}x{s.tta_grid} tiles of {s.crop} px)" if s.tta_crops == "grid"
                                    else f"{s.tta_crops} crops of {s.crop} px") + f" x {s.tta_transforms}",
                          why="covers the whole test image with crops of the training size",
                          effect=_claim_text(claims, "TTA", "centre") or "section 4"))
    rows.append(Departure(what="replicates", seed="one model per network (an ensemble of networks for the final answer)",
                          this_run=f"{s.replicates} training seeds of the main model, {s.study_replicates} of each study model",
                          why="a verdict needs the spread between training runs", effect="every interval includes it"))
    return rows


def read_diagnosis() -> dict | None:
    """The committed robustness diagnosis (benchmarks/robustness_diagnosis.json), or None when absent."""
    path = REPO_ROOT / DIAGNOSIS_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
