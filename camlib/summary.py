"""metrics.json: every number of the report, read from the stages' typed results, with its 95% interval."""
from __future__ import annotations

from typing import Final, Literal

import numpy as np

from pydantic import BaseModel, Field

from . import manipulations
from .claims import Claim, all_claims
from .datasets import CameraSplit
from .convergence import Convergence, read_convergence
from .departures import Departure, departures, read_diagnosis
from .metrics import is_manipulated
from .outcomes import Scores
from .runs import read_json, write_json
from .stages import (ModelSummary, Run, architectures, baseline, crop_size, device_folds, device_gap, exploration, inference,
                     label_noise, robustness, schedules, train_size, training)
from .stages.exploration import SceneCount
from .stages.questions import Finding
from .stats import EQUIVALENCE_MARGIN, Estimate

SCHEMA_VERSION: Final = "2"


class DataFacts(BaseModel):
    """What the run was measured on."""

    photos: list[str] = Field([], description="real photos: every file's name (relative to the data folder), so the "
                               "subset can be rebuilt from its source; empty for the simulated zoo")
    name: str = Field(description="the data folder, relative to the repository (or its name)")
    simulated: bool = Field(description="true for the simulated camera zoo")
    layout: str
    classes: list[str]
    n_train_images: int
    n_test_images: int = Field(description="labelled test images (the scored ones)")
    chance: float | None = Field(None, description="chance level of the labelled test images: the share of their most "
                                 "frequent camera (the accuracy of always answering it)")
    n_test_unlabelled: int
    test_is_holdout: bool = Field(description="no labelled test device: scored on held-out training-device images")
    split_by_device: bool = Field(description="train and test photos come from different devices of each camera")
    n_bad_files: int
    excluded_cameras: dict[str, int] = Field(description="cameras left out for having too few photos: count")
    camera_splits: dict[str, CameraSplit] = Field({}, description="each camera's split: 'unseen device' (tested on "
                                                  "devices it was not trained on) or 'random' (a random part of its photos)")
    scenes: list[SceneCount] = Field([], description="training and labelled test photos per camera, device and scene "
                                     "type (flatfield, natural, or unknown when no folder names it)")
    n_test_series: int | None = Field(None, description="independent photo series among the labelled test images: "
                                      "the unit every interval resamples (the flat fields of one device are one)")
    qtables_shared: dict[str, tuple[int, int]] = Field({}, description="cameras tested on an unseen device: test photos "
                                                       "whose JPEG quantisation tables occur in the camera's training photos, of n")

    def scene_types(self) -> list[str]:
        """The scene types present: flatfield and natural first (always, for a stable table), others, unknown last."""
        found = {c.scene for c in self.scenes}
        others = sorted(found - {"flatfield", "natural", "unknown"})
        return ["flatfield", "natural", *others] + (["unknown"] if "unknown" in found else [])

    def scene_rows(self) -> list[dict]:
        """One row per side, camera and device with its count of each scene type (training side first)."""
        rows: dict[tuple, dict] = {}
        for c in self.scenes:
            row = rows.setdefault((c.split != "train", c.camera, c.device), {
                "split": c.split, "camera": c.camera, "device": c.device, **dict.fromkeys(self.scene_types(), 0)})
            row[c.scene] = row.get(c.scene, 0) + c.count
        return [rows[key] for key in sorted(rows)]

    def scene_total(self, scene: str) -> int:
        return sum(c.count for c in self.scenes if c.scene == scene)


class PointRow(BaseModel):
    """Accuracy of one model variant after one manipulation (robustness study)."""

    family: str
    value: float
    variant: str
    accuracy: Estimate


class CropRow(BaseModel):
    crop: int
    accuracy: Estimate


class StudyRow(BaseModel):
    """One study model (training-set size or architecture), pooled over its seeds."""

    label: str
    arch: str
    weights: str
    images_per_class: int | None
    is_main: bool
    label_noise: float | None = None
    schedule: str | None = None
    scores: Scores
    problems: list[str] = Field(description="why a model of this variant is not evidence ('' when it is)")


class DeviceGapRow(BaseModel):
    """The main model on held-out photos of its training device and on the second device's unaltered photos."""

    same_device: Estimate
    other_device: Estimate
    gap: Estimate = Field(description="same minus other device, unpaired (Newcombe)")
    center_crop: int


class SplitRow(BaseModel):
    """One model's accuracy on the cameras of one kind of split (real photos with both kinds)."""

    model: str
    split: CameraSplit
    cameras: list[str]
    accuracy: Estimate


def split_rows(camera_splits: dict, outcomes) -> list[SplitRow]:
    """Each outcome's accuracy on the cameras tested on an unseen device and on those split at random (pooled over
    its seeds, intervals over photo series); empty unless the run has cameras of both kinds."""
    kinds = sorted(set(camera_splits.values()), reverse=True)  # "unseen device" first
    if len(kinds) < 2:
        return []
    rows = []
    for outcome in outcomes:
        for kind in kinds:
            cameras = sorted(c for c, k in camera_splits.items() if k == kind)
            accuracy = outcome.accuracy(np.isin(np.asarray(outcome.cameras, dtype=object)[outcome.readable], cameras))
            if accuracy is not None:
                rows.append(SplitRow(model=outcome.label, split=kind, cameras=cameras, accuracy=accuracy))
    return rows


class ConfusionPair(BaseModel):
    """A frequent confusion of the main model: mean count over seeds out of the true camera's test images."""

    true: str
    predicted: str
    count: float
    n_images: int


class InsideRangeRow(BaseModel):
    """One manipulation setting inside the augmented model's training range against unaltered, same images."""

    family: str
    value: float
    label: str
    difference: Estimate


class ManipulationRow(BaseModel):
    """Accuracy of the main model (TTA) on the test images of one challenge operation."""

    manipulation: str
    accuracy: Estimate


class QuestionSummary(BaseModel):
    """One open question's chapter: its findings (verdicts) and its figures of merit."""

    name: str
    title: str
    ran: bool
    findings: list[Finding] = []
    figures: dict[str, Estimate | float | str | None] = {}


class Metrics(BaseModel):
    """Every number of the report. Accuracies are fractions with 95% intervals (`Estimate`)."""

    schema_version: Literal["2"] = SCHEMA_VERSION
    data: DataFacts
    settings: dict = Field(description="every parameter of the run (camlib.settings.Settings)")
    environment: dict = Field(description="versions, hardware, git commit")
    models: list[ModelSummary] = Field(description="every trained model: recipe, length, final loss, learned, plateaued")
    main: Scores | None = Field(None, description="the main model with the run's TTA, pooled over its seeds")
    main_crops_only: Scores | None = Field(None, description="the same crops without the TTA's flips/rotations")
    main_single_crop: Scores | None = Field(None, description="one centre crop per test image")
    main_ensemble: Scores | None = Field(None, description="the seeds' mean probabilities as one prediction")
    noaug: Scores | None = Field(None, description="the same recipe without augmentation, same TTA")
    convergence: Convergence | None = Field(None, description="the main recipe trained twice as long "
                                            "(benchmarks/convergence.py), when measured for this run")
    device_fold: Scores | None = Field(None, description="real photos split by device: the main recipe trained on the "
                                       "test devices and scored on the training devices (the swapped fold)")
    device_fold_ensemble: Scores | None = Field(None, description="the swapped fold's seeds' mean probabilities as one prediction")
    seed_std_weighted_accuracy: float | None = Field(None, description="std of the main model's weighted accuracy across seeds")
    per_manipulation: list[ManipulationRow] = []
    baselines: list[Scores] = []
    by_split: list[SplitRow] = Field([], description="real photos with both kinds of split: each model on the cameras "
                                     "tested on an unseen device and on those split at random")
    main_confusions: list[ConfusionPair] = []
    robustness: list[PointRow] = []
    robustness_inside_ranges: list[InsideRangeRow] = []
    crop_size: list[CropRow] = []
    train_size: list[StudyRow] = []
    architectures: list[StudyRow] = []
    label_noise: list[StudyRow] = []
    schedules: list[StudyRow] = []
    device_gap: DeviceGapRow | None = None
    departures: list[Departure] = Field([], description="where this run departs from the seed's recipe, why, and the effect")
    robustness_diagnosis: dict | None = Field(None, description="benchmarks/robustness_diagnosis.json (simulated zoo only): "
                                              "the in-range drops under each recipe, training length and scoring")
    equivalence_margin: float = Field(EQUIVALENCE_MARGIN, description="the margin (accuracy as a fraction) inside which "
                                      "the whole 95% interval of a claim of no change must lie to support it")
    claims: list[Claim] = []
    open_questions: list[QuestionSummary] = []
    stage_seconds: dict[str, float] = Field({}, description="compute seconds of each stage")
    notebook_seconds: dict[str, float] = Field({}, description="wall seconds of each executed notebook")

    def split_table(self) -> list[dict]:
        """One row per model of `by_split`: {"model": label, split kind: Estimate}, in the order they were added."""
        rows: dict[str, dict] = {}
        for r in self.by_split:
            rows.setdefault(r.model, {"model": r.model})[r.split] = r.accuracy
        return list(rows.values())

    def split_cameras(self, kind: str) -> list[str]:
        return sorted(camera for camera, split in self.data.camera_splits.items() if split == kind)


def per_manipulation(outcome) -> list[ManipulationRow]:
    """The main outcome split by the challenge's operations (and unaltered), each with its interval."""
    rows = []
    names = ["unalt", *manipulations.CHALLENGE_MANIPULATIONS]
    present = set(outcome.manipulations)
    for name in names + sorted(present - set(names)):
        mask = [m == name for m in outcome.manipulations]
        if any(mask):
            rows.append(ManipulationRow(manipulation=name, accuracy=outcome.subset(mask).accuracy()))
    return rows


def top_confusions(outcome, count: int = 3, minimum: float = 1.0) -> list[ConfusionPair]:
    """The `count` largest off-diagonal cells of the mean confusion matrix (at least `minimum` images)."""
    table = outcome.confusion()
    totals = {c: sum(1 for camera in outcome.cameras if camera == c) for c in outcome.classes}
    cells = [(table.loc[t, p], t, p) for t in table.index for p in table.columns if t != p and table.loc[t, p] >= minimum]
    return [ConfusionPair(true=t, predicted=p, count=float(v), n_images=totals[t]) for v, t, p in sorted(cells, reverse=True)[:count]]


def inside_range_rows(robust, main_flags: dict[int, str] | None = None) -> list[InsideRangeRow]:
    """Each manipulation setting inside a training range (identities excluded) minus unaltered, augmented model
    (without the seeds `main_flags` marks as not evidence)."""
    from .claims import IDENTITIES
    from .outcomes import difference
    from .stages.robustness import UNALTERED, WITH
    reference = robust.point(*UNALTERED, WITH)
    reference = reference.evidence(main_flags or {}) if reference is not None else None
    rows = []
    for point in robust.points:
        bounds = robust.training_ranges.get(point.family)
        if point.variant != WITH or not bounds or reference is None or (point.family, point.value) in IDENTITIES:
            continue
        if robust.trained_on(point.family, point.value):
            label = {"jpeg": "JPEG quality {:g}", "gamma": "gamma {:g}", "resize": "resize x{:g}"}[point.family].format(point.value)
            rows.append(InsideRangeRow(family=point.family, value=point.value, label=label,
                                       difference=difference(point.outcome.evidence(main_flags or {}), reference,
                                                             weighted=False)))
    return rows


def flags(models) -> dict[int, str]:
    """{seed: why its model is not evidence ('' when it is)}: the seeds `Outcome.evidence` leaves out of pooled figures."""
    return {m.seed: m.problem() for m in models}


def unconverged(claims: list[Claim], convergence: Convergence) -> list[Claim]:
    """Claims on the manipulated images (robustness of the augmented model, augmentation) become not testable when
    the main model trained twice as long still gains there: such a model is not evidence for them."""
    gain = convergence.gain_manipulated
    if gain is None or gain.low <= 0:
        return claims
    reason = (f"the main model still gains on the manipulated half when trained {convergence.epochs_longer} instead of "
              f"{convergence.epochs} epochs: {gain.text(percent=True)} points, so it is not evidence for this claim")
    return [c.model_copy(update={"verdict": "not testable", "note": reason})
            if c.source == "seed" and (c.topic == "augmentation" or (c.topic == "robustness" and c.test.startswith("augmented")))
            and c.verdict != "not testable" else c for c in claims]


def _in_run(path: str, run_path) -> str:
    """A file of the run named relative to the run folder (never this machine's absolute path)."""
    from pathlib import Path
    try:
        return str(Path(path).resolve().relative_to(Path(run_path).resolve()))
    except ValueError:
        return Path(path).name


def study_rows(result) -> list[StudyRow]:
    if result is None:
        return []
    return [StudyRow(label=v.label, arch=v.arch, weights=v.weights, images_per_class=v.images_per_class, is_main=v.is_main,
                     label_noise=v.label_noise, schedule=v.schedule, scores=v.outcome.evidence(flags(v.models)).scores(),
                     problems=v.problems()) for v in result.variants]


def collect(run: Run) -> Metrics:
    """Metrics of a run from its stored stage results (nothing is computed: a stage that did not run is absent)."""
    run = Run(run.settings, progress=False, read_only=True)
    explored = exploration(run)
    trained, inferred, robust = training(run), inference(run), robustness(run)
    folds = device_folds(run)
    crops, sizes, archs, base = crop_size(run), train_size(run), architectures(run), baseline(run)
    noise, scheds, gap = label_noise(run), schedules(run), device_gap(run)
    data = run.data
    facts = DataFacts(name=explored.data_name if explored else str(data.root), simulated=run.settings.layout == "zoo",
                      layout=run.settings.layout, classes=data.classes, n_train_images=len(data.train),
                      n_test_images=len(data.test), n_test_unlabelled=len(data.test_unlabelled), chance=run.chance,
                      test_is_holdout=data.test_is_holdout, split_by_device=data.split_by_device,
                      n_bad_files=0 if data.bad_files is None else len(data.bad_files),
                      excluded_cameras=data.excluded_cameras, camera_splits=data.camera_splits,
                      scenes=explored.scenes if explored else [], n_test_series=explored.n_test_series if explored else None,
                      qtables_shared=explored.qtables_shared if explored else {},
                      photos=[] if run.settings.layout == "zoo" else sorted(r.name for r in explored.images) if explored else [])
    models = list(trained.models) if trained else []
    if robust:
        models += robust.noaug_models
    if folds:
        models += folds.models
    convergence = read_convergence(run.path, run.settings)
    if convergence:  # the one-cycle main models' plateau check
        from .convergence import no_significant_gain
        checks = {"main": [convergence.gain, convergence.gain_manipulated],
                  "noaug": [convergence.noaug_gain, convergence.noaug_gain_manipulated]}
        models = [m.model_copy(update={"cycle_gain": checks[m.role][0].value,  # type: ignore[union-attr]  # checked below
                                       "plateaued": no_significant_gain([g for g in checks[m.role] if g])})
                  if m.role in checks and checks[m.role][0] is not None else m for m in models]
    for study in (sizes, archs, noise, scheds):
        for variant in (study.variants if study else []):
            models += [m for m in variant.models if not variant.is_main]
    from .stages.exploration import display_name
    shown = {**run.settings.to_dict(), "run_dir": display_name(run.path),  # never the machine's absolute paths
             "data_dir": display_name(run.settings.data_dir) if run.settings.data_dir else ""}
    models = [m.model_copy(update={"checkpoint": _in_run(m.checkpoint, run.path)}) for m in models]
    metrics = Metrics(data=facts, settings=shown, environment=read_json(run.path / "environment.json", {}),
                      models=models, convergence=convergence, stage_seconds=read_json(run.path / "stage_seconds.json", {}),
                      notebook_seconds=read_json(run.path / "notebook_seconds.json", {}))
    # Pooled figures use only the seeds whose models are evidence; each Scores names the ones left out and why.
    main_flags = flags(trained.models) if trained else {}
    if inferred:
        tta = inferred.tta.evidence(main_flags)
        main = tta.scores()
        metrics.main, metrics.seed_std_weighted_accuracy = main, main.weighted_accuracy_seed_std
        metrics.main_crops_only = inferred.crops_only.evidence(main_flags).scores() if inferred.crops_only else None
        metrics.main_single_crop = inferred.single_crop.evidence(main_flags).scores()
        if tta.probabilities is not None and len(tta.seeds) > 1:
            metrics.main_ensemble = tta.ensemble().scores()
        metrics.per_manipulation = per_manipulation(tta)
        metrics.main_confusions = top_confusions(tta)
    fold = folds.outcome.evidence(flags(folds.models)) if folds else None
    metrics.device_fold = fold.scores() if fold else None
    if fold and fold.probabilities is not None and len(fold.seeds) > 1:
        metrics.device_fold_ensemble = fold.ensemble().scores()
    noaug = None
    if robust:
        from .stages.robustness import WITH
        noaug_flags = flags(robust.noaug_models)
        noaug = robust.noaug.evidence(noaug_flags)
        metrics.noaug = noaug.scores()
        metrics.robustness = [PointRow(family=p.family, value=p.value, variant=p.variant, accuracy=p.outcome.evidence(
            main_flags if p.variant == WITH else noaug_flags).accuracy()) for p in robust.points]
        metrics.robustness_inside_ranges = inside_range_rows(robust, main_flags)
    if crops:
        metrics.crop_size = [CropRow(crop=p.crop, accuracy=p.outcome.evidence(main_flags).accuracy()) for p in crops.points]
    metrics.train_size, metrics.architectures = study_rows(sizes), study_rows(archs)
    metrics.label_noise, metrics.schedules = study_rows(noise), study_rows(scheds)
    if gap:
        metrics.device_gap = DeviceGapRow(same_device=gap.same_device_accuracy(), other_device=gap.other_device_accuracy(),
                                          gap=gap.gap(), center_crop=gap.center_crop)
    if base:
        metrics.baselines = [v.outcome.scores() for v in base.variants]
    if inferred:
        compared = [tta] + ([tta.ensemble()] if metrics.main_ensemble else [])
        compared += [noaug] if noaug else []
        metrics.by_split = split_rows(data.camera_splits, compared + ([v.outcome for v in base.variants] if base else []))
    metrics.claims = all_claims(trained, inferred, robust, crops, sizes, archs, base, run.settings.profile,
                                run.settings.tta_config("robustness").to_dict(), noise=noise, schedules=scheds, gap=gap)
    if convergence is not None:
        metrics.claims = unconverged(metrics.claims, convergence)
    metrics.open_questions = question_summaries(run)
    if run.settings.layout == "zoo":
        metrics.robustness_diagnosis = read_diagnosis()
    metrics.departures = departures(metrics, run.settings)
    return metrics


def question_summaries(run: Run) -> list[QuestionSummary]:
    """The open questions' chapters that ran (read-only), with their findings and figures of merit."""
    from . import stages
    from .settings import QUESTIONS
    out = []
    for name, title in QUESTIONS.items():
        result = getattr(stages, name)(run)
        summary = QuestionSummary(name=name, title=title, ran=result is not None)
        if result is not None:
            summary.findings = result.findings
            summary.figures = _question_figures(name, result)
        out.append(summary)
    return out


def _question_figures(name: str, result) -> dict:
    if name == "manipulation_head":
        manipulated = result.outcome.manipulated()
        manipulated_half = result.outcome.subset(is_manipulated(result.outcome.manipulations))
        return {"accuracy_manipulated": result.outcome.accuracy(manipulated) if manipulated.any() else None,
                "accuracy_unaltered": result.outcome.accuracy(~manipulated) if (~manipulated).any() else None,
                "accuracy_all": result.outcome.accuracy() if len(manipulated) else None,
                "chance_manipulated": manipulated_half.chance() if manipulated.any() else None,
                "chance_all": result.outcome.chance()}
    if name == "averaging":
        return {"last": result.last.scores().weighted_accuracy,
                "averaged": result.averaged.scores().weighted_accuracy if result.averaged else None,
                "seeds_mean": result.seeds_mean.scores().weighted_accuracy,
                "ensemble": result.ensemble.scores().weighted_accuracy if result.ensemble else None}
    if name == "balanced":
        return {"plain": result.plain.scores().weighted_accuracy, "sinkhorn": result.sinkhorn.scores().weighted_accuracy,
                "assignment": result.assignment.scores().weighted_accuracy}
    if name == "pseudo_labels":
        return {"before": result.before.scores().weighted_accuracy, "after": result.after.scores().weighted_accuracy,
                **{f"label_accuracy_seed{seed}": estimate for seed, estimate in result.label_accuracy.items()}}
    if name == "saliency":
        return {"flat": result.flat.scores().accuracy, "textured": result.textured.scores().accuracy}
    if name == "metric":
        return {f"kendall_tau_{metric}": tau for metric, tau in result.rank_agreement.items()}
    if name == "open_set":
        return {"auroc": result.auroc, "false_attribution": result.false_attribution,
                "false_rejection": result.false_rejection, "threshold": result.threshold}
    return {}


def write_metrics(run: Run) -> Metrics:
    """Collect the run's metrics and write run/metrics.json (atomically)."""
    metrics = collect(run)
    write_json(run.path / "metrics.json", metrics.model_dump(mode="json"))
    return metrics


def read_metrics(path) -> Metrics:
    """A metrics.json file, validated against the schema (pydantic ValidationError when it does not fit)."""
    return Metrics.model_validate(read_json(path))


def schema() -> dict:
    """The JSON schema of metrics.json (keys, types and what they mean)."""
    return Metrics.model_json_schema()


SCHEMA_FILE = "reports/metrics.schema.json"


def main(argv=None) -> int:
    """`python -m camlib.summary --write-schema` regenerates reports/metrics.schema.json; `--check FILE` validates one."""
    import argparse
    import json
    import sys
    from .settings import REPO_ROOT
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--write-schema", action="store_true")
    parser.add_argument("--check", metavar="METRICS_JSON")
    args = parser.parse_args(argv)
    if args.write_schema:
        (REPO_ROOT / SCHEMA_FILE).write_text(json.dumps(schema(), indent=1, sort_keys=True) + "\n")
    if args.check:
        try:
            read_metrics(args.check)
        except Exception as exc:  # pydantic's ValidationError: print its first line only
            print(f"{args.check}: does not fit the schema: {str(exc).splitlines()[0]}", file=sys.stderr)
            return 1
        print(f"{args.check}: fits the schema")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
