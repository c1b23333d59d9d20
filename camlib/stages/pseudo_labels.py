"""Chapter 12: pseudo-labelling, a transductive step: confident test predictions become training labels for a
short fine-tune, then the same test images are scored again."""
from __future__ import annotations

from pydantic import BaseModel

from ..infer import predict_records
from ..outcomes import Outcome, difference, outcome_from_predictions
from ..pseudolabel import confident_records, fine_tune
from ..stats import Estimate
from .core import STUDY, Run, cached
from .inputs import stage
from .questions import Finding, finding, gated, switched_on
from .study_models import main_as_study


class PseudoLabelResult(BaseModel):
    threshold: float
    selected: dict[int, int]  # seed -> test photos selected as pseudo-labels
    label_accuracy: dict[int, Estimate | None]  # seed -> how often those pseudo-labels are right
    before: Outcome
    after: Outcome
    findings: list[Finding]


@stage(fields=("open_questions", "pseudo_label_threshold", "pseudo_label_epochs", *STUDY), needs=("study_main",),
       chapters=("09_open_questions",))
def pseudo_labels(run: Run) -> PseudoLabelResult | None:
    """Chapter 12's stage (cached; None when switched off)."""
    if not switched_on(run, "pseudo_labels"):
        return None
    settings, data = run.settings, run.data
    seeds = settings.study_seeds
    tta = settings.tta_config("study")

    def compute():
        before = main_as_study(run)
        selected, accuracy, tables = {}, {}, {}
        for summary in before.models:
            from ..train import load_model
            model = load_model(summary.checkpoint, data.classes)
            predictions = predict_records(model, data.test, data.classes, tta, progress=run.progress,
                                          desc=f"pseudo-labels, seed {summary.seed}")
            pseudo = confident_records(predictions, settings.pseudo_label_threshold)
            selected[summary.seed], accuracy[summary.seed] = len(pseudo.records), pseudo.accuracy
            config = settings.train_config(seed=summary.seed, epochs=settings.pseudo_label_epochs, schedule="one_cycle",
                                           lr=settings.lr / 10, eval_every=10 ** 6)
            result = fine_tune(summary.checkpoint, data.train, pseudo.records, data.classes, config,
                               run.path / "models" / f"pseudo-seed{summary.seed}", progress=run.progress)
            tables[summary.seed] = predict_records(result.model, data.test, data.classes, tta, progress=run.progress,
                                                   desc=f"after pseudo-labels, seed {summary.seed}")
        after = outcome_from_predictions("fine-tuned on pseudo-labels", data.classes, tables, root=data.root)
        findings = [finding("pseudo_labels", "Fine-tuning on confident test predictions (pseudo-labels) raises test accuracy",
                            f"weighted accuracy after minus before, {len(seeds)} seeds, study TTA, the same test photos "
                            "(transductive: they were seen unlabelled)", difference(after, before.outcome), "greater")]
        return PseudoLabelResult(threshold=settings.pseudo_label_threshold, selected=selected, label_accuracy=accuracy,
                                 before=before.outcome, after=after, findings=gated(run, findings))

    return cached(run, "pseudo_labels", compute, PseudoLabelResult)
