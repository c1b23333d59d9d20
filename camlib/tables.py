"""The report's tables: readable headers, no index column, every accuracy with its 95% interval."""
from __future__ import annotations

import pandas as pd

from .stats import Estimate


def fmt(estimate: Estimate | None, digits: int = 3) -> str:
    """'0.912 [0.889, 0.933]' (or an en dash when missing)."""
    if estimate is None:
        return "–"
    return estimate.text(digits)


def points(estimate: Estimate | None) -> str:
    """A difference in accuracy points with its interval: '+3.2 [+0.8, +5.6]'."""
    return "–" if estimate is None else estimate.text(percent=True)


def styled(table: pd.DataFrame, caption: str | None = None):
    """A pandas Styler without the index column, with an optional caption."""
    style = table.style.hide(axis="index")
    if caption:
        style = style.set_caption(caption)
    return style.set_table_styles([{"selector": "caption", "props": "caption-side: top; text-align: left; font-weight: bold;"}])


def scores_table(rows: list, label_header: str = "model") -> pd.DataFrame:
    """One row per Scores: weighted, unaltered and manipulated accuracy (95% intervals), images and seeds."""
    return pd.DataFrame([{label_header: s.label, "weighted accuracy": fmt(s.weighted_accuracy),
                          "unaltered": fmt(s.accuracy_unalt), "manipulated": fmt(s.accuracy_manip),
                          "test images": s.n_images, "seeds": len(s.seeds),
                          "std across seeds": f"{s.weighted_accuracy_seed_std:.3f}" if len(s.seeds) > 1 else "–"}
                         for s in rows if s is not None])


def per_class_table(rows: list, label_header: str = "model") -> pd.DataFrame:
    """One row per Scores, one column per camera: accuracy with its 95% interval."""
    return pd.DataFrame([{label_header: s.label, **{camera: fmt(e, 2) for camera, e in s.per_class.items()}}
                         for s in rows if s is not None])


def per_seed_table(scores) -> pd.DataFrame:
    return pd.DataFrame([{"training seed": s.seed, "weighted accuracy": f"{s.weighted_accuracy:.3f}",
                          "unaltered": "–" if s.accuracy_unalt is None else f"{s.accuracy_unalt:.3f}",
                          "manipulated": "–" if s.accuracy_manip is None else f"{s.accuracy_manip:.3f}"}
                         for s in scores.per_seed])


def models_table(models) -> pd.DataFrame:
    """Every trained model: what it is, how long it trained, where its loss ended, whether it learned/plateaued."""
    return pd.DataFrame([{
        "model": m.label, "seed": m.seed, "network": f"{m.arch} ({m.weights})",
        "images per camera": "all" if m.images_per_class is None else m.images_per_class, "epochs": m.epochs,
        "steps": m.steps, "final training loss": f"{m.final_train_loss:.2f}",
        "learned": "yes" if m.learned else "NO (not evidence)",
        "gain, last cycle or 2x epochs": "–" if m.cycle_gain is None else f"{100 * m.cycle_gain:+.1f} points",
        "plateaued": {None: "not measured", True: "yes", False: "no"}[m.plateaued],
        "minutes": f"{m.train_minutes:.1f}"} for m in models])


def per_manipulation_table(rows) -> pd.DataFrame:
    from .manipulations import CHALLENGE_MANIPULATIONS
    names = {"unalt": "unaltered"} | {k: _operation(k, v) for k, v in CHALLENGE_MANIPULATIONS.items()}
    return pd.DataFrame([{"test images": names.get(r.manipulation, r.manipulation), "accuracy": fmt(r.accuracy),
                          "images": r.accuracy.n_images} for r in rows])


def _operation(name, spec) -> str:
    family, value = spec
    return {"jpeg": f"JPEG quality {value}", "gamma": f"gamma {value}", "resize": f"bicubic resize x{value}"}[family]


def robustness_table(rows, training_ranges: dict) -> pd.DataFrame:
    table = pd.DataFrame([{"family": r.family, "value": r.value, "variant": r.variant, "accuracy": fmt(r.accuracy)}
                          for r in rows if r.family != "none"])
    if table.empty:
        return table
    wide = table.pivot_table(index=["family", "value"], columns="variant", values="accuracy", aggfunc="first").reset_index()

    def inside(row):
        bounds = training_ranges.get(row.family)
        return "yes" if bounds and bounds[0] <= row.value <= bounds[1] else ""

    wide.insert(2, "inside the training range", wide.apply(inside, axis=1))
    wide["value"] = wide.value.map(lambda v: f"{v:g}")
    wide.columns.name = None
    return wide


def crop_table(rows) -> pd.DataFrame:
    return pd.DataFrame([{"centre crop (px)": r.crop, "accuracy": fmt(r.accuracy), "images": r.accuracy.n_images}
                         for r in sorted(rows, key=lambda r: r.crop)])


def study_table(rows) -> pd.DataFrame:
    return pd.DataFrame([{"model": r.label, "weighted accuracy": fmt(r.scores.weighted_accuracy),
                          "unaltered": fmt(r.scores.accuracy_unalt), "manipulated": fmt(r.scores.accuracy_manip),
                          "seeds": len(r.scores.seeds), "evidence?": "yes" if not r.problems else "NO: " + r.problems[0]}
                         for r in rows])


def claims_table(claims) -> pd.DataFrame:
    """The original study's claims (source 'seed'): the headline's verdicts."""
    return pd.DataFrame([{"topic": c.topic, "the original study": c.original, "what this run compares": c.test,
                          "scored with": c.tta or "–", "difference, points [95% interval]": c.evidence() or "–",
                          "verdict": c.verdict, "note": c.note} for c in claims if c.source == "seed"])


def own_claims_table(claims, questions) -> pd.DataFrame:
    """camlib's own hypotheses: its claims (source 'camlib') and the findings of the open-question chapters that ran."""
    rows = [{"topic": c.topic, "camlib's hypothesis": c.original, "what this run compares": c.test,
             "scored with": c.tta or "–", "difference, points [95% interval]": c.evidence() or "–", "verdict": c.verdict,
             "note": c.note} for c in claims if c.source == "camlib"]
    rows += [{"topic": q.title, "camlib's hypothesis": f.claim, "what this run compares": f.test, "scored with": "–",
              "difference, points [95% interval]": points(f.difference), "verdict": f.verdict, "note": f.note}
             for q in questions if q.ran for f in q.findings]
    return pd.DataFrame(rows)


def findings_table(findings) -> pd.DataFrame:
    return pd.DataFrame([{"question": f.question.replace("_", " "), "tested": f.claim, "compared": f.test,
                          "difference, points [95% interval]": points(f.difference), "verdict": f.verdict, "note": f.note}
                         for f in findings])


def rank_table(result) -> pd.DataFrame:
    return pd.DataFrame([{"metric": name, "ranks first": result.top.get(name, "–"),
                          "agreement with the weighted ranking (Kendall tau)": "–" if tau is None else f"{tau:+.2f}"}
                         for name, tau in result.rank_agreement.items()])


def departures_table(rows) -> pd.DataFrame:
    """Where the run departs from the seed: what, the seed's, this run's, why, the measured effect."""
    return pd.DataFrame([{"": r.what, "the seed": r.seed, "this run": r.this_run, "why": r.why, "measured effect": r.effect}
                         for r in rows])


def diagnosis_table(diagnosis: dict) -> pd.DataFrame:
    """The robustness diagnosis: in-range drops (points, 95% paired interval) per training variant and scoring."""
    def drop(row, key):
        value = row.get(key)
        return "–" if value is None else f"{value['drop'][0]:+.1f} [{value['drop'][1]:+.1f}, {value['drop'][2]:+.1f}]"
    return pd.DataFrame([{"variant": r["change"], "epochs": r["epochs"], "weighted (main TTA)": f"{r['weighted_accuracy']:.3f}",
                          "manipulated half": f"{r['manipulated_half']:.3f}",
                          "JPEG 70, one crop": drop(r, "centre crop: jpeg70"), "JPEG 70, main TTA": drop(r, "main TTA: jpeg70"),
                          "JPEG 70 shifted 4 px, main TTA": drop(r, "main TTA: jpeg70 shifted 4 px"),
                          "resize 2, one crop": drop(r, "centre crop: resize2"), "resize 2, main TTA": drop(r, "main TTA: resize2"),
                          "resize 0.5, main TTA": drop(r, "main TTA: resize0.5"), "gamma 0.8, main TTA": drop(r, "main TTA: gamma0.8")}
                         for r in diagnosis["rows"]])
