"""Run plain statements written for Oracle (as in Oracle's assertion articles) on PostgreSQL/SQLite.

Asked for explicitly (``apply --from oracle``): each plain statement is parsed as Oracle SQL by
sqlglot, adjusted where sqlglot's own translation is not enough, and generated for the target:

* ``DROP TABLE ... CASCADE CONSTRAINTS PURGE``: ``CASCADE`` on PostgreSQL, plain on SQLite;
* ``NUMBER``: an integer type for keys, identities and references (so foreign keys match),
  ``NUMBER(p)`` / ``NUMBER(p, 0)`` an integer type, anything else ``NUMERIC``;
* ``GENERATED ... AS IDENTITY``: kept on PostgreSQL (as ``BIGINT``); on SQLite an
  ``INTEGER PRIMARY KEY`` numbers rows the same way;
* ``SYSTIMESTAMP`` / ``SYSDATE`` defaults: ``CURRENT_TIMESTAMP``; ``VARCHAR2``: ``VARCHAR``;
  ``DATE '2025-01-01'`` and ``TIMESTAMP '...'`` literals: what each database reads as that
  date or time (on SQLite, the ISO text it compares).

A statement sqlglot cannot parse is passed on unchanged (the database then says what is
wrong). Assertion statements are not touched: their grammar is the same.
"""

from __future__ import annotations

import re
from dataclasses import replace

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from skybridge.apps.assertions.plan import Dialect
from skybridge.apps.assertions.script import ScriptStatement

HINT = (
    "this looks like SQL written for Oracle: run it with --from oracle (Python: "
    "from_dialect='oracle'), which translates its tables, types and defaults"
)
_ORACLE_WORDS = re.compile(
    r"\b(VARCHAR2|NVARCHAR2|NUMBER|SYSTIMESTAMP|SYSDATE|CASCADE\s+CONSTRAINTS|PURGE)\b",
    re.IGNORECASE,
)
_TARGET = {"postgresql": "postgres", "sqlite": "sqlite"}
_TIMESTAMP_LITERAL = "%Y-%m-%d %H:%M:%S.%f"


def looks_like_oracle(sql: str) -> bool:
    """True when ``sql`` uses words only Oracle knows (for a hint when the database refuses it)."""
    return bool(_ORACLE_WORDS.search(sql))


def from_oracle(statements: list[ScriptStatement], dialect: Dialect) -> list[ScriptStatement]:
    """``statements`` with each plain one translated from Oracle to ``dialect``."""
    return [s if s.assertion is not None else _statement(s, dialect) for s in statements]


def _statement(statement: ScriptStatement, dialect: Dialect) -> ScriptStatement:
    try:
        tree = sqlglot.parse_one(statement.sql, read="oracle")
    except (ParseError, TokenError):
        return statement
    if isinstance(tree, exp.Command):
        return statement
    tree = tree.transform(lambda node: _node(node, dialect))
    return replace(statement, sql=tree.sql(_TARGET[dialect]))


def _node(node: exp.Expr, dialect: Dialect) -> exp.Expr:
    if isinstance(node, exp.Drop):
        node.set("constraints", None)
        node.set("purge", None)
        if dialect == "sqlite":
            node.set("cascade", None)
    elif isinstance(node, exp.Systimestamp):
        return exp.CurrentTimestamp()
    elif _is_timestamp_literal(node):
        text = node.this.copy()
        return text if dialect == "sqlite" else exp.cast(text, exp.DataType.Type.TIMESTAMP)
    elif isinstance(node, exp.ColumnDef):
        _column(node, dialect)
    return node


def _is_timestamp_literal(node: exp.Expr) -> bool:
    """``TIMESTAMP '2026-06-01 09:00:00'`` (sqlglot reads it as a parse with a fixed format)."""
    return (
        isinstance(node, exp.StrToTime)
        and isinstance(node.this, exp.Literal)
        and node.text("format") == _TIMESTAMP_LITERAL
    )


def _constraint_kinds(column: exp.ColumnDef) -> set[type[exp.Expr]]:
    return {type(c.args.get("kind")) for c in column.args.get("constraints") or []}


def _column(column: exp.ColumnDef, dialect: Dialect) -> None:
    kind = column.args.get("kind")
    if not isinstance(kind, exp.DataType) or kind.this != exp.DataType.Type.DECIMAL:
        return
    kinds = _constraint_kinds(column)
    identity = exp.GeneratedAsIdentityColumnConstraint in kinds
    keyish = identity or kinds & {exp.PrimaryKeyColumnConstraint, exp.Reference}
    params = [p.this.name for p in kind.expressions if isinstance(p.this, exp.Literal)]
    if (not params and keyish) or (params and (len(params) == 1 or params[1] == "0")):
        column.set("kind", _integer(params, dialect))
    elif dialect == "sqlite":  # sqlglot writes DECIMAL as REAL for SQLite; keep exact decimals
        column.set("kind", exp.DataType(this=exp.DataType.Type.USERDEFINED, kind="NUMERIC"))
    if identity and dialect == "sqlite":
        column.set("constraints", [c for c in column.args["constraints"] if not _is_identity(c)])


def _integer(params: list[str], dialect: Dialect) -> exp.DataType:
    if dialect == "sqlite":
        return exp.DataType.build("INTEGER")  # the only type that makes a rowid key
    digits = int(params[0]) if params and params[0].isdigit() else 18
    if digits > 18:
        return exp.DataType.build(f"NUMERIC({digits})")
    return exp.DataType.build("INTEGER" if digits <= 9 else "BIGINT")


def _is_identity(constraint: exp.Expr) -> bool:
    return isinstance(constraint.args.get("kind"), exp.GeneratedAsIdentityColumnConstraint)
