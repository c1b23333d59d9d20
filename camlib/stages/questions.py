"""What the chapters on the original study's open questions share: the switch, the verdicted figure of merit."""
from __future__ import annotations

from pydantic import BaseModel

from ..stats import Direction, Estimate, Verdict, verdict

from ..settings import DEFAULT_QUESTIONS


class Finding(BaseModel):
    """One question's figure of merit: a difference with its 95% interval and the shared rule's verdict."""

    question: str
    claim: str  # what is tested, as a statement
    test: str  # what is compared, on which images
    difference: Estimate | None
    direction: Direction
    verdict: Verdict
    note: str = ""


def finding(question: str, claim: str, test: str, difference: Estimate | None, direction: Direction,
            note: str = "", blocked: str = "") -> Finding:
    if blocked:
        return Finding(question=question, claim=claim, test=test, difference=difference, direction=direction,
                       verdict="not testable", note=blocked)
    return Finding(question=question, claim=claim, test=test, difference=difference, direction=direction,
                   verdict=verdict(difference, direction), note=note)


def main_problems(run) -> str:
    """Why the main model is not evidence ('' when every seed learned): a finding that rests on it is not testable."""
    from .training import training
    trained = training(run)
    problems = [m.problem() for m in (trained.models if trained else []) if m.problem()]
    return "; ".join(problems[:2])


def switched_on(run, name: str) -> bool:
    return name in run.settings.open_questions


def switch_hint(name: str) -> str:
    """How to turn a chapter on."""
    return (f"This chapter was switched off. Run it with `./run_all.sh -p open_questions {','.join(DEFAULT_QUESTIONS + [name])}` "
            f"(or add `{name}` to the list you pass).")


def gated(run, findings: list[Finding]) -> list[Finding]:
    """The findings, each made 'not testable' (saying why) when the main model they rest on did not learn."""
    problem = main_problems(run)
    if not problem:
        return findings
    return [f.model_copy(update={"verdict": "not testable", "note": problem}) for f in findings]
