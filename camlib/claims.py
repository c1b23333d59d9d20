"""The claims of the original study (and camlib's own hypotheses), each tested on this run's results."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from .outcomes import difference
from .stats import Direction, Estimate, Verdict, verdict
from .stages import BaselineResult, CropSizeResult, InferenceResult, RobustnessResult, StudyResult
from .stages.robustness import UNALTERED, WITH, WITHOUT

IDENTITIES = {("gamma", 1.0), ("resize", 1.0)}  # settings that leave the image as it is
TARGET_ACCURACY = 0.9  # the crop-size claim's threshold
CLAIMED_MIN_CROP = 250  # ... the crop side it says is needed
CLAIMED_TRAIN_CROP = 480  # ... and the training crop of the models it was made for
SATURATION_IMAGES = 25_000  # the data-size claim: no gain above this many training images


class Claim(BaseModel):
    """One row of the claims table: what the original study said, what this run compared, the verdict."""

    topic: str
    source: Literal["seed", "camlib"] = Field("seed", description="whose claim it is: 'seed', the original study's "
                                              "(the report's headline counts these only); 'camlib', camlib's own hypothesis")
    original: str  # the claim as the original study states it (or as camlib states its own hypothesis)
    test: str  # what this run compares, on which images
    tta: str = Field("", description="how each side of the comparison is scored (crops x transforms)")
    difference: Estimate | None = None  # a - b with its 95% interval (the verdict's evidence)
    direction: Direction = "greater"
    verdict: Verdict
    note: str = ""  # why it cannot be tested, or what limits the test

    def evidence(self) -> str:
        return "" if self.difference is None else f"{self.difference.text(percent=True)} points"


def _claim(topic, original, test, diff: Estimate | None, direction: Direction, note: str = "",
           blocked: str = "", tta: str = "", source: str = "seed") -> Claim:
    """A claim whose verdict comes from `verdict`, or 'not testable' with the reason in `blocked`."""
    if blocked:
        return Claim(topic=topic, source=source, original=original, test=test, tta=tta, difference=diff,
                     direction=direction, verdict="not testable", note=blocked)
    return Claim(topic=topic, source=source, original=original, test=test, tta=tta, difference=diff, direction=direction,
                 verdict=verdict(diff, direction), note=note)


def tta_text(config: dict) -> str:
    """A TTA configuration in words: which crops, which transforms ('grid 4x4 crops x flip')."""
    crops = config.get("crops", "?")
    crops = {"center": "one centre crop", "five": "five crops", "full": "the whole image",
             "grid": f"grid {config.get('grid_size')}x{config.get('grid_size')} crops"}.get(crops, f"{crops} crops")
    transforms = config.get("transforms", "none")
    return f"{crops} of {config.get('crop')} px" + ("" if transforms == "none" else f" x {transforms}")


def _same(text: str) -> str:
    return f"both sides: {text}"


def _problems(*model_lists) -> str:
    problems = [m.problem() for models in model_lists for m in models if m.problem()]
    return "; ".join(problems[:2]) + (f" (+{len(problems) - 2} more)" if len(problems) > 2 else "")


def robustness_claims(robust: RobustnessResult, main_models, sweep_tta: str) -> list[Claim]:
    """Per family: the worst setting inside the training range against unaltered, same images (augmented
    model); and the model without augmentation under the challenge's strongest resizes."""
    claims = []
    blocked = _problems(main_models, robust.noaug_models)
    reference = robust.point(*UNALTERED, WITH)
    original = ("Inside the ranges used for training augmentation (shown in green), accuracy does not drop "
                "significantly under {what}.")
    for family, label in (("jpeg", "JPEG compression"), ("gamma", "gamma correction"), ("resize", "resizing")):
        bounds = robust.training_ranges.get(family)
        values = sorted({p.value for p in robust.points if p.family == family})
        inside = [v for v in values if robust.trained_on(family, v) and (family, v) not in IDENTITIES]
        if not bounds or not inside or reference is None:
            claims.append(_claim("robustness", original.format(what=label), f"{label}: no setting inside a training range",
                                 None, "no_decrease", blocked="the model was not trained with this manipulation, or the "
                                 "sweep has no setting inside its range"))
            continue
        # every sweep value is scored with and without augmentation (stages.robustness): point() finds it
        diffs = {v: difference(robust.point(family, v, WITH), reference, weighted=False) for v in inside}  # type: ignore[arg-type]
        worst = min(diffs, key=lambda v: diffs[v].value)
        claims.append(_claim(
            "robustness", original.format(what=label),
            f"augmented model: {label} {worst:g} (the worst of {', '.join(f'{v:g}' for v in inside)} inside "
            f"{bounds[0]:g}-{bounds[1]:g}{', the values it trains on' if robust.trained_values else ''}) minus unaltered, {diffs[worst].n_images} images x {diffs[worst].n_seeds} seeds",
            diffs[worst], "no_decrease", blocked=blocked, tta=_same(f"the sweep's TTA, {sweep_tta}")))
    noaug_reference = robust.point(*UNALTERED, WITHOUT)
    strong = [v for v in (0.5, 2.0) if robust.point("resize", v, WITHOUT) is not None]
    if noaug_reference is not None and strong:
        diffs = {v: difference(noaug_reference, robust.point("resize", v, WITHOUT), weighted=False)  # type: ignore[arg-type]
                 for v in strong}  # (strong keeps the values that have a point)
        weakest = min(diffs, key=lambda v: diffs[v].value)
        claims.append(_claim(
            "robustness", "Without augmentation the model is not robust to the test set's manipulations "
            "(the reason the study trains with them).",
            f"model without augmentation: unaltered minus resize {weakest:g} (the smaller drop of resize 0.5 and 2.0)",
            diffs[weakest], "greater", blocked=_problems(robust.noaug_models), tta=_same(f"the sweep's TTA, {sweep_tta}")))
    return claims


def augmentation_claim(inference: InferenceResult, robust: RobustnessResult, main_models) -> Claim:
    diff = difference(inference.tta, robust.noaug)
    # A claim about the test set's transformations needs manipulated test photos (real photos have none: the
    # robustness rows test the manipulations on them).
    unmanipulated = "" if inference.tta.manipulated().any() else (
        f"none of the {diff.n_images} test photos is manipulated, so this comparison cannot show robustness to the "
        "test set's transformations (the robustness rows manipulate the photos)")
    return _claim("augmentation", "Aggressive augmentation (JPEG, gamma, resize, flips, rotations) lets the model "
                  "stay robust against the test set's transformations.",
                  f"weighted accuracy with minus without augmentation, same TTA, all {diff.n_images} test images, "
                  f"{diff.n_seeds} seeds paired", diff, "greater",
                  blocked=_problems(main_models, robust.noaug_models) or unmanipulated,
                  tta=_same(f"the main TTA, {tta_text(inference.tta_config)}"))


def tta_claims(inference: InferenceResult, main_models) -> list[Claim]:
    blocked = _problems(main_models)
    tta = inference.tta_config
    claims = []
    original = "Test-time augmentation improves accuracy."
    if inference.crops_only is not None:
        claims.append(_claim("TTA", original,
                             f"same {tta['crops']} crops with minus without {tta['transforms']} (equal coverage: what "
                             "averaging augmented views adds)", difference(inference.tta, inference.crops_only),
                             "greater", blocked=blocked, tta=f"a: {tta_text(tta)}; b: {tta_text({**tta, 'transforms': 'none'})} "
                             "(the difference is the claim)"))
    else:
        claims.append(_claim("TTA", original, "averaging augmented views", None, "greater",
                             blocked="the run's TTA has no flips or rotations (tta_transforms none)"))
    covered = inference.crops_only or inference.tta
    claims.append(_claim("TTA", "Averaging predictions over several crops of the test image improves accuracy.",
                         f"{tta['crops']} crops (no flips) minus one centre crop: covering more of the image",
                         difference(covered, inference.single_crop), "greater", blocked=blocked,
                         tta=f"a: {tta_text({**tta, 'transforms': 'none'})}; b: one centre crop of {tta.get('crop')} px "
                         "(the difference is the claim)"))
    return claims


def crop_claim(crops: CropSizeResult, main_models) -> Claim:
    """The smallest test crop that reaches 90%; not testable when no size reaches it."""
    original = (f"Test crops of at least {CLAIMED_MIN_CROP}x{CLAIMED_MIN_CROP} pixels are needed for more than "
                f"{TARGET_ACCURACY:.0%} accuracy.")
    scores = {p.crop: p.outcome.scores().accuracy for p in crops.points}
    blocked = _problems(main_models)
    if not scores:
        return _claim("crop size", original, "no crop sizes", None, "greater", blocked="the crop-size study did not run")
    best = max(scores, key=lambda c: scores[c].value)
    if blocked:
        return _claim("crop size", original, "accuracy per centre-crop side", None, "greater", blocked=blocked)
    if crops.train_crop != CLAIMED_TRAIN_CROP:
        ratio = CLAIMED_MIN_CROP / CLAIMED_TRAIN_CROP
        reached = [c for c in sorted(scores) if scores[c].value >= TARGET_ACCURACY]
        seen = (f"{TARGET_ACCURACY:.0%} is first reached at {reached[0]} px, {reached[0] / crops.train_crop:.2f} of the "
                f"training crop" if reached else f"no size reaches {TARGET_ACCURACY:.0%} (best {scores[best].text()} at "
                f"{best} px)")
        return _claim("crop size", original, f"accuracy per centre-crop side ({min(scores)}-{max(scores)} px): {seen}",
                      None, "greater", blocked=f"not testable at this scale: the claim is about models trained on "
                      f"{CLAIMED_TRAIN_CROP} px crops and this one was trained on {crops.train_crop} px crops; relative "
                      f"to the training crop the claim's {CLAIMED_MIN_CROP} px is {ratio:.2f} of it ({ratio * crops.train_crop:.0f} px "
                      f"here): see the crop-size figure against the relative crop", tta="one centre crop of each side; compared with the fixed 90%")
    if scores[best].value < TARGET_ACCURACY:
        return _claim("crop size", original, f"accuracy per centre-crop side ({min(scores)}-{max(scores)} px)", None,
                      "greater", blocked=f"no crop size reaches {TARGET_ACCURACY:.0%}: the best is "
                      f"{scores[best].text()} at {best} px (model trained on {crops.train_crop} px crops)")
    small = [c for c in scores if c < CLAIMED_MIN_CROP]
    first = min(c for c in scores if scores[c].value >= TARGET_ACCURACY)
    # Evidence: the best crop below the claimed size, as accuracy minus the target.
    if not small:
        return _claim("crop size", original, "no crop below the claimed size was scored", None, "greater",
                      blocked=f"no crop size below {CLAIMED_MIN_CROP} px in crop_sizes")
    below = max(small, key=lambda c: scores[c].value)
    diff = _shift(scores[below], -TARGET_ACCURACY)
    return _claim("crop size", original,
                  f"best accuracy below {CLAIMED_MIN_CROP} px ({below} px) minus {TARGET_ACCURACY:.0%}; "
                  f"{TARGET_ACCURACY:.0%} is first reached at {first} px", diff, "less",
                  note=f"model trained on {crops.train_crop} px crops (the original: 480 px)", tta="one centre crop of each side; compared with the fixed 90%")


def _shift(estimate: Estimate, offset: float) -> Estimate:
    return estimate.model_copy(update={"value": estimate.value + offset, "low": estimate.low + offset,
                                       "high": estimate.high + offset})


def train_size_claims(sizes: StudyResult) -> list[Claim]:
    variants = sorted(sizes.variants, key=lambda v: v.images_per_class or 0)
    study_tta = _same(f"the study TTA, {tta_text(sizes.tta_config)}")
    claims = []
    if len(variants) < 3:
        blocked = ("the data-size study did not run in this profile (train_sizes is empty: CPU budget; the gpu profile "
                   "runs it)" if len(variants) <= 1 else "the data-size study needs at least three training-set sizes")
        claims.append(_claim("data size", "More relevant labelled training data gives higher accuracy.",
                             "accuracy growth at the smallest sizes", None, "greater", blocked=blocked))
        claims.append(_claim("data size", "Beyond a certain size, more training images stop helping (no gain above "
                             "25k images).", "gain at the largest size", None, "no_increase", blocked=blocked))
        return claims
    small, next_small = variants[0], variants[1]
    claims.append(_claim(
        "data size", "More relevant labelled training data gives higher accuracy (\"if one can get more relevant "
        "labeled data, get it\").",
        f"weighted accuracy with {next_small.images_per_class} minus {small.images_per_class} images per camera "
        "(same number of training steps)", difference(next_small.outcome, small.outcome), "greater",
        blocked=_problems(small.models, next_small.models), tta=study_tta))
    large, largest = variants[-2], variants[-1]
    n_classes = len(large.outcome.classes)
    smaller_side = (large.images_per_class or 0) * n_classes
    scale = "" if smaller_side >= SATURATION_IMAGES else (
        f"not testable at this scale: the claim is about more than {SATURATION_IMAGES:,} training images and this run's "
        f"largest sets have {smaller_side:,} and {(largest.images_per_class or 0) * n_classes:,} "
        f"({large.images_per_class} and {largest.images_per_class} per camera x {n_classes} cameras); a gain or its "
        "absence this far below the claimed size says nothing about saturation there")
    claims.append(_claim(
        "data size", "Beyond a certain size, more training images stop helping (the study saw no gain above 25k images).",
        f"weighted accuracy with {largest.images_per_class} minus {large.images_per_class} images per camera",
        difference(largest.outcome, large.outcome), "no_increase",
        blocked=_problems(large.models, largest.models) or scale, tta=study_tta))
    return claims


_OFF_HINT = " (arch_study is empty in this profile: CPU budget; the gpu profile runs it)"


def architecture_claims(archs: StudyResult, profile: str) -> list[Claim]:
    study_tta = _same(f"the study TTA, {tta_text(archs.tta_config)}")
    claims = []
    by_key = {(v.arch, v.weights): v for v in archs.variants}
    main = archs.variants[0]
    scratch = by_key.get((main.arch, "none"))
    original = "For camera model identification transfer learning (from ImageNet) works really well."
    if scratch is None:
        claims.append(_claim("transfer learning", original, "ImageNet minus scratch", None, "greater",
                             blocked=f"arch_study has no {main.arch}:none variant" + _OFF_HINT * (len(archs.variants) <= 1)))
    else:
        main_epochs, scratch_epochs = main.models[0].epochs, scratch.models[0].epochs
        budget = ("same recipe" if scratch_epochs == main_epochs else
                  f"scratch trained {scratch_epochs} epochs against {main_epochs} (a budget that favours it)")
        claims.append(_claim("transfer learning", original,
                             f"{main.arch}: weighted accuracy from ImageNet minus from scratch, {budget}",
                             difference(main.outcome, scratch.outcome), "greater",
                             blocked=_problems(main.models, scratch.models), tta=study_tta))
    pretrained = [v for v in archs.variants[1:] if v.weights == "imagenet" and v.arch != main.arch]
    original = "Network architecture is not very relevant as long as it is good (pretrained networks perform similarly)."
    if not pretrained:
        claims.append(_claim("architectures", original, "two ImageNet-pretrained architectures", None, "no_difference",
                             blocked="arch_study has no second ImageNet-pretrained architecture" + _OFF_HINT * (len(archs.variants) <= 1)))
    for other in pretrained:
        claims.append(_claim("architectures", original, f"weighted accuracy {other.arch} minus {main.arch}, both from ImageNet",
                             difference(other.outcome, main.outcome), "no_difference",
                             blocked=_problems(main.models, other.models), tta=study_tta))
    densenet = [v for v in archs.variants if v.arch.startswith("densenet") and v.weights == "imagenet"]
    if not densenet:
        claims.append(_claim("architectures", "DenseNet performs slightly better than other pretrained networks.",
                             "DenseNet against the other pretrained networks", None, "greater",
                             blocked=f"no DenseNet in this run: its ImageNet weights are not shipped offline and it is "
                             f"too slow for the {profile} profile; the gpu profile compares densenet161/201"))
    return claims


def baseline_claims(inference: InferenceResult, baseline: BaselineResult, main_models) -> list[Claim]:
    claims = []
    for feature_set, source, original in (
            ("seed", "seed", "A CNN beats hand-crafted residual statistics with a classical classifier (the seed's first "
             "idea, which it abandoned)."),
            ("extended", "camlib", "The CNN also beats features aimed at the CFA phase and the JPEG grid (camlib's "
             "hypothesis: the traces the zoo simulates).")):
        # the stronger of its trainings: the write-up's augmentation (every crop rescaled) can hurt hand-crafted features
        trained = [v for v in (baseline.variant(feature_set, "augmented"), baseline.variant(feature_set, "plain")) if v]
        if not trained:
            continue
        variant = max(trained, key=lambda v: v.outcome.scores().weighted_accuracy.value)
        diff = difference(inference.tta, variant.outcome, paired_seeds=False)
        claims.append(_claim("baseline", original, f"weighted accuracy: CNN with TTA minus {variant.outcome.label}",
                             diff, "greater", blocked=_problems(main_models), source=source,
                             tta=f"a (CNN): the main TTA, {tta_text(inference.tta_config)}; b (classifier): its "
                             f"{baseline.crops_per_image} crops of {baseline.crop} px per image (each method as it is used)"))
    return claims


NOISE_HARMLESS_BELOW = 0.15  # "as long as a percent of the incorrect labels is less than 15%, you are fine"
LABEL_NOISE_CLAIM = ("As long as a percent of the incorrect labels is less than 15%, you are fine (wrong labels below 15% "
                     "do no harm).")
SCHEDULE_CLAIM = ("A cyclic learning rate with restarts helps: \"these oscillations help to get out of local minima\" "
                  "(against a schedule without restarts).")


def label_noise_claims(noise: StudyResult) -> list[Claim]:
    """The worst level at or below 15% wrong labels against none (an equivalence claim), and 30% for contrast."""
    original = LABEL_NOISE_CLAIM
    clean = next((v for v in noise.variants if v.label_noise == 0.0), None)
    noisy = [v for v in noise.variants if v.label_noise]
    harmless = [v for v in noisy if v.label_noise is not None and v.label_noise <= NOISE_HARMLESS_BELOW + 1e-9]
    if clean is None or not harmless:
        return [_claim("label noise", original, "no level at or below 15%", None, "no_decrease",
                       blocked="label_noise_levels has no level at or below 15%")]
    diffs = {v.label_noise: difference(v.outcome, clean.outcome) for v in harmless}
    worst = min(harmless, key=lambda v: diffs[v.label_noise].value)
    levels = ", ".join(f"{v.label_noise:.0%}" for v in harmless)
    return [_claim("label noise", original,
                   f"weighted accuracy with {worst.label_noise:.0%} wrong training labels (the worst of {levels}) minus "
                   f"none, same steps and study TTA, {diffs[worst.label_noise].n_images} images x "
                   f"{diffs[worst.label_noise].n_seeds} seeds", diffs[worst.label_noise], "no_decrease",
                   blocked=_problems(clean.models, worst.models),
                   tta=_same(f"the study TTA, {tta_text(noise.tta_config)}"))]


def schedule_claim(schedules: StudyResult) -> Claim:
    """Cosine restarts against one cycle at equal epochs and seeds."""
    by_schedule = {v.schedule: v for v in schedules.variants}
    restarts, one = by_schedule.get("cosine_restarts"), by_schedule.get("one_cycle")
    original = SCHEDULE_CLAIM
    if restarts is None or one is None:
        return _claim("schedule", original, "restarts against one cycle", None, "greater",
                      blocked="the schedule study needs both cosine_restarts and one_cycle")
    diff = difference(restarts.outcome, one.outcome)
    return _claim("schedule", original, f"weighted accuracy, cosine restarts minus one cycle, {schedules.study_epochs} "
                  f"epochs each, same seeds and study TTA", diff, "greater", blocked=_problems(restarts.models, one.models),
                  tta=_same(f"the study TTA, {tta_text(schedules.tta_config)}"))


def device_gap_claim(gap, main_models) -> Claim:
    """Held-out photos of the training device against the second device's unaltered photos (unpaired)."""
    diff = gap.gap()
    n_same = sum(len(o.images) for o in gap.same_device)
    return _claim("device gap", "A second device of the same model is harder than the training device (why the "
                  "challenge trained on one device per model and tested on another).",
                  f"main model, main TTA on {gap.center_crop} px centre crops: accuracy on each seed's held-out "
                  f"training-device photos ({n_same} in all) minus the second device's unaltered photos "
                  f"({len(gap.other_device.images)}); unpaired", diff, "greater", blocked=_problems(main_models),
                  tta=_same(f"the main TTA, {tta_text(gap.tta_config)}, after a {gap.center_crop} px centre crop"))


def all_claims(training, inference, robust, crops, sizes, archs, baseline, profile: str, sweep_tta: dict, noise=None,
               schedules=None, gap=None) -> list[Claim]:
    """Every claim whose stages ran (a stage that did not run gives no rows); `sweep_tta`: the robustness sweep's
    TTA configuration (its result does not keep it)."""
    main_models = training.models if training is not None else []
    claims = []
    if robust is not None:
        claims += robustness_claims(robust, main_models, tta_text(sweep_tta))
        if inference is not None:
            claims.append(augmentation_claim(inference, robust, main_models))
    if inference is not None:
        claims += tta_claims(inference, main_models)
    if crops is not None:
        claims.append(crop_claim(crops, main_models))
    if sizes is not None:
        claims += train_size_claims(sizes)
    if archs is not None:
        claims += architecture_claims(archs, profile)
    if inference is not None and baseline is not None:
        claims += baseline_claims(inference, baseline, main_models)
    if noise is not None:
        claims += label_noise_claims(noise)
    elif training is not None:
        claims.append(_claim("label noise", LABEL_NOISE_CLAIM, "accuracy with wrong training labels against none", None,
                             "no_decrease", blocked="the label-noise study did not run (label_noise_levels is empty "
                             "in this profile or layout)"))
    if schedules is not None:
        claims.append(schedule_claim(schedules))
    elif training is not None:
        claims.append(_claim("schedule", SCHEDULE_CLAIM, "restarts against one cycle", None, "greater",
                             blocked="the schedule study did not run (schedule_study is off in this profile or layout)"))
    if gap is not None:
        claims.append(device_gap_claim(gap, main_models))
    return claims
