"""Item factors from implicit-feedback ALS (PyPI ``implicit``) and the per-user fold-in.

Training learns user and item factors from a (users x items) matrix of summed event weights;
only the item factors are kept. A user's vector is then computed from their own weights against
those fixed item factors, with the same least-squares solve implicit's ``recalculate_user``
does (confidence ``c = alpha * weight``)::

    x_u = (YᵀY + Yᵀ(C_u - I)Y + λI)⁻¹ Yᵀ C_u p_u

so a user is up to date after every event without retraining. ``decay`` is the cheaper
alternative: the user vector moves toward each new item's vector by ``1 - decay``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from skybridge.core.errors import MissingDependency, ValidationError

Matrix = npt.NDArray[np.float32]


@dataclass(frozen=True)
class AlsParams:
    """Hyperparameters of one training (the fold-in uses the same)."""

    factors: int
    regularization: float
    alpha: float
    iterations: int
    random_state: int = 42


class ItemFactors:
    """A trained model's item ids and factor matrix, with ``YᵀY`` for fold-ins."""

    def __init__(self, ids: list[str], factors: Matrix, params: AlsParams) -> None:
        if factors.shape != (len(ids), params.factors):
            raise ValidationError(f"factor matrix {factors.shape} does not match {len(ids)} items")
        self.ids = ids
        self.factors = np.ascontiguousarray(factors, dtype=np.float32)
        self.params = params
        self.index = {item: n for n, item in enumerate(ids)}
        self.gram = self.factors.T.astype(np.float64) @ self.factors.astype(np.float64)
        norms = np.linalg.norm(self.factors, axis=1, keepdims=True)
        self.unit = self.factors / np.where(norms == 0, 1.0, norms)

    def vector(self, item: str) -> Matrix | None:
        n = self.index.get(item)
        return None if n is None else self.factors[n]

    def fold_in(self, weights: Mapping[str, float]) -> Matrix | None:
        """The least-squares user vector for summed event ``weights`` by item (``None`` when no
        weighted item is in the model)."""
        rows = [(self.index[i], w) for i, w in weights.items() if i in self.index and w]
        if not rows:
            return None
        params = self.params
        y = self.factors[[n for n, _ in rows]].astype(np.float64)
        confidence = params.alpha * np.array([w for _, w in rows], dtype=np.float64)
        a = self.gram + params.regularization * np.eye(params.factors)
        a += (y.T * (np.abs(confidence) - 1.0)) @ y
        b = (np.maximum(confidence, 0.0)[:, None] * y).sum(axis=0)
        return np.linalg.solve(a, b).astype(np.float32)

    def decayed(
        self, vector: Matrix | None, item: str, weight: float, decay: float
    ) -> Matrix | None:
        """``vector`` moved toward ``item``'s factors (its weight scales the step)."""
        target = self.vector(item)
        if target is None:
            return vector
        step = min(1.0, (1.0 - decay) * weight)
        if vector is None:
            return target.copy()
        return ((1.0 - step) * vector + step * target).astype(np.float32)


def train_als(
    weights: Mapping[str, Mapping[str, float]], params: AlsParams
) -> tuple[ItemFactors, int]:
    """Item factors from per-user weights by item; also the number of (user, item) pairs.

    Raises:
        ValidationError: no interactions to learn from.
        MissingDependency: ``implicit`` is not installed.
    """
    from scipy.sparse import csr_matrix

    users = sorted(u for u, w in weights.items() if w)
    items = sorted({i for u in users for i in weights[u]})
    if not users or not items:
        raise ValidationError("there are no interactions to train on")
    column = {item: n for n, item in enumerate(items)}
    rows, cols, data = [], [], []
    for r, user in enumerate(users):
        for item, w in weights[user].items():
            rows.append(r)
            cols.append(column[item])
            data.append(w)
    matrix = csr_matrix(
        (np.array(data, dtype=np.float32), (rows, cols)), shape=(len(users), len(items))
    )
    model_class = _als_class()  # imported first: it loads the BLAS libraries limited below
    with _one_blas_thread():
        model = als_model(params, model_class)
        model.fit(matrix, show_progress=False)
    return ItemFactors(items, np.asarray(model.item_factors), params), len(data)


def _one_blas_thread() -> Any:
    """BLAS limited to one thread while ALS runs its own threads (implicit's advice)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, "blas")


def _als_class() -> Any:
    try:
        from implicit.cpu.als import AlternatingLeastSquares
    except ImportError as exc:
        raise MissingDependency("implicit", "recommend", feature="ALS training") from exc
    return AlternatingLeastSquares


def als_model(params: AlsParams, model_class: Any = None) -> Any:
    """implicit's CPU ALS with ``params``."""
    return (model_class or _als_class())(
        factors=params.factors,
        regularization=params.regularization,
        alpha=params.alpha,
        iterations=params.iterations,
        random_state=params.random_state,
    )
