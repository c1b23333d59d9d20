"""Chapter 10: the last checkpoint, the mean of the last k epochs' weights (batch norm re-estimated), the ensemble."""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from ..infer import predict_records
from ..outcomes import Outcome, difference, outcome_from_predictions
from ..train import average_checkpoints, load_model, training_crops
from .core import STUDY, TTA, Run, cached, model_job
from .inputs import stage
from .inference import inference
from .questions import Finding, finding, gated, switched_on
from .study_models import main_as_study
from .training import main_configs


class AveragingResult(BaseModel):
    average_epochs: int
    last: Outcome  # the last checkpoint of each study seed, study TTA
    averaged: Outcome | None  # the mean of the last k epochs' weights, same TTA (None: epochs not kept)
    seeds_mean: Outcome  # every seed of the main model with the main TTA
    ensemble: Outcome | None  # the seeds' mean probabilities as one prediction, main TTA
    findings: list[Finding]


@stage(fields=("open_questions", "average_epochs", *STUDY, *TTA), needs=("training", "study_main", "inference"),
       chapters=("09_open_questions",))
def averaging(run: Run) -> AveragingResult | None:
    """Chapter 10's stage (cached; None when switched off)."""
    if not switched_on(run, "averaging"):
        return None
    settings, data = run.settings, run.data
    seeds, k = settings.study_seeds, settings.average_epochs

    def compute():
        last = main_as_study(run).outcome
        tables, missing = {}, []
        for seed in seeds:
            folder = run.path / "models" / f"main-seed{seed}"
            epochs = [folder / f"epoch{e}.pt" for e in range(settings.epochs - k + 1, settings.epochs + 1)]
            if not all(Path(p).exists() for p in epochs) or settings.epochs < k:
                missing.append(seed)
                continue
            model = load_model(folder / "final.pt", data.classes)
            job = model_job(run, "main", main_configs(run)[seed])
            average_checkpoints(model, epochs, training_crops(job.records, job.classes, job.config))
            tables[seed] = predict_records(model.eval(), data.test, data.classes, settings.tta_config("study"),
                                           progress=run.progress, desc=f"averaged weights, seed {seed}")
        averaged = outcome_from_predictions(f"mean of the last {k} epochs' weights", data.classes, tables, root=data.root) \
            if tables and not missing else None
        main = inference(run).tta
        ensemble = main.ensemble() if main.probabilities is not None and len(main.seeds) > 1 else None
        findings = [finding("averaging", f"Averaging the weights of the last {k} epochs beats the last checkpoint",
                            f"weighted accuracy, averaged minus last weights, {len(seeds)} seeds, study TTA",
                            difference(averaged, last) if averaged else None, "greater",
                            blocked="" if averaged else f"the last {k} epochs' weights were not kept (seeds {missing})")]
        if ensemble is not None:
            single = main  # each seed on its own, same images and TTA
            diff = difference(ensemble, single, paired_seeds=False)
            findings.append(finding("averaging", "An ensemble of the seed replicates beats a single replicate",
                                    f"weighted accuracy, ensemble of {len(main.seeds)} seeds minus their mean, main TTA",
                                    diff, "greater"))
        return AveragingResult(average_epochs=k, last=last, averaged=averaged, seeds_mean=main, ensemble=ensemble,
                               findings=gated(run, findings))

    return cached(run, "averaging", compute, AveragingResult)
