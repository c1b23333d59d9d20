"""Chapter 11: using a known balance of the test classes (the challenge's: equally many photos per camera)."""
from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from ..outcomes import Outcome, difference
from ..rebalance import quota_assignment, sinkhorn_rebalance
from .core import Run, cached
from .inputs import stage
from .inference import inference
from .questions import Finding, finding, gated, switched_on


class BalancedResult(BaseModel):
    prior: list[float]  # the class shares the rebalancing assumed
    true_shares: list[float]  # the class shares of the labelled test images (for the reader: is the prior right?)
    plain: Outcome
    sinkhorn: Outcome
    assignment: Outcome
    findings: list[Finding]


def _with_predictions(outcome: Outcome, label: str, rows) -> Outcome:
    return outcome.model_copy(update={"label": label, "predictions": [list(map(int, r)) for r in rows]})


@stage(fields=("open_questions",), needs=("inference",), chapters=("09_open_questions",))
def balanced(run: Run) -> BalancedResult | None:
    """Chapter 11's stage (cached; None when switched off): rebalance each seed's TTA probabilities to equal
    class shares (iterative proportional fitting, and an optimal assignment with equal quotas)."""
    if not switched_on(run, "balanced"):
        return None
    main = inference(run)
    if main is None:  # a read-only run (the report) whose chapter 3 did not run
        return None

    def compute():
        plain = main.tta
        if plain.probabilities is None:
            raise ValueError("the inference stage kept no probabilities: cannot rebalance")
        readable = plain.readable
        prior = np.full(len(plain.classes), 1 / len(plain.classes))
        sink_rows, quota_rows = [], []
        for probabilities in plain.probabilities:
            matrix = np.asarray(probabilities, dtype=float)
            sink = np.full(len(matrix), -1)
            quota = np.full(len(matrix), -1)
            rows = matrix[readable] + 1e-6  # a floor: probabilities were stored to 5 decimals
            rows /= rows.sum(axis=1, keepdims=True)
            sink[readable] = sinkhorn_rebalance(rows, prior)[1]
            quota[readable] = quota_assignment(rows, prior)
            sink_rows.append(sink)
            quota_rows.append(quota)
        sinkhorn = _with_predictions(plain, "rebalanced (iterative proportional fitting)", sink_rows)
        assignment = _with_predictions(plain, "rebalanced (optimal assignment, equal quotas)", quota_rows)
        counts = np.array([sum(c == name for c in plain.cameras) for name in plain.classes], dtype=float)
        findings = [finding("balanced", f"Rebalancing to equal class shares ({label}) raises accuracy when the test "
                            "classes are balanced", f"weighted accuracy, {label} minus plain, same seeds and images",
                            difference(outcome, plain), "greater")
                    for label, outcome in (("iterative proportional fitting", sinkhorn), ("optimal assignment", assignment))]
        return BalancedResult(prior=prior.tolist(), true_shares=(counts / counts.sum()).tolist(), plain=plain,
                              sinkhorn=sinkhorn, assignment=assignment, findings=gated(run, findings))

    return cached(run, "balanced", compute, BalancedResult)
