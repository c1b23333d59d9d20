"""Chapter 14: the metric: weighted against plain accuracy, the challenge's 8 operations one by one, and how
much the ranking of the study's variants changes with the metric."""
from __future__ import annotations

import numpy as np
from pydantic import BaseModel
from scipy.stats import kendalltau

from ..manipulations import CHALLENGE_MANIPULATIONS
from ..outcomes import Outcome
from ..stats import Estimate, paired_difference
from .baseline import baseline
from .core import Run, cached
from .inputs import stage
from .inference import inference
from .questions import Finding, finding, gated, switched_on
from .robustness import robustness
from .study_models import architectures, train_size

METRICS = ["weighted", "plain", "unaltered", "manipulated", *CHALLENGE_MANIPULATIONS]


class MetricRow(BaseModel):
    variant: str
    values: dict[str, Estimate | None]  # metric -> accuracy with its interval


class MetricResult(BaseModel):
    rows: list[MetricRow]
    rank_agreement: dict[str, float | None]  # metric -> Kendall tau between its ranking and the weighted one
    top: dict[str, str]  # metric -> the variant it ranks first
    findings: list[Finding]


def metric_values(outcome: Outcome) -> dict[str, Estimate | None]:
    """Every metric of one outcome, each with its 95% interval."""
    manipulated = outcome.manipulated()
    names = np.asarray(outcome.manipulations, dtype=object)[outcome.readable]
    values = {"weighted": outcome.accuracy(weighted=True), "plain": outcome.accuracy(),
              "unaltered": outcome.accuracy(~manipulated), "manipulated": outcome.accuracy(manipulated)}
    for name in CHALLENGE_MANIPULATIONS:
        values[name] = outcome.accuracy(names == name)
    return values


def weighting_finding(main: Outcome) -> Finding:
    """Weighted minus plain accuracy of the main model; not testable without both halves (e.g. real photos, which
    are all unaltered: the two accuracies are then one number and their difference is zero by construction)."""
    correct, weights, manipulated = main.correct(), main.weights(), main.manipulated()
    scale = len(weights) / weights.sum()  # weighted accuracy = mean of (weight x correct) x scale
    diff = paired_difference(correct * weights * scale, correct, groups=main.series())
    claim = ("The challenge's weighting (unaltered 0.7, manipulated 0.3) scores a model higher than plain accuracy "
             "(unaltered images are easier)")
    test = f"{main.label}: weighted minus plain accuracy, same {diff.n_images} images and seeds"
    missing = "manipulated" if not manipulated.any() else "unaltered" if manipulated.all() else ""
    if missing:
        return finding("metric", claim, test, None, "greater", blocked=f"no {missing} test photo among the "
                       f"{diff.n_images} scored: weighted and plain accuracy are the same number by construction")
    return finding("metric", claim, test, diff, "greater")


def _variants(run: Run) -> dict[str, Outcome]:
    """Every model variant of the run scored on the whole test device (the main model and the study's)."""
    found = {}
    main = inference(run)
    if main:
        found[main.tta.label] = main.tta
    robust = robustness(run)
    if robust:
        found[robust.noaug.label] = robust.noaug
    for study in (train_size(run), architectures(run)):
        for variant in (study.variants if study else []):
            if not variant.is_main and not variant.problems():
                found[variant.outcome.label] = variant.outcome
    base = baseline(run)
    for variant in (base.variants if base else []):
        found[variant.outcome.label] = variant.outcome
    return found


@stage(fields=("open_questions",), needs=("inference", "robustness", "train_size", "architectures", "baseline"),
       chapters=("09_open_questions",))
def metric(run: Run) -> MetricResult | None:
    """Chapter 14's stage (cached; None when switched off). Reads the other chapters' outcomes."""
    if not switched_on(run, "metric"):
        return None

    def compute():
        variants = _variants(run)
        rows = [MetricRow(variant=label, values=metric_values(outcome)) for label, outcome in variants.items()]
        agreement, top = {}, {}
        weighted = [r.values["weighted"].value for r in rows]
        for name in METRICS:
            scores = [None if r.values[name] is None else r.values[name].value for r in rows]
            usable = [i for i, s in enumerate(scores) if s is not None]
            if len(usable) >= 3:
                tau = kendalltau([weighted[i] for i in usable], [scores[i] for i in usable]).statistic
                agreement[name] = None if tau != tau else float(tau)
            else:
                agreement[name] = None
            if usable:
                top[name] = rows[max(usable, key=lambda i: scores[i])].variant
        findings = [weighting_finding(next(iter(variants.values())))]
        return MetricResult(rows=rows, rank_agreement=agreement, top=top, findings=gated(run, findings))

    return cached(run, "metric", compute, MetricResult)
