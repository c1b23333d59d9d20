"""Chapter 13: what the network looks at: input-gradient saliency beside the noise residual, and the accuracy
from flat against textured crops of the same images."""
from __future__ import annotations

import numpy as np
import torch
from pydantic import BaseModel
from tqdm import tqdm

from ..explore import noise_residual
from ..infer import prediction_row, read_test_image, to_tensor, view_probabilities
from ..outcomes import Outcome, difference, outcome_from_predictions
from ..saliency import flat_and_textured_boxes, gradient_saliency
from .core import Run, cached
from .inputs import stage
from .questions import Finding, finding, gated, switched_on
from .training import main_models

EXAMPLES = 4  # test crops shown with their saliency


class SaliencyExample(BaseModel):
    camera: str
    predicted: str
    crop: list  # HxWx3 uint8 as nested lists (a crop too small to carry a scene)
    saliency: list  # HxW float, normalised to [0, 1]
    residual: list  # HxW float: |noise residual| summed over channels, normalised to [0, 1]


class SaliencyResult(BaseModel):
    crops_per_image: int
    examples: list[SaliencyExample]
    flat: Outcome
    textured: Outcome
    findings: list[Finding]


def _normalised(values: np.ndarray) -> list:
    values = values - values.min()
    return np.round(values / max(values.max(), 1e-12), 3).tolist()


@stage(fields=("open_questions", "saliency_crops", "study_replicates", "crop"), needs=("training",),
       chapters=("09_open_questions",))
def saliency(run: Run) -> SaliencyResult | None:
    """Chapter 13's stage (cached; None when switched off)."""
    if not switched_on(run, "saliency"):
        return None
    settings, data = run.settings, run.data
    seeds, crop, n = settings.study_seeds, settings.crop, settings.saliency_crops
    records = data.test_unaltered

    def compute():
        models = main_models(run, seeds)
        tables = {"flat": {s: [] for s in seeds}, "textured": {s: [] for s in seeds}}
        examples = []
        for record in tqdm(records, desc="flat and textured crops", disable=not run.progress, leave=False):
            image, error = read_test_image(record)
            boxes = flat_and_textured_boxes(image, crop, n) if image is not None and min(image.shape[:2]) >= 2 * crop else None
            for kind in ("flat", "textured"):
                views = None
                if boxes is not None:
                    chosen = boxes[0] if kind == "flat" else boxes[1]
                    views = to_tensor(np.stack([image[t:t + s, l:l + s] for t, l, s in chosen]))
                for seed, model in models.items():
                    probabilities = None if views is None else view_probabilities(model, views, 32)
                    tables[kind][seed].append(prediction_row(record, data.classes, probabilities,
                                                             error or ("" if views is not None else "too small")))
            if len(examples) < EXAMPLES and image is not None and record.camera not in {e.camera for e in examples}:
                examples.append(_example(models[seeds[0]], image, record.camera, data.classes, crop))
        import pandas as pd
        outcomes = {kind: outcome_from_predictions(f"{n} {kind} crops per image", data.classes,
                                                   {s: pd.DataFrame(rows) for s, rows in by_seed.items()}, root=data.root)
                    for kind, by_seed in tables.items()}
        diff = difference(outcomes["flat"], outcomes["textured"], weighted=False)
        findings = [finding("saliency", "The camera traces are found in flat regions as well as in textured ones",
                            f"accuracy from the {n} flattest minus the {n} most textured {crop} px crops of the same "
                            f"{diff.n_images} unaltered test images", diff, "no_difference")]
        return SaliencyResult(crops_per_image=n, examples=examples, flat=outcomes["flat"], textured=outcomes["textured"],
                              findings=gated(run, findings))

    return cached(run, "saliency", compute, SaliencyResult)


def _example(model, image: np.ndarray, camera: str, classes, crop: int) -> SaliencyExample:
    top, left = (image.shape[0] - crop) // 2, (image.shape[1] - crop) // 2
    patch = np.ascontiguousarray(image[top:top + crop, left:left + crop])
    with torch.no_grad():
        predicted = int(model(to_tensor(patch[None])).argmax(1))
    maps = gradient_saliency(model, patch[None], np.array([classes.index(camera)]))[0]
    residual = np.abs(noise_residual(patch)).sum(axis=2)
    return SaliencyExample(camera=camera, predicted=classes[predicted], crop=patch.tolist(), saliency=_normalised(maps),
                           residual=_normalised(residual))
