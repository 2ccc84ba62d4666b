"""Compile an analysed assertion to SQLite row triggers.

* Immediate: ``SELECT RAISE(ABORT, 'assertion "name" violated') WHERE EXISTS (delta)`` per
  guarded (table, op); the changed row is pinned by ``rowid`` (rowid tables only) or by key.
* Deferred (SQLite has no deferred triggers): a violation ledger. Triggers on every operation
  of every table the assertion reads re-check the touched key values and keep
  ``skybridge_assertion_ledger`` holding exactly the keys that are violated right now. The ledger's
  foreign key to the always-empty ``skybridge_assertion_never`` is DEFERRABLE INITIALLY DEFERRED,
  so COMMIT fails while any row is left; :mod:`.errors` reads the ledger to name the assertion.
  This needs ``PRAGMA foreign_keys=ON`` (``create_sql_engine`` sets it). A DEFERRABLE INITIALLY
  IMMEDIATE assertion is checked immediately (SQLite has no SET CONSTRAINTS).

SQLite allows one writer at a time, so checks inside the transaction see every committed row
and no write skew is possible; no locks are needed.
"""

from __future__ import annotations

from sqlglot import exp

from skybridge.apps.assertions.analysis import OPS, Analysis, Delta, Op
from skybridge.apps.assertions.delta import anchor_column, delta_queries, with_condition
from skybridge.apps.assertions.naming import object_name as _object_name
from skybridge.apps.assertions.naming import quote_ident, quote_literal

DIALECT = "sqlite"

RUNTIME = [
    "CREATE TABLE IF NOT EXISTS skybridge_assertion_never (name TEXT PRIMARY KEY)",
    """CREATE TABLE IF NOT EXISTS skybridge_assertion_ledger (
  assertion TEXT NOT NULL REFERENCES skybridge_assertion_never (name) DEFERRABLE INITIALLY DEFERRED,
  key ANY)""",
]


def object_name(name: str, *parts: str) -> str:
    """A quoted trigger name, unique per assertion and parts (see :mod:`.naming`)."""
    return quote_ident(_object_name(name, *parts))


def compile_assertion(analysis: Analysis) -> list[str]:
    """The ``CREATE TRIGGER`` statements enforcing ``analysis.assertion``."""
    state = analysis.assertion.state
    if state.initially_deferred:
        return [_ledger_trigger(analysis, t, op) for t in analysis.tables for op in OPS]
    return [_raise_trigger(analysis, t, op) for t, ops in analysis.guarded().items() for op in ops]


def drop_assertion(analysis: Analysis) -> list[str]:
    name = analysis.assertion.name
    out = [
        f"DROP TRIGGER IF EXISTS {object_name(name, t, op)}" for t in analysis.tables for op in OPS
    ]
    out.append(f"DELETE FROM skybridge_assertion_ledger WHERE assertion = {quote_literal(name)}")
    return out


def _table_sql(analysis: Analysis, table: str) -> str:
    node = next(o.node for o in analysis.occurrences if o.table == table)
    return exp.Table(this=node.this.copy(), db=node.args.get("db")).sql(DIALECT)


def _event(analysis: Analysis, table: str, op: Op) -> str:
    cols = analysis.update_columns(table)
    if op == "UPDATE" and cols and "*" not in cols:
        return "UPDATE OF " + ", ".join(exp.to_identifier(c).sql(DIALECT) for c in cols)
    return op


def _trigger(analysis: Analysis, table: str, op: Op, body: str) -> str:
    name = object_name(analysis.assertion.name, table, op)
    return (
        f"CREATE TRIGGER {name} AFTER {_event(analysis, table, op)} "
        f"ON {_table_sql(analysis, table)} "
        f"FOR EACH ROW BEGIN\n{body}\nEND"
    )


def _key_refs(analysis: Analysis, table: str, sides: list[str]) -> list[str]:
    return [
        f"{side}.{exp.to_identifier(c).sql(DIALECT)}"
        for side in sides
        for c in analysis.key_columns(table)
    ]


def _raise_trigger(analysis: Analysis, table: str, op: Op) -> str:
    def rows(delta: Delta) -> exp.Select:
        occ = analysis.occurrences[delta.occurrence]
        pin = exp.column("rowid", table=occ.alias).eq(exp.column("rowid", table="NEW"))
        return with_condition(analysis.violation, pin)

    def keys(delta: Delta) -> exp.Expr:
        refs = _key_refs(analysis, table, ["NEW" if delta.side == "new" else "OLD"])
        values: list[exp.Expr] = [exp.maybe_parse(r, dialect=DIALECT) for r in refs]
        return exp.In(this=anchor_column(analysis), expressions=values)

    queries = delta_queries(analysis, analysis.deltas(table, op), rows, keys)
    message = quote_literal('assertion "' + analysis.assertion.name + '" violated')
    checks = " OR ".join(f"EXISTS ({q.sql(DIALECT)})" for q in queries)
    return _trigger(analysis, table, op, f"SELECT RAISE(ABORT, {message}) WHERE {checks};")


def _ledger_trigger(analysis: Analysis, table: str, op: Op) -> str:
    name = quote_literal(analysis.assertion.name)
    sides = {"INSERT": ["NEW"], "DELETE": ["OLD"]}.get(op, ["OLD", "NEW"])
    refs = _key_refs(analysis, table, sides) if analysis.key_anchor() is not None else []
    statements = []
    for ref in refs or ["'*'"]:
        query = analysis.violation
        if refs:
            anchor = anchor_column(analysis).sql(DIALECT)
            query = with_condition(query, exp.maybe_parse(f"{anchor} IS {ref}", dialect=DIALECT))
        statements += [
            f"DELETE FROM skybridge_assertion_ledger WHERE assertion = {name} AND key IS {ref};",
            f"INSERT INTO skybridge_assertion_ledger (assertion, key) SELECT {name}, {ref} "
            f"WHERE EXISTS ({query.sql(DIALECT)});",
        ]
    return _trigger(analysis, table, op, "\n".join(statements))


def full_check_sql(analysis: Analysis, limit: int = 100) -> str:
    """Up to ``limit`` violating rows (empty: the assertion holds)."""
    return f"SELECT * FROM ({analysis.violation.sql(DIALECT)}) AS q LIMIT {limit}"
