"""Chapter 9: is the image manipulated, and how? A small head on the frozen main network, trained on the
augmentation's own labels (unaltered / JPEG / gamma / resize)."""
from __future__ import annotations

import numpy as np
import torch
from pydantic import BaseModel
from sklearn.linear_model import LogisticRegression
from tqdm import tqdm

from .. import augment
from ..framecache import read_frame
from ..infer import image_views, read_test_image, to_tensor
from ..io import ImageReadError
from ..manipulations import CHALLENGE_MANIPULATIONS
from ..metrics import is_manipulated
from ..outcomes import Outcome
from .core import STUDY, Run, cached
from .inputs import stage
from .questions import Finding, finding, gated, switched_on
from .training import main_models

FAMILIES = ["unaltered", "jpeg", "gamma", "resize"]


class ManipulationHeadResult(BaseModel):
    """Per test image and seed: the manipulation family the head says (an Outcome over FAMILIES)."""

    mode: str
    n_train_crops: int
    outcome: Outcome  # classes: FAMILIES; cameras: the true family of each test image
    findings: list[Finding]


def test_family(manipulation: str | None) -> str:
    """The family of a test image's manipulation label ('unalt', 'jpg70', 'resize0.5', ...)."""
    if not manipulation or manipulation == "unalt":
        return "unaltered"
    return CHALLENGE_MANIPULATIONS.get(manipulation, ("unaltered",))[0]


def _training_crops(run: Run, seed: int):
    """Training crops with the family of the manipulation each got: the released recipe (one of the challenge's
    8 operations on half the crops) whatever the run's recipe, so each crop has one label, as a test image has."""
    settings, data = run.settings, run.data
    config = augment.AugmentConfig(**{**settings.augment_config().to_dict(), "recipe": "released", "manipulation_prob": 0.5})
    pipeline = augment.training_pipeline(config, seed=seed, save_applied_params=True)
    crops, labels = [], []
    for record in tqdm(data.train, desc="manipulation-head crops", disable=not run.progress, leave=False):
        try:
            frame = read_frame(record.path, settings.frame_cache_gib)
        except ImageReadError:
            continue
        for _ in range(settings.manipulation_crops):
            out = pipeline(image=frame)
            family = next(iter(augment.applied_manipulations(out["applied_transforms"])), "unaltered")
            crops.append(out["image"])
            labels.append(FAMILIES.index(family))
    return np.stack(crops), np.array(labels)


@torch.no_grad()
def _embed(model, crops: np.ndarray, batch: int = 64) -> np.ndarray:
    return torch.cat([model.embed(to_tensor(crops[i:i + batch])) for i in range(0, len(crops), batch)]).numpy()


@stage(fields=("open_questions", "manipulation_crops", *STUDY), needs=("training", "augmentation"),
       chapters=("09_open_questions",))
def manipulation_head(run: Run) -> ManipulationHeadResult | None:
    """Chapter 9's stage (cached; None when switched off)."""
    if not switched_on(run, "manipulation_head"):
        return None
    settings, data = run.settings, run.data
    seeds = settings.study_seeds
    tta = settings.tta_config("study")

    def compute():
        models = main_models(run, seeds)
        predictions, n_crops = [], 0
        truth = [test_family(r.manipulation) for r in data.test]
        for seed, model in models.items():
            crops, labels = _training_crops(run, seed)
            n_crops = len(crops)
            head = LogisticRegression(max_iter=2000, C=1.0).fit(_embed(model, crops), labels)
            row = []
            for record in tqdm(data.test, desc=f"manipulation head, seed {seed}", disable=not run.progress, leave=False):
                image, error = read_test_image(record)
                if image is None:
                    row.append(-1)
                    continue
                views = image_views(image, tta)
                with torch.no_grad():
                    features = model.embed(views).numpy()
                probabilities = np.zeros(len(FAMILIES))
                probabilities[head.classes_] = head.predict_proba(features).mean(axis=0)
                row.append(int(probabilities.argmax()))
            predictions.append(row)
        outcome = Outcome(label="manipulation head", classes=FAMILIES, seeds=list(models), images=[r.path for r in data.test],
                          cameras=truth, manipulations=[r.manipulation or "unalt" for r in data.test], predictions=predictions)
        return ManipulationHeadResult(mode="frozen", n_train_crops=n_crops, outcome=outcome,
                                      findings=gated(run, _findings(outcome)))

    return cached(run, "manipulation_head", compute, ManipulationHeadResult)


def majority_family(outcome: Outcome) -> str:
    """The most frequent true family of the scored images (the answer that scores chance)."""
    truth = np.asarray(outcome.cameras, dtype=object)[outcome.readable]
    values, counts = np.unique(truth.astype(str), return_counts=True)
    return str(values[counts.argmax()]) if len(values) else ""


def _findings(outcome: Outcome) -> list[Finding]:
    """Better than chance, where chance is the majority family's share of the scored images: on the manipulated
    half resize is 4 of the 8 operations, so always answering 'resize' scores 0.50 (not 1/4); on all images
    always answering 'unaltered' scores 0.50. (On the unaltered half alone that answer scores 1: no test.)"""
    manipulated = is_manipulated(outcome.manipulations)  # over every image: `subset` leaves out unreadable ones
    rows = []
    for name, images, mask in (("manipulated", "the {n} manipulated test images", manipulated),
                               ("all the", "all {n} test images", np.ones_like(manipulated))):
        if not mask.any():
            continue
        scored = outcome.subset(mask)
        chance = scored.chance()
        estimate = scored.accuracy()
        shifted = estimate.model_copy(update={"value": estimate.value - chance, "low": estimate.low - chance,
                                              "high": estimate.high - chance})
        rows.append(finding("manipulation_head", f"The main network's features tell the manipulation family of {name} "
                            "test images better than chance",
                            f"accuracy of the head on {images.format(n=estimate.n_images)} minus chance ({chance:.2f}: "
                            f"always answering '{majority_family(scored)}')", shifted, "greater"))
    rows.append(finding("manipulation_head", "Training for the manipulation changes camera accuracy",
                        "the head sits on the frozen main network", None, "no_difference",
                        blocked="the head is trained on the frozen main network, so camera accuracy is unchanged by "
                                "construction; a jointly trained head would need its own replicated models"))
    return rows
