"""Chapter 8: the classical baseline (residual statistics + gradient boosting), plain and augmented."""
from __future__ import annotations

from pydantic import BaseModel

from .. import baseline as residual
from ..prnu import fit_prnu, predict_prnu
from ..qtable import fit_qtables, predict_qtables
from ..outcomes import Outcome, outcome_from_predictions
from .core import Run, cached
from .inputs import stage

LABELS = {("qtable", "plain"): "JPEG quantisation-table lookup (file header)",
          ("prnu", "plain"): "PRNU correlation with the training devices' fingerprints",
          ("seed", "plain"): "residual statistics (the seed's features)",
          ("seed", "augmented"): "residual statistics, augmented training",
          ("extended", "plain"): "residual statistics + CFA-phase and JPEG-block features",
          ("extended", "augmented"): "residual statistics + CFA/JPEG features, augmented training"}


class BaselineVariant(BaseModel):
    feature_set: str  # seed | extended (residual statistics); qtable | prnu (real JPEG photos only)
    training: str  # plain | augmented (the CNN's augmentation applied to the training crops)
    n_features: int
    outcome: Outcome


class BaselineResult(BaseModel):
    crop: int
    crops_per_image: int
    seed: int
    skipped: list[str]
    variants: list[BaselineVariant]

    def variant(self, feature_set: str, training: str) -> BaselineVariant | None:
        return next((v for v in self.variants if v.feature_set == feature_set and v.training == training), None)


@stage(fields=("baseline_crop", "baseline_crops_per_image", "baseline_max_iter", "seed", "layout"),
       needs=("augmentation",), chapters=("08_baseline",))
def baseline(run: Run) -> BaselineResult:
    """Chapter 8's stage (cached): fit on the training device, score the same test images as the CNN."""
    settings, data = run.settings, run.data
    augment = settings.augment_config()
    augment = augment if augment.manipulations_on and augment.manipulation_prob > 0 else None

    def compute():
        tables = residual.evaluate_baseline(data.train, data.test, data.classes, settings.baseline_crop,
                                            settings.baseline_crops_per_image, settings.seed, settings.baseline_max_iter,
                                            augment=augment, progress=run.progress)
        if settings.layout != "zoo":  # traces a real photo's file and sensor carry (the zoo's test crops are TIFFs)
            tables[("qtable", "plain")] = predict_qtables(fit_qtables(data.train, data.classes), data.test)
            prnu = fit_prnu(data.train)
            tables[("prnu", "plain")] = predict_prnu(prnu.fingerprints, prnu.device_to_camera, data.classes, data.test, prnu.crop)
            tables["n_features"].update(qtable=0, prnu=0)
        variants = [BaselineVariant(feature_set=fs, training=tr, n_features=tables["n_features"][fs],
                                    outcome=outcome_from_predictions(LABELS[(fs, tr)], data.classes, {settings.seed: table},
                                                                     root=data.root))
                    for (fs, tr), table in ((k, v) for k, v in tables.items() if isinstance(k, tuple))]
        return BaselineResult(crop=settings.baseline_crop, crops_per_image=settings.baseline_crops_per_image,
                              seed=settings.seed, skipped=tables["skipped"], variants=variants)

    return cached(run, "baseline", compute, BaselineResult)
