"""Rebalancing to a known prior: balanced predictions stay, a biased column is corrected, bad input refused."""
import numpy as np
import pytest

from camlib.rebalance import class_quotas, quota_assignment, sinkhorn_rebalance


def softmax(logits):
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def balanced_confident(n_per_class=10, n_classes=3, seed=0):
    """(probabilities, labels): each image ~0.9 on its true class, with a little noise; column sums near equal."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), n_per_class)
    logits = 4.0 * np.eye(n_classes)[labels] + rng.normal(0, 0.1, (len(labels), n_classes))
    return softmax(logits), labels


def skewed(n_per_class=40, n_classes=4, bias=2.0, seed=1):
    """(probabilities, labels): weakly informative logits plus a bias that over-predicts class 0."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), n_per_class)
    logits = 1.5 * np.eye(n_classes)[labels] + rng.normal(0, 1.0, (len(labels), n_classes))
    logits[:, 0] += bias
    return softmax(logits), labels


def test_balanced_confident_predictions_are_unchanged():
    probabilities, labels = balanced_confident()
    assert (probabilities.argmax(1) == labels).all()
    rebalanced, argmax = sinkhorn_rebalance(probabilities)
    assert (argmax == labels).all()
    assert np.abs(rebalanced - probabilities).max() < 0.02
    assert (quota_assignment(probabilities) == labels).all()


def test_sinkhorn_fixes_an_over_predicted_class():
    probabilities, labels = skewed()
    raw_accuracy = (probabilities.argmax(1) == labels).mean()
    assert (probabilities.argmax(1) == 0).mean() > 0.5  # the bias really skews the predictions
    rebalanced, argmax = sinkhorn_rebalance(probabilities)
    np.testing.assert_allclose(rebalanced.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(rebalanced.sum(axis=0), len(labels) / 4, atol=1e-6)
    assert (argmax == labels).mean() > raw_accuracy + 0.15, ((argmax == labels).mean(), raw_accuracy)


def test_quota_assignment_fixes_an_over_predicted_class():
    probabilities, labels = skewed()
    raw_accuracy = (probabilities.argmax(1) == labels).mean()
    assigned = quota_assignment(probabilities)
    assert np.bincount(assigned, minlength=4).tolist() == [40, 40, 40, 40]
    assert (assigned == labels).mean() > raw_accuracy + 0.15, ((assigned == labels).mean(), raw_accuracy)


def test_quotas_when_images_do_not_divide_evenly():
    probabilities, labels = skewed(n_per_class=10, n_classes=3)
    probabilities, labels = probabilities[:-2], labels[:-2]  # 28 images, 3 classes
    assert class_quotas(28, np.full(3, 1 / 3)).tolist() == [10, 10, 10]
    counts = np.bincount(quota_assignment(probabilities), minlength=3)
    assert counts.sum() == 28 and counts.max() <= 10 and counts.min() >= 8


def test_a_non_uniform_prior_is_matched():
    probabilities, _ = skewed(n_per_class=25, n_classes=4)
    prior = np.array([0.1, 0.2, 0.3, 0.4])
    rebalanced, _ = sinkhorn_rebalance(probabilities, prior)
    np.testing.assert_allclose(rebalanced.sum(axis=0), prior * 100, atol=1e-6)
    assert np.bincount(quota_assignment(probabilities, prior), minlength=4).tolist() == [10, 20, 30, 40]


@pytest.mark.parametrize("probabilities, prior, words", [
    (np.ones(4) / 4, None, "N x C"),
    (np.array([[0.5, 0.5], [1.2, -0.2]]), None, "non-negative"),
    (np.array([[0.5, 0.4], [0.5, 0.5]]), None, "sum to 1"),
    (np.array([[0.5, 0.5], [0.5, 0.5]]), [0.6, 0.6], "prior must sum to 1"),
    (np.array([[0.5, 0.5], [0.5, 0.5]]), [1.0], "one value per class"),
    (np.array([[1.0, 0.0], [1.0, 0.0]]), None, "zero probability"),
])
def test_bad_input_gives_one_line(probabilities, prior, words):
    with pytest.raises(ValueError, match=words) as error:
        sinkhorn_rebalance(probabilities, prior)
    assert "\n" not in str(error.value)
