"""Which trace families carry a zoo camera's identity: the typed result of benchmarks/zoo_ablation.py and its table."""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from .runs import read_json
from .settings import REPO_ROOT
from .stats import EQUIVALENCE_MARGIN, Estimate

FILE = REPO_ROOT / "benchmarks" / "zoo_ablation.json"
MARGIN = EQUIVALENCE_MARGIN  # a change inside it counts as none (only when its whole interval lies inside)


class AblationRow(BaseModel):
    """One zoo variant: its trace families made equal across cameras, the model's accuracy on its test device and
    the paired change against the unaltered zoo (same scenes, crops and manipulations)."""

    variant: str
    equalized: list[str]
    description: str
    weighted_accuracy: Estimate
    accuracy_unalt: Estimate
    accuracy_manip: Estimate
    change: Estimate | None = Field(None, description="weighted accuracy minus the unaltered zoo's, paired over images")
    change_manip: Estimate | None = Field(None, description="the same on the manipulated half")
    train_minutes: float


class ZooAblation(BaseModel):
    """The whole ablation: how it was run (zoo size, recipe, TTA, machine, commit, minutes) and one row per variant."""

    difficulty: str
    zoo_seed: int
    zoo_settings: dict = Field(description="the zoo profile's settings (frames, test images, megapixels)")
    recipe: dict = Field(description="the training recipe's fields that differ from nothing: arch, epochs, crop, ...")
    tta: str
    seeds: list[int]
    chance: float = Field(description="majority-camera share of the scored test images")
    rows: list[AblationRow]
    commit: str
    cpu: str
    threads: int
    minutes: float


def finding(change: Estimate | None) -> str:
    """What a paired change says about a family: a drop, a rise, no change within MARGIN, or inconclusive."""
    if change is None:
        return "reference"
    if change.high < 0:
        return "carries identity: accuracy drops"
    if change.low > 0:
        return "accuracy rises"
    if -MARGIN <= change.low and change.high <= MARGIN:
        return f"no change beyond {100 * MARGIN:.0f} points"
    return "inconclusive at this scale"


def ablation_table(result: ZooAblation):
    """One row per variant: accuracies, the paired change against the unaltered zoo and what it says."""
    import pandas as pd

    from .tables import fmt, points
    return pd.DataFrame([{"made equal across cameras": row.description, "weighted accuracy": fmt(row.weighted_accuracy),
                          "unaltered": fmt(row.accuracy_unalt), "manipulated": fmt(row.accuracy_manip),
                          "change (points)": points(row.change) if row.change else "–",
                          "change, manipulated half": points(row.change_manip) if row.change_manip else "–",
                          "finding": finding(row.change)} for row in result.rows])


def read_zoo_ablation(path: Path = FILE) -> ZooAblation | None:
    """The committed ablation, or None when it is missing or of another format."""
    stored = read_json(Path(path))
    if not stored:
        return None
    try:
        return ZooAblation.model_validate(stored)
    except ValidationError:
        return None
