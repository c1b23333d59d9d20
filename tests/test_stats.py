"""95% intervals and the one verdict rule, on constructed cases with known answers."""
import math

import numpy as np
import pytest

from camlib.outcomes import Outcome, difference
from camlib.stats import EQUIVALENCE_MARGIN, Estimate, bootstrap, paired_difference, verdict, wilson


def test_bootstrap_matches_the_binomial_interval_on_a_simple_case():
    correct = np.r_[np.ones(420), np.zeros(180)]  # 600 images, 70% right, one seed
    estimate = bootstrap(correct)
    half = 1.959964 * math.sqrt(0.7 * 0.3 / 600)  # normal approximation to the binomial: +-3.7 points
    assert estimate.value == pytest.approx(0.7)
    assert estimate.low == pytest.approx(0.7 - half, abs=0.006) and estimate.high == pytest.approx(0.7 + half, abs=0.006)
    low, high = wilson(420, 600)
    assert low == pytest.approx(0.6622, abs=1e-3) and high == pytest.approx(0.7351, abs=1e-3)


def test_interval_stays_honest_at_the_boundary_and_with_few_images():
    perfect = bootstrap(np.ones(11))  # 11 of 11: the bootstrap alone would say [1, 1]
    assert perfect.high == 1.0 and perfect.low == pytest.approx(wilson(11, 11)[0]) and perfect.low < 0.75


def test_seeds_that_disagree_widen_the_interval():
    rng = np.random.default_rng(0)
    base = (rng.random(300) < 0.7).astype(float)
    same = bootstrap(np.stack([base, base, base]))
    spread = bootstrap(np.stack([base, np.roll(base, 7) * (rng.random(300) < 0.8), np.maximum(base, rng.random(300) < 0.5)]))
    assert (spread.high - spread.low) > (same.high - same.low)
    assert same.n_seeds == 3 and same.value == pytest.approx(base.mean())


def test_weighted_accuracy_uses_the_image_weights():
    correct = np.array([1, 1, 0, 0], dtype=float)
    weights = np.array([0.7, 0.7, 0.3, 0.3])
    assert bootstrap(correct, weights).value == pytest.approx(0.7)


def _effect(delta: float, n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    b = (rng.random(n) < 0.6).astype(float)
    a = b.copy()
    flip = rng.choice(n, int(abs(delta) * n), replace=False)
    a[flip] = 1.0 if delta > 0 else 0.0
    if delta > 0:
        b[flip] = 0.0
    else:
        b[flip] = 1.0
    return a, b


def test_verdict_rule_on_constructed_cases():
    clear_a, clear_b = _effect(0.10)
    assert verdict(paired_difference(clear_a, clear_b), "greater") == "supported"
    assert verdict(paired_difference(clear_a, clear_b), "less") == "contradicted"
    reversed_a, reversed_b = _effect(-0.10)
    assert verdict(paired_difference(reversed_a, reversed_b), "greater") == "contradicted"
    same = np.random.default_rng(3).random(400) < 0.6
    noise = same.copy()
    noise[:4] = ~noise[:4]  # a difference of a few images: inside the noise
    none = paired_difference(same.astype(float), noise.astype(float))
    assert none.low < 0 < none.high or none.low <= 0 <= none.high
    assert verdict(none, "greater") == "inconclusive"
    assert none.low >= -EQUIVALENCE_MARGIN and none.high <= EQUIVALENCE_MARGIN  # 400 images: a narrow interval
    assert verdict(none, "no_decrease") == "supported" and verdict(none, "no_difference") == "supported"
    assert verdict(paired_difference(reversed_a, reversed_b), "no_decrease") == "contradicted"
    assert verdict(paired_difference(clear_a, clear_b), "no_increase") == "contradicted"
    assert verdict(None, "greater") == "not testable"
    nan = Estimate(value=float("nan"), low=float("nan"), high=float("nan"), n_images=0)
    assert verdict(nan, "greater") == "not testable"


def _interval(low: float, high: float) -> Estimate:
    return Estimate(value=(low + high) / 2, low=low, high=high, n_images=100)


@pytest.mark.parametrize("direction, supported, contradicted, inconclusive", [
    # no_decrease: the whole interval above -margin / wholly below it / straddling it
    ("no_decrease", [(-0.02, 0.05), (-0.03, 0.0), (0.01, 0.2)], [(-0.2, -0.05), (-0.08, -0.031)], [(-0.065, 0.015), (-0.2, 0.2)]),
    # no_increase: the mirror image
    ("no_increase", [(-0.05, 0.02), (0.0, 0.03), (-0.2, -0.01)], [(0.05, 0.2), (0.031, 0.08)], [(-0.015, 0.065), (-0.2, 0.2)]),
    # no_difference: inside +-margin / wholly beyond it on either side / touching both inside and beyond
    ("no_difference", [(-0.02, 0.02), (-0.03, 0.03)], [(-0.2, -0.05), (0.05, 0.2)], [(-0.065, 0.015), (-0.015, 0.065), (0.0, 0.04)]),
])
def test_equivalence_margin_gives_all_three_verdicts(direction, supported, contradicted, inconclusive):
    for cases, expected in ((supported, "supported"), (contradicted, "contradicted"), (inconclusive, "inconclusive")):
        for low, high in cases:
            assert verdict(_interval(low, high), direction, margin=0.03) == expected, (direction, low, high)


def test_a_wide_interval_that_touches_zero_supports_no_claim_of_no_change():
    gamma = _interval(-0.065, 0.015)  # the gamma row: -2.2 [-6.5, +1.5] points
    assert verdict(gamma, "no_decrease") == "inconclusive"
    assert verdict(_interval(-0.028, 0.022), "no_difference") == "supported"  # the architectures row
    assert verdict(_interval(-0.395, -0.242), "no_decrease") == "contradicted"  # JPEG 70 at -32 points
    assert verdict(_interval(0.01, 0.2), "greater") == "supported" and verdict(_interval(-0.01, 0.2), "greater") == "inconclusive"


def test_paired_difference_pairs_images():
    a = np.r_[np.ones(50), np.zeros(50)]
    assert paired_difference(a, a).value == 0 and paired_difference(a, a).low == 0 == paired_difference(a, a).high
    with pytest.raises(ValueError, match="same images"):
        paired_difference(a, a[:10])


def _outcome(label, predictions, cameras=("a", "b", "a", "b"), manipulations=("unalt", "unalt", "jpg70", "gamma0.8")):
    return Outcome(label=label, classes=["a", "b"], seeds=list(range(len(predictions))), images=[f"{i}.tif" for i in range(len(cameras))],
                   cameras=list(cameras), manipulations=list(manipulations), predictions=predictions)


def test_outcome_scores_and_unreadable_images():
    outcome = _outcome("m", [[0, 1, 1, -1], [0, 0, 0, -1]])  # image 3 unreadable: left out for every seed
    scores = outcome.scores()
    assert scores.n_images == 3
    assert [s.accuracy for s in scores.per_seed] == [pytest.approx(2 / 3), pytest.approx(2 / 3)]
    assert scores.weighted_accuracy.value == pytest.approx(np.mean([(0.7 * 2 + 0) / 1.7, (0.7 + 0.3) / 1.7]))
    assert scores.per_seed[0].weighted_accuracy == pytest.approx(1.4 / 1.7)
    assert scores.weighted_accuracy_seed_std > 0
    other = _outcome("o", [[0, 1, 0, 1], [0, 1, 0, 1]])
    diff = difference(other, outcome)
    assert diff.value > 0 and diff.n_images == 3


def test_outcome_ensemble_averages_probabilities():
    outcome = _outcome("m", [[0, 1, 0, 1], [1, 1, 0, 0]])
    outcome.probabilities = [[[0.9, 0.1], [0.4, 0.6], [0.6, 0.4], [0.2, 0.8]],
                             [[0.3, 0.7], [0.2, 0.8], [0.7, 0.3], [0.6, 0.4]]]
    ensemble = outcome.ensemble()
    assert ensemble.predictions == [[0, 1, 0, 1]] and len(ensemble.seeds) == 1


def test_cluster_bootstrap_equals_the_image_bootstrap_when_each_image_is_its_own_group():
    rng = np.random.default_rng(5)
    correct = (rng.random((2, 60)) < 0.7).astype(float)
    weights = np.where(rng.random(60) < 0.5, 0.7, 0.3)
    names = [f"photo{i}" for i in range(60)]
    assert bootstrap(correct, weights, groups=names) == bootstrap(correct, weights)
    other = (rng.random((2, 60)) < 0.5).astype(float)
    assert paired_difference(correct, other, weights, groups=names) == paired_difference(correct, other, weights)


def test_cluster_bootstrap_widens_the_interval_when_a_series_stands_or_falls_together():
    # 12 series of 10 near-identical frames: a series is right or wrong as a whole, so there are 12 cases, not 120
    series_right = np.array([1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0], dtype=float)
    correct = np.repeat(series_right, 10)
    groups = np.repeat([f"device{g}/flatfield" for g in range(12)], 10)
    images, clusters = bootstrap(correct), bootstrap(correct, groups=groups)
    assert clusters.value == images.value
    assert (clusters.high - clusters.low) > 1.8 * (images.high - images.low)
    assert clusters.n_groups == 12 and images.n_groups is None and clusters.method.startswith("cluster")
    # the Wilson bound counts series: 8 of 12 right
    assert clusters.low <= wilson(8, 12)[0] + 1e-12
    other = np.repeat(np.array([1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0], dtype=float), 10)
    paired_images, paired_clusters = paired_difference(correct, other), paired_difference(correct, other, groups=groups)
    assert (paired_clusters.high - paired_clusters.low) > 1.8 * (paired_images.high - paired_images.low)


def test_groups_must_name_every_image():
    with pytest.raises(ValueError, match="one group id per image"):
        bootstrap(np.ones(5), groups=["a", "b"])


def _series_outcome(rows, seeds=(0, 1, 2)) -> Outcome:
    """12 flat fields of two devices (two series) and 4 natural photos (four series); rows: [seed] of 0/1."""
    images = [f"flatfield/Nikon_D70_{d}_{s}.JPG" for d in (1, 2) for s in range(6)] + [f"natural/Nikon_D70_1_{s}.JPG" for s in range(4)]
    return Outcome(label="x", classes=["Nikon_D70", "Nikon_D200"], seeds=list(seeds), images=images,
                   cameras=["Nikon_D70"] * 16, manipulations=["unalt"] * 16,
                   predictions=[[0 if right else 1 for right in row] for row in rows])


def test_outcomes_carry_photo_series_into_every_interval():
    right = [1] * 6 + [0] * 6 + [1, 0, 1, 1]
    outcome = _series_outcome([right], seeds=(0,))
    assert len(set(outcome.groups)) == 6
    scores = outcome.scores()
    assert scores.accuracy.n_groups == 6 and scores.accuracy == bootstrap(np.array(right, float), groups=outcome.groups)
    assert outcome.subset([True] * 12 + [False] * 4).groups == outcome.groups[:12]
    assert difference(outcome, outcome).n_groups == 6
    naturals = np.arange(16) >= 12  # each its own series: the image bootstrap
    assert outcome.accuracy(naturals) == bootstrap(np.array(right, float)[naturals])


def test_flagged_seeds_stay_out_of_pooled_figures():
    good, bad = [1] * 16, [0] * 16
    outcome = _series_outcome([good, good, bad], seeds=(0, 1, 2))
    kept = outcome.evidence({0: "", 1: "", 2: "main (seed 2) did not learn"})
    assert kept.seeds == [0, 1] and kept.scores().accuracy.value == 1.0
    assert kept.scores().seeds_left_out == {2: "main (seed 2) did not learn"}
    assert kept.scores().left_out_text() == kept.left_out_text()
    assert kept.left_out_text() == "1 of 3 seeds left out as not evidence: main (seed 2) did not learn"
    assert outcome.evidence({0: "", 1: ""}) is outcome and outcome.left_out_text() == ""
    every = {seed: f"seed {seed} did not learn" for seed in (0, 1, 2)}
    assert outcome.evidence(every).seeds == [0, 1, 2]  # nothing would remain: kept, claims are blocked elsewhere
