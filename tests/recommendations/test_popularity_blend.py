"""The popularity prior: a customer's products ranked by z(ALS score) + blend * z(log
popularity), through one more factor on each side so that implicit ranks them; the blend
chosen on a validation split of the training data."""

import numpy as np
import pytest
import scipy.sparse as sp

from personalization.recommendations.metrics import holdout_halves
from personalization.recommendations.training import (
    BLENDS,
    DEFAULTS,
    PopularityBlend,
    als_fit,
    blend_choose,
    holdout_split,
    hyperparameters_for,
)

RNG = np.random.default_rng(7)
USERS, ITEMS, FACTORS = 6, 30, 4


class Factors:
    """What an implicit model is to the blend: its two factor matrices."""

    def __init__(self, users, items):
        self.user_factors, self.item_factors = users, items


@pytest.fixture
def factors():
    return Factors(RNG.normal(size=(USERS, FACTORS)), RNG.normal(size=(ITEMS, FACTORS)))


@pytest.fixture
def popularity():
    return RNG.integers(1, 500, size=ITEMS).astype(np.float32)


def _z(values):
    return (values - values.mean()) / values.std()


def _order(scores):
    return list(np.argsort(-scores, kind="stable"))


def test_the_blended_scores_rank_as_the_z_scored_als_score_plus_the_weighted_prior(factors, popularity):
    blend = PopularityBlend.of(factors.item_factors, popularity, 1.0)

    for user in factors.user_factors:
        expected = _z(factors.item_factors @ user) + 1.0 * _z(np.log1p(popularity))
        assert _order(blend.scores(user, factors.item_factors)) == _order(expected)


def test_the_extra_factor_ranks_many_users_as_the_blended_scores_rank_each(factors, popularity):
    blend = PopularityBlend.of(factors.item_factors, popularity, 0.5)

    ranking = blend.ranking_model(factors)

    assert ranking.user_factors.shape == (USERS, FACTORS + 1)
    for user, extended in zip(factors.user_factors, ranking.user_factors, strict=True):
        assert _order(ranking.item_factors @ extended) == _order(blend.scores(user, factors.item_factors))


def test_a_blend_of_zero_is_als_alone(factors, popularity):
    blend = PopularityBlend.of(factors.item_factors, popularity, 0.0)

    assert blend.ranking_model(factors) is factors
    user = factors.user_factors[0]
    assert np.array_equal(blend.scores(user, factors.item_factors), factors.item_factors @ user)


def _shop(steepness: float) -> sp.csr_matrix:
    """600 customers, each with a taste over 6 categories, picking 10 of 100 products by
    taste times popularity; popularity falls with rank ** -steepness (0: all alike)."""
    rng = np.random.default_rng(3)
    popularity = 1 / np.arange(1, 101) ** steepness
    rng.shuffle(popularity)
    category = np.arange(100) % 6
    rows, cols = [], []
    for user in range(600):
        chance = popularity * rng.dirichlet(np.full(6, 0.3))[category]
        rows += [user] * 10
        cols += list(rng.choice(100, size=10, replace=False, p=chance / chance.sum()))
    return sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(600, 100))


def _chosen(matrix: sp.csr_matrix) -> float:
    """The blend chosen as training chooses it: on half of the held-out customers."""
    train, test = holdout_split(matrix, seed=42)
    model = als_fit(train, hyperparameters_for(train, {"factors": 8}))
    choosing, _ = holdout_halves(test, choose=600, judge=0)
    return blend_choose(model, train, test, choosing)


def test_where_people_pick_the_popular_products_of_their_taste_the_prior_earns_a_blend():
    assert _chosen(_shop(steepness=1.2)) in set(BLENDS) - {0.0}


def test_where_popularity_says_nothing_als_is_kept_alone():
    assert _chosen(_shop(steepness=0.0)) == 0.0


def test_the_prior_is_what_a_fitted_model_is_blended_with():
    matrix = _shop(steepness=1.2)
    model = als_fit(matrix, {**DEFAULTS, **hyperparameters_for(matrix), "factors": 8})

    ranking = PopularityBlend.of(model.item_factors, np.asarray(matrix.sum(axis=0)).ravel(), 1.0).ranking_model(model)

    assert ranking.item_factors.shape == (100, 9)
    assert np.allclose(ranking.item_factors[:, -1], _z(np.log1p(np.asarray(matrix.sum(axis=0)).ravel())), atol=1e-5)
