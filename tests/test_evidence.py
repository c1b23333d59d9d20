"""What real photos can and cannot show: rows without manipulated photos are not testable, flagged seeds stay out."""
import numpy as np

from camlib.claims import augmentation_claim
from camlib.outcomes import Outcome
from camlib.stages import InferenceResult, ModelSummary, RobustnessResult
from camlib.stages.metric import weighting_finding
from camlib.summary import flags


def _outcome(rows, manipulations, label="m") -> Outcome:
    n = len(manipulations)
    return Outcome(label=label, classes=["A", "B"], seeds=list(range(len(rows))), images=[f"natural/A_x_1_{i}.JPG" for i in range(n)],
                   cameras=["A"] * n, manipulations=manipulations, predictions=[[0 if r else 1 for r in row] for row in rows])


def _summary(seed: int, learned: bool) -> ModelSummary:
    return ModelSummary(label="main recipe, devices swapped", role="swapped", seed=seed, arch="a", weights="imagenet", epochs=1,
                        steps=1, crop=96, final_train_loss=0.4 if learned else 1.1, final_train_accuracy=0.9 if learned else 0.3,
                        train_minutes=1.0, crops_per_s=1.0, chance_loss=1.0986, learned=learned, curve=[], checkpoint="x")


def test_weighted_against_plain_accuracy_is_not_testable_without_manipulated_photos():
    rng = np.random.default_rng(0)
    rows = (rng.random((2, 20)) < 0.7).tolist()
    unaltered = weighting_finding(_outcome(rows, ["unalt"] * 20))
    assert unaltered.verdict == "not testable" and unaltered.difference is None
    assert "no manipulated test photo" in unaltered.note
    both = weighting_finding(_outcome(rows, ["unalt"] * 10 + ["jpg70"] * 10))
    assert both.verdict != "not testable" and both.difference is not None


def test_the_augmentation_claim_is_not_testable_on_unmanipulated_test_photos():
    rng = np.random.default_rng(1)
    main = _outcome((rng.random((2, 20)) < 0.8).tolist(), ["unalt"] * 20)
    noaug = _outcome((rng.random((2, 20)) < 0.5).tolist(), ["unalt"] * 20)
    robust = RobustnessResult(noaug_models=[], noaug=noaug, training_ranges={}, images_per_class=1, sweep_seeds=[0, 1], points=[])
    claim = augmentation_claim(InferenceResult(tta_config={}, tta=main, crops_only=None, single_crop=main), robust, [])
    assert claim.verdict == "not testable" and "none of the 20 test photos is manipulated" in claim.note
    half = ["unalt"] * 10 + ["jpg70"] * 10
    manipulated = InferenceResult(tta_config={}, tta=main.model_copy(update={"manipulations": half}), crops_only=None,
                                  single_crop=main)
    robust = robust.model_copy(update={"noaug": noaug.model_copy(update={"manipulations": half})})
    assert augmentation_claim(manipulated, robust, []).verdict != "not testable"


def test_a_seed_that_did_not_learn_stays_out_of_the_pooled_figures():
    good, bad = [1] * 12, [0] * 12
    outcome = _outcome([good, good, bad], ["unalt"] * 12)
    summaries = [_summary(0, True), _summary(1, True), _summary(2, False)]
    scores = outcome.evidence(flags(summaries)).scores()
    assert scores.seeds == [0, 1] and scores.accuracy.value == 1.0 and list(scores.seeds_left_out) == [2]
    assert scores.left_out_text().startswith("1 of 3 seeds left out as not evidence: main recipe, devices swapped (seed 2) did not learn")
    assert outcome.scores().accuracy.value < 0.7  # what pooling the flagged seed would have said


def test_split_rows_score_each_model_on_unseen_device_and_random_split_cameras():
    from camlib.outcomes import Outcome
    from camlib.summary import split_rows
    cameras = ["A"] * 4 + ["B"] * 4 + ["C"] * 4
    truth = {"A": 0, "B": 1, "C": 2}
    right = [truth[c] for c in cameras]
    wrong_on_a = [1 if c == "A" else truth[c] for c in cameras]
    outcomes = [Outcome(label=label, classes=["A", "B", "C"], seeds=[0], images=[f"{i}.jpg" for i in range(12)],
                        cameras=cameras, manipulations=["unalt"] * 12, predictions=[row])
                for label, row in (("cnn", wrong_on_a), ("baseline", right))]
    splits = {"A": "unseen device", "B": "random", "C": "random"}
    rows = split_rows(splits, outcomes)
    assert [(r.model, r.split, r.cameras, r.accuracy.value) for r in rows] == [
        ("cnn", "unseen device", ["A"], 0.0), ("cnn", "random", ["B", "C"], 1.0),
        ("baseline", "unseen device", ["A"], 1.0), ("baseline", "random", ["B", "C"], 1.0)]
    assert split_rows({"A": "random", "B": "random", "C": "random"}, outcomes) == []  # one kind: nothing to compare
