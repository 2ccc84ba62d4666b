"""Metadata filters and scores for the OpenSearch k-NN store.

Metadata is indexed by kind under typed fields, so a value only ever meets values of its own
kind (the filters' rules): numbers as ``m_num.<field>`` (double: ``1`` equals ``1.0``), text as
``m_str.<field>`` (keyword: ranges in code point order), booleans as ``m_bool.<field>``, and a
``null`` as the field's name in ``m_null``. The record's metadata itself is kept verbatim in
``_source.metadata`` (not indexed) and returned as written.
"""

from __future__ import annotations

import math
from typing import Any

from skybridge.backends.vectors.filters import Condition, Eq, Filter, In, Range

SPACES = {"cosine": "cosinesimil", "dot": "innerproduct", "l2": "l2"}


def typed_fields(metadata: dict[str, Any]) -> dict[str, Any]:
    """The indexed form of ``metadata``."""
    out: dict[str, Any] = {"m_num": {}, "m_str": {}, "m_bool": {}, "m_null": []}
    for key, value in metadata.items():
        if isinstance(value, bool):
            out["m_bool"][key] = value
        elif isinstance(value, int | float):
            out["m_num"][key] = float(value)
        elif isinstance(value, str):
            out["m_str"][key] = value
        elif value is None:
            out["m_null"].append(key)
    return out


def _term(field: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"term": {f"m_bool.{field}": value}}
    if isinstance(value, int | float):
        return {"term": {f"m_num.{field}": float(value)}}
    if value is None:
        return {"term": {"m_null": field}}
    return {"term": {f"m_str.{field}": value}}


def _clause(condition: Condition) -> dict[str, Any]:
    if isinstance(condition, Eq):
        return _term(condition.field, condition.value)
    if isinstance(condition, In):
        options = [_term(condition.field, v) for v in condition.values]
        return {"bool": {"should": options, "minimum_should_match": 1}}
    return _range(condition)


def _range(condition: Range) -> dict[str, Any]:
    kind = "m_num" if condition.numeric else "m_str"
    bounds = {op: float(v) if condition.numeric else v for op, v in condition.bounds()}
    return {"range": {f"{kind}.{condition.field}": bounds}}


def query_filter(flt: Filter) -> dict[str, Any]:
    """A ``bool`` filter for ``flt`` (``match_all`` when it is empty)."""
    if not flt:
        return {"match_all": {}}
    return {"bool": {"filter": [_clause(c) for c in flt.conditions]}}


def our_score(metric: str, score: float) -> float:
    """OpenSearch's k-NN score back to ours: cosine similarity, dot product or -distance."""
    if metric == "cosine":
        return 2.0 * score - 1.0
    if metric == "dot":
        return score - 1.0 if score >= 1.0 else 1.0 - 1.0 / score
    return -math.sqrt(max(1.0 / score - 1.0, 0.0))


def index_body(dimension: int, metric: str, engine: str, ef_search: int) -> dict[str, Any]:
    """The index of one collection: the article's k-NN mapping plus typed metadata."""
    method = {
        "name": "hnsw",
        "space_type": SPACES[metric],
        "engine": engine,
        "parameters": {"ef_construction": 512, "m": 16},
    }
    return {
        "settings": {"index": {"knn": True, "knn.algo_param.ef_search": ef_search}},
        "mappings": {
            "dynamic": "false",
            "dynamic_templates": [
                {"numbers": {"path_match": "m_num.*", "mapping": {"type": "double"}}},
                {"texts": {"path_match": "m_str.*", "mapping": {"type": "keyword"}}},
                {"booleans": {"path_match": "m_bool.*", "mapping": {"type": "boolean"}}},
            ],
            "properties": {
                "rid": {"type": "keyword"},
                "embedding": {"type": "knn_vector", "dimension": dimension, "method": method},
                "metadata": {"type": "object", "enabled": False},
                "m_num": {"type": "object", "dynamic": "true"},
                "m_str": {"type": "object", "dynamic": "true"},
                "m_bool": {"type": "object", "dynamic": "true"},
                "m_null": {"type": "keyword"},
            },
        },
    }
