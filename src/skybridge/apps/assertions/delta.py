"""Build incremental check queries: the violation query narrowed to what a statement changed."""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from skybridge.apps.assertions.analysis import Analysis, Delta

#: Given a key column of the changed table, the expression(s) giving the changed key values.
KeySource = Callable[[str], exp.Expr]


def replace_occurrence(violation: exp.Select, index: int, source: exp.Expr) -> exp.Select:
    """A copy of ``violation`` whose ``index``-th table reference reads ``source`` instead."""
    copy = violation.copy()
    target = list(copy.find_all(exp.Table))[index]
    alias = target.alias_or_name
    if isinstance(source, exp.Table):
        replacement: exp.Expr = exp.Table(
            this=source.this.copy(), alias=exp.TableAlias(this=exp.to_identifier(alias))
        )
    else:
        replacement = exp.Subquery(this=source, alias=exp.TableAlias(this=exp.to_identifier(alias)))
    target.replace(replacement)
    return copy


def with_condition(violation: exp.Select, condition: exp.Expr) -> exp.Select:
    """A copy of ``violation`` with ``condition`` ANDed into its top-level WHERE."""
    return violation.copy().where(condition, append=True)


def anchor_column(analysis: Analysis) -> exp.Column:
    anchor = analysis.key_anchor()
    assert anchor is not None
    return exp.column(anchor[1], table=anchor[0])


def delta_queries(
    analysis: Analysis,
    deltas: list[Delta],
    rows: Callable[[Delta], exp.Select],
    keys: Callable[[Delta], exp.Expr],
) -> list[exp.Select]:
    """One query per delta: ``rows`` builds the row-substituted form, ``keys`` the key filter."""
    out: list[exp.Select] = []
    for delta in deltas:
        if delta.kind == "full":
            out.append(analysis.violation.copy())
        elif delta.kind == "rows":
            out.append(rows(delta))
        else:
            out.append(with_condition(analysis.violation, keys(delta)))
    return out


def union_all(queries: list[exp.Select]) -> exp.Query:
    """``q1 UNION ALL q2 ...`` (a single query stays itself)."""
    result: exp.Query = queries[0]
    for query in queries[1:]:
        result = exp.union(result, query, distinct=False)
    return result
