"""Normalise every assertion to its violation query: the rows that prove it false.

* ``NOT EXISTS (q)`` is violated by the rows of ``q``.
* ``EXISTS (q)`` is violated when ``q`` has no row: ``SELECT 1 WHERE NOT EXISTS (q)``.
* ``ALL (q) a SATISFY (c)`` is violated by the rows of ``q`` for which ``c`` is FALSE. A NULL
  (UNKNOWN) condition is *not* a violation: that is SQL CHECK semantics, and the standard says an
  assertion is violated only when its condition is False. ``WHERE NOT (c)`` keeps exactly the
  rows where ``c`` is FALSE, so it agrees with ``NOT EXISTS (SELECT 1 FROM (q) a WHERE NOT (c))``
  (:func:`naive_violation`), which the tests check on random data.

When ``q`` is a plain select, ``c`` is merged into its WHERE (references to the row alias become
the projected expressions), so the analysis sees base tables and join keys instead of an opaque
derived table.
"""

from __future__ import annotations

from sqlglot import exp

from skybridge.apps.assertions.grammar import AllSatisfy
from skybridge.apps.assertions.model import Assertion
from skybridge.core.errors import ValidationError

_NOT_MERGEABLE = ("distinct", "group", "having", "limit", "offset", "order", "with")


def violation_query(assertion: Assertion) -> exp.Select:
    """The query whose rows violate ``assertion`` (no rows: the assertion holds)."""
    cond = assertion.condition
    if isinstance(cond, exp.Not):
        return _as_select(assertion.name, cond.this.this)
    if isinstance(cond, exp.Exists):
        inner = _as_select(assertion.name, cond.this)
        return exp.select(exp.alias_(exp.Literal.number(1), "missing")).where(
            exp.not_(exp.Exists(this=inner))
        )
    assert isinstance(cond, AllSatisfy)
    query = _as_select(assertion.name, cond.this)
    if any(query.args.get(k) for k in _NOT_MERGEABLE) or _has_derived(query):
        return _derived_violation(cond, _row_alias(assertion.name, cond, query))
    return _merged_violation(assertion.name, cond, query)


def naive_violation(assertion: Assertion) -> exp.Select:
    """The textbook rewrite ``SELECT 1 FROM (q) a WHERE NOT (c)`` (for differential tests)."""
    cond = assertion.condition
    if not isinstance(cond, AllSatisfy):
        return violation_query(assertion)
    query = _as_select(assertion.name, cond.this)
    return _derived_violation(cond, _row_alias(assertion.name, cond, query))


def _as_select(name: str, node: exp.Expr) -> exp.Select:
    if isinstance(node, exp.Subquery):
        node = node.this
    if not isinstance(node, exp.Select):
        raise ValidationError(f"assertion {name}: the subquery must be a SELECT (no UNION/VALUES)")
    return node.copy()


def _has_derived(query: exp.Select) -> bool:
    sources = [query.args["from_"].this] if query.args.get("from_") else []
    sources += [j.this for j in query.args.get("joins") or []]
    return any(not isinstance(s, exp.Table) for s in sources)


def _row_alias(name: str, cond: AllSatisfy, query: exp.Select) -> str:
    if cond.args.get("alias") is not None:
        return str(cond.args["alias"].name)
    tables = list(_source_tables(query))
    if len(tables) != 1:
        raise ValidationError(
            f"assertion {name}: ALL (subquery) SATISFY over a join needs an alias after the "
            "subquery, or column references qualified by the joined tables"
        )
    return tables[0].name


def _source_tables(query: exp.Select) -> list[exp.Table]:
    sources: list[exp.Expr] = [query.args["from_"].this] if query.args.get("from_") else []
    sources += [j.this for j in query.args.get("joins") or []]
    return [s for s in sources if isinstance(s, exp.Table)]


def _derived_violation(cond: AllSatisfy, alias: str) -> exp.Select:
    derived = exp.Subquery(
        this=cond.this.copy(), alias=exp.TableAlias(this=exp.to_identifier(alias))
    )
    return (
        exp.select(exp.Star())
        .from_(derived)
        .where(exp.not_(exp.paren(cond.args["condition"].copy())))
    )


def _merged_violation(name: str, cond: AllSatisfy, query: exp.Select) -> exp.Select:
    condition = cond.args["condition"].copy()
    alias = cond.args.get("alias")
    tables = _source_tables(query)
    if alias is not None:
        condition = _resolve_row_refs(condition, alias.name, query, tables)
    elif len(tables) == 1:
        # No alias: the single table names the row; its alias inside q may differ from its name.
        table = tables[0]
        if table.alias and table.alias != table.name:
            condition = _requalify(condition, table.name, table.alias)
    return query.where(exp.not_(exp.paren(condition)))


def _resolve_row_refs(
    cond: exp.Expr, row: str, query: exp.Select, tables: list[exp.Table]
) -> exp.Expr:
    projected = {e.alias_or_name: e for e in query.expressions if not isinstance(e, exp.Star)}
    star = any(isinstance(e, exp.Star) for e in query.expressions) or not projected
    single = tables[0].alias_or_name if len(tables) == 1 else None

    def swap(node: exp.Expr) -> exp.Expr:
        if not (isinstance(node, exp.Column) and node.table == row):
            return node
        found = projected.get(node.name)
        if found is not None:
            inner = found.this if isinstance(found, exp.Alias) else found
            return exp.paren(inner.copy()) if not isinstance(inner, exp.Column) else inner.copy()
        if star and single:
            return exp.column(node.name, table=single)
        raise ValidationError(f"column {node.sql()} is not projected by the ALL subquery")

    return cond.transform(swap)


def _requalify(cond: exp.Expr, old: str, new: str) -> exp.Expr:
    def swap(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column) and node.table == old and _outermost(node, cond):
            return exp.column(node.name, table=new)
        return node

    return cond.transform(swap)


def _outermost(node: exp.Expr, root: exp.Expr) -> bool:
    """True unless a subquery between ``node`` and ``root`` has its own source named like it."""
    parent = node.parent
    while parent is not None and parent is not root:
        if isinstance(parent, exp.Select) and any(
            t.alias_or_name == getattr(node, "table", None) for t in _source_tables(parent)
        ):
            return False
        parent = parent.parent
    return True
