"""ALS training and the per-user fold-in, checked against implicit's own ``recalculate_user``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import csr_matrix

from skybridge.apps.recommend.model import AlsParams, ItemFactors, als_model, train_als
from skybridge.core.errors import ValidationError

PARAMS = AlsParams(factors=6, regularization=0.1, alpha=2.0, iterations=6)


def random_weights(seed: int, users: int = 30, items: int = 25) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, float]] = {}
    for u in range(users):
        chosen = rng.choice(items, size=int(rng.integers(2, 8)), replace=False)
        out[f"u{u:02d}"] = {f"i{i:02d}": float(rng.choice([1.0, 2.0, 4.0])) for i in chosen}
    return out


@pytest.fixture(scope="module")
def fitted() -> tuple[ItemFactors, object]:
    """Our factors and implicit's model fitted on the same matrix (same seed)."""
    weights = random_weights(1)
    factors, _ = train_als(weights, PARAMS)
    users = sorted(weights)
    matrix = _matrix([weights[u] for u in users], factors.ids)
    model = als_model(PARAMS)
    model.fit(matrix, show_progress=False)
    return factors, model


def _matrix(rows: list[dict[str, float]], items: list[str]) -> csr_matrix:
    col = {i: n for n, i in enumerate(items)}
    data, r, c = [], [], []
    for n, row in enumerate(rows):
        for item, w in row.items():
            if item in col:
                data.append(w)
                r.append(n)
                c.append(col[item])
    return csr_matrix((np.array(data, dtype=np.float32), (r, c)), shape=(len(rows), len(items)))


def test_training_matches_implicit_on_the_same_matrix(fitted: tuple[ItemFactors, object]) -> None:
    factors, model = fitted
    assert np.allclose(factors.factors, model.item_factors, atol=1e-5)  # type: ignore[attr-defined]


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([f"i{i:02d}" for i in range(25)] + ["unknown"]),
        st.sampled_from([0.5, 1.0, 2.0, 4.0, 9.0]),
        min_size=1,
        max_size=12,
    )
)
def test_fold_in_equals_implicit_recalculate_user(
    fitted: tuple[ItemFactors, object], weights: dict[str, float]
) -> None:
    factors, model = fitted
    ours = factors.fold_in(weights)
    known = {i: w for i, w in weights.items() if i in factors.index}
    if not known:
        assert ours is None
        return
    theirs = model.recalculate_user(0, _matrix([known], factors.ids))  # type: ignore[attr-defined]
    assert ours is not None
    np.testing.assert_allclose(ours, theirs, rtol=2e-3, atol=2e-4)


def test_fold_in_ranks_like_a_retrained_user(fitted: tuple[ItemFactors, object]) -> None:
    """A user's folded-in vector is close to the factor ALS fitted for them (same data)."""
    factors, model = fitted
    weights = random_weights(1)
    user_factors = model.user_factors  # type: ignore[attr-defined]
    cosines = []
    for n, user in enumerate(sorted(weights)):
        ours = factors.fold_in(weights[user])
        assert ours is not None
        fitted_user = user_factors[n]
        cosines.append(ours @ fitted_user / np.linalg.norm(ours) / np.linalg.norm(fitted_user))
    assert np.median(cosines) > 0.95


def test_decay_moves_toward_the_new_item() -> None:
    factors = ItemFactors(["a", "b"], np.eye(2, dtype=np.float32), PARAMS.__class__(2, 0.1, 1, 1))
    first = factors.decayed(None, "a", 1.0, 0.9)
    assert first is not None
    np.testing.assert_allclose(first, [1.0, 0.0])
    moved = factors.decayed(first, "b", 1.0, 0.9)
    assert moved is not None
    np.testing.assert_allclose(moved, [0.9, 0.1], rtol=1e-6)
    assert factors.decayed(moved, "unknown", 1.0, 0.9) is moved


def test_training_needs_interactions() -> None:
    with pytest.raises(ValidationError, match="no interactions"):
        train_als({}, PARAMS)
