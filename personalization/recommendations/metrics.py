"""Ranking metrics at K on held-out interactions, for training and the evaluation commands.

precision@K follows implicit.evaluation.precision_at_k (hits summed over users, divided
by the sum of min(K, held-out items)), so that figures compare with published ones;
recall, nDCG and MAP are averaged over users with held-out items; coverage is the share
of the catalog that appears in anyone's top K.
"""

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

K = 10


def ranking_metrics(
    recommend: Callable[[int], list[int]], test: sp.csr_matrix, *, products: int, k: int = K,
    users: np.ndarray | None = None,
) -> dict:  # fmt: skip
    """The metrics over `users` (default: every user with held-out items)."""
    hits_total = possible_total = 0
    recalls, ndcgs, aps, shown = [], [], [], set()
    discounts = 1 / np.log2(np.arange(2, k + 2))
    for user in holdout_users(test) if users is None else users:
        relevant = set(test[user].indices)
        ranked = recommend(int(user))[:k]
        shown.update(ranked)
        hit_flags = [item in relevant for item in ranked]
        hits = sum(hit_flags)
        hits_total += hits
        possible_total += min(k, len(relevant))
        recalls.append(hits / len(relevant))
        ideal = discounts[: min(k, len(relevant))].sum()
        ndcgs.append(sum(d for d, hit in zip(discounts, hit_flags, strict=False) if hit) / ideal)
        precisions = [sum(hit_flags[: i + 1]) / (i + 1) for i, hit in enumerate(hit_flags) if hit]
        aps.append(sum(precisions) / min(k, len(relevant)))
    return {
        f"precision@{k}": round(hits_total / possible_total, 4) if possible_total else 0.0,
        f"recall@{k}": round(float(np.mean(recalls)), 4) if recalls else 0.0,
        f"ndcg@{k}": round(float(np.mean(ndcgs)), 4) if ndcgs else 0.0,
        f"map@{k}": round(float(np.mean(aps)), 4) if aps else 0.0,
        "coverage": round(len(shown) / products, 4) if products else 0.0,
        "users": len(recalls),
    }


def holdout_users(test: sp.csr_matrix, limit: int | None = None) -> np.ndarray:
    """The users with held-out items; a seeded sample of `limit` of them when there are more."""
    users = np.flatnonzero(np.diff(test.indptr))
    if limit is not None and len(users) > limit:
        users = np.sort(np.random.default_rng(0).choice(users, limit, replace=False))
    return users
