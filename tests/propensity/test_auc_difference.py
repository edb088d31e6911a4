"""auc_difference: one model's AUC minus another's on the same customers, with a paired
bootstrap interval, checked on inputs whose AUCs are known by hand."""

import numpy as np
import pytest

from personalization.propensity.training import auc_difference

Y = np.array([0, 0, 0, 1, 1, 1] * 5)


def test_a_perfect_model_against_a_reversed_one_differs_by_one_on_every_draw():
    perfect = Y + 0.1 * np.arange(len(Y)) / len(Y)  # every buyer above every non-buyer
    reversed_ = -perfect

    gap = auc_difference(Y, perfect, reversed_, resamples=200)

    assert (gap["difference"], gap["low"], gap["high"]) == (1.0, 1.0, 1.0)


def test_a_model_against_itself_differs_by_nothing():
    scores = np.random.default_rng(1).random(len(Y))

    gap = auc_difference(Y, scores, scores, resamples=200)

    assert (gap["difference"], gap["low"], gap["high"]) == (0.0, 0.0, 0.0)


def test_the_difference_is_that_of_the_two_aucs_computed_by_hand():
    y = np.array([0, 0, 1, 1])
    ours = np.array([0.1, 0.4, 0.35, 0.8])  # pairs (buyer above non-buyer): 3 of 4, AUC 0.75
    theirs = np.array([0.5, 0.4, 0.3, 0.6])  # 2 of 4, AUC 0.5

    gap = auc_difference(y, ours, theirs, resamples=500)

    assert gap["difference"] == pytest.approx(0.25)
    assert gap["low"] <= 0.25 <= gap["high"]
    assert 0 < gap["resamples"] <= 500  # draws with one class only have no AUC and are left out
