"""Which writes can make an assertion false, and which key narrows the check to the changed rows.

Every table reference in the violation query is an *occurrence* with a polarity:

* ``+`` (monotone): more rows can only add violations, so INSERT (and the new side of UPDATE)
  can violate; the top-level tables of ``NOT EXISTS (q)`` and tables two ``NOT`` levels down.
* ``-`` (anti-monotone): fewer rows can only add violations, so DELETE (and the old side of
  UPDATE) can violate; tables under one ``NOT EXISTS`` / ``NOT IN`` (anti-joins).
* ``0`` (mixed): anything else (outer joins, scalar subqueries, CASE...): every operation.

The *key* is an equivalence class of equi-join/correlation columns with a column on every
occurrence (Oracle's JOIN_COLUMN_VALUES). Every violating combination of rows agrees on it, so
a change can only create violations for its own key values: the check is restricted to them and
concurrent writers lock them. Without a key the check is the full query under a table-level lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sqlglot import exp

from skybridge.apps.assertions.model import Assertion
from skybridge.apps.assertions.violation import violation_query

Op = Literal["INSERT", "UPDATE", "DELETE"]
OPS: tuple[Op, ...] = ("INSERT", "UPDATE", "DELETE")


@dataclass
class Occurrence:
    """One table reference: ``table`` under ``alias``, its polarity and the columns it reads."""

    table: str
    alias: str
    polarity: int
    top_level: bool
    node: exp.Table
    columns: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Delta:
    """One part of an incremental check.

    ``kind`` is ``rows`` (replace occurrence ``occurrence`` by the changed rows), ``keys``
    (restrict the violation query to the key values of the ``side`` rows) or ``full``.
    """

    kind: Literal["rows", "keys", "full"]
    side: Literal["old", "new"] = "new"
    occurrence: int = -1


@dataclass
class Analysis:
    """Everything the compilers need to know about one assertion."""

    assertion: Assertion
    violation: exp.Select
    occurrences: list[Occurrence]
    key: dict[int, str] | None

    @property
    def lock_scope(self) -> str:
        """``none`` (one row decides), ``key:<cols>`` (lock key values) or ``table``."""
        only = self.occurrences[0] if len(self.occurrences) == 1 else None
        if only is not None and only.top_level and only.polarity == 1:
            return "none"
        if self.key is None:
            return "table"
        cols = sorted({f"{self.occurrences[i].table}.{c}" for i, c in self.key.items()})
        return "key:" + ",".join(cols)

    @property
    def tables(self) -> list[str]:
        return sorted({o.table for o in self.occurrences})

    def key_columns(self, table: str) -> list[str]:
        """The key columns of ``table`` (one per distinct column over its occurrences)."""
        if self.key is None:
            return []
        return sorted({c for i, c in self.key.items() if self.occurrences[i].table == table})

    def key_anchor(self) -> tuple[str, str] | None:
        """(alias, column) of a top-level occurrence to restrict the violation query with."""
        if self.key is None:
            return None
        for i, col in sorted(self.key.items()):
            if self.occurrences[i].top_level:
                return self.occurrences[i].alias, col
        return None

    def deltas(self, table: str, op: Op) -> list[Delta]:
        """The checks a statement doing ``op`` on ``table`` needs (empty: it cannot violate)."""
        out: list[Delta] = []
        for index, occ in enumerate(self.occurrences):
            if occ.table != table:
                continue
            if op in ("INSERT", "UPDATE") and occ.polarity >= 0:
                if occ.top_level and occ.polarity == 1:
                    out.append(Delta("rows", "new", index))
                else:
                    out.append(self._keyed("new"))
            if op in ("DELETE", "UPDATE") and occ.polarity <= 0:
                out.append(self._keyed("old"))
        if any(d.kind == "full" for d in out):
            return [Delta("full")]
        return list(dict.fromkeys(out))

    def _keyed(self, side: Literal["old", "new"]) -> Delta:
        return Delta("keys", side) if self.key_anchor() is not None else Delta("full")

    def update_columns(self, table: str) -> list[str]:
        """Columns of ``table`` whose update can matter (the assertion reads them)."""
        return sorted({c for o in self.occurrences if o.table == table for c in o.columns})

    def guarded(self) -> dict[str, list[Op]]:
        """Per table, the operations that can violate the assertion."""
        return {t: [op for op in OPS if self.deltas(t, op)] for t in self.tables}

    def shared_table(self) -> str | None:
        """The table whose writers may hold a key's lock together, or ``None``.

        Writers of a table that occurs once, and whose every check is ``rows`` (its changed
        rows against the *other* tables), cannot break the rule together: a violating
        combination holds one row of that table, checked by the one writer that wrote it.
        They only need to exclude writers of the other tables, which lock the key alone. At
        most one table is chosen (two such tables would read each other); a top-level one
        first, as it is usually the busy one (``ALL (SELECT * FROM tickets) SATISFY ...``).
        """
        candidates = [
            o
            for o in self.occurrences
            if sum(1 for x in self.occurrences if x.table == o.table) == 1
            and self.guarded()[o.table]
            and all(d.kind == "rows" for op in OPS for d in self.deltas(o.table, op))
        ]
        candidates.sort(key=lambda o: (not o.top_level, o.table))
        return candidates[0].table if candidates else None


def analyse(assertion: Assertion) -> Analysis:
    """Analyse ``assertion`` (see the module docstring)."""
    violation = violation_query(assertion)
    projection = violation.expressions
    violation.set("expressions", [exp.Literal.number(1)])  # the projection decides nothing
    occurrences = [_occurrence(violation, t) for t in violation.find_all(exp.Table)]
    scopes = _scopes(violation, occurrences)
    _assign_columns(violation, occurrences, scopes)
    key = _covering_key(violation, occurrences, scopes)
    violation.set("expressions", _report_columns(occurrences) or projection)
    return Analysis(assertion, violation, occurrences, key)


def _report_columns(occs: list[Occurrence]) -> list[exp.Expr]:
    """What a violation reports: the columns the assertion reads on its top-level tables."""
    return [
        exp.alias_(exp.column(col, table=occ.alias), f"{occ.alias}.{col}", quoted=True)
        for occ in occs
        if occ.top_level
        for col in sorted(occ.columns - {"*"})
    ]


def _occurrence(root: exp.Select, table: exp.Table) -> Occurrence:
    polarity, top = _polarity(root, table)
    return Occurrence(table.name.lower(), table.alias_or_name, polarity, top, table)


def _polarity(root: exp.Select, table: exp.Table) -> tuple[int, bool]:
    sign, top = 1, True
    node: exp.Expr = table
    passthrough = (exp.From, exp.Where, exp.And, exp.Or, exp.Paren, exp.Subquery, exp.Exists)
    while node is not root:
        parent = node.parent
        if parent is None:
            return 0, False
        if isinstance(parent, exp.Join):
            if parent.side or parent.args.get("kind", "").upper() in ("FULL", "OUTER"):
                sign = 0
        elif isinstance(parent, exp.Select):
            if parent.args.get("limit") or parent.args.get("offset"):
                sign = 0
            if node.arg_key not in ("from_", "joins", "where"):
                sign = 0
            if parent is not root:
                top = False
        elif isinstance(parent, exp.Not):
            sign = -sign
        elif isinstance(parent, exp.In):
            if node.arg_key != "query":
                sign = 0
        elif not isinstance(parent, passthrough):
            sign = 0
        node = parent
    return sign, top


def _scopes(root: exp.Select, occs: list[Occurrence]) -> dict[int, list[int]]:
    """Map id(select) -> indexes of the occurrences it reads from directly."""
    scopes: dict[int, list[int]] = {id(s): [] for s in root.find_all(exp.Select)}
    for index, occ in enumerate(occs):
        select = occ.node.find_ancestor(exp.Select)
        if select is not None:
            scopes.setdefault(id(select), []).append(index)
    return scopes


def _resolve(column: exp.Column, occs: list[Occurrence], scopes: dict[int, list[int]]) -> list[int]:
    """Occurrences a column may belong to (several only for an ambiguous unqualified name)."""
    select = column.find_ancestor(exp.Select)
    while select is not None:
        here = scopes.get(id(select), [])
        if column.table:
            match = [i for i in here if occs[i].alias == column.table]
            if match:
                return match
        elif here:
            return here
        select = select.find_ancestor(exp.Select)
    return []


def _assign_columns(root: exp.Select, occs: list[Occurrence], scopes: dict[int, list[int]]) -> None:
    for column in root.find_all(exp.Column):
        for index in _resolve(column, occs, scopes):
            occs[index].columns.add(column.name.lower())
    for select in root.find_all(exp.Select):
        if any(isinstance(e, exp.Star) for e in select.expressions):
            for index in scopes.get(id(select), []):
                occs[index].columns.add("*")


def _covering_key(
    root: exp.Select, occs: list[Occurrence], scopes: dict[int, list[int]]
) -> dict[int, str] | None:
    parent: dict[tuple[int, str], tuple[int, str]] = {}

    def find(x: tuple[int, str]) -> tuple[int, str]:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for left, right in _equalities(root):
        a, b = _resolve(left, occs, scopes), _resolve(right, occs, scopes)
        if len(a) == 1 and len(b) == 1:
            parent[find((a[0], left.name.lower()))] = find((b[0], right.name.lower()))
    classes: dict[tuple[int, str], dict[int, str]] = {}
    for member in list(parent):
        classes.setdefault(find(member), {}).setdefault(member[0], member[1])
    for _, members in sorted(classes.items()):
        if len(members) == len(occs):
            return dict(sorted(members.items()))
    return None


def _equalities(root: exp.Select) -> list[tuple[exp.Column, exp.Column]]:
    """Column = column conjuncts of every WHERE and inner-join ON (they hold for every match)."""
    pairs: list[tuple[exp.Column, exp.Column]] = []
    for select in root.find_all(exp.Select):
        conds = [select.args["where"].this] if select.args.get("where") else []
        for join in select.args.get("joins") or []:
            if not join.side and join.args.get("on") is not None:
                conds.append(join.args["on"])
        for cond in conds:
            for part in cond.flatten() if isinstance(cond, exp.And) else [cond]:
                part = part.unnest()
                is_eq = isinstance(part, exp.EQ) and isinstance(part.this, exp.Column)
                if is_eq and isinstance(part.expression, exp.Column):
                    pairs.append((part.this, part.expression))
    return pairs
