"""Refuse assertions that call functions the database does not declare deterministic.

The parser already refuses the well-known nondeterministic built-ins by name. User functions
and the rest of the built-ins can only be judged by the database, at ``apply`` time:

* **PostgreSQL**: the violation query is created as a temporary view, so PostgreSQL itself
  resolves every call, operator and overload exactly as the triggers will; the resolved
  function oids are read from the view's rule (``pg_rewrite.ev_action``) and looked up in
  ``pg_proc``. Only IMMUTABLE is accepted. VOLATILE can change between two calls with no write;
  STABLE can change between transactions or with session settings (``TimeZone``, ``DateStyle``)
  and may read tables the assertion's triggers do not watch (a lookup function), so a verdict
  that held could turn false with no statement to re-check it.
* **SQLite**: ``pragma_function_list`` lists the functions registered on the connection,
  including ones added from Python, with their ``SQLITE_DETERMINISTIC`` flag. A call is
  refused when the name is unknown on this connection or when some overload that may be
  called (matching argument count, or any when it cannot be told) is not deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Connection
from sqlglot import exp

from skybridge.apps.assertions.analysis import Analysis
from skybridge.apps.assertions.naming import dollar_quote
from skybridge.apps.assertions.naming import quote_literal as _lit
from skybridge.core.errors import ValidationError

PROBE = "skybridge_assertion_probe"
SQLITE_DETERMINISTIC = 0x800
_WHY = {
    "v": "VOLATILE: its result can change from one call to the next with no write",
    "s": (
        "STABLE: its result can change between transactions or with session settings "
        "(TimeZone, DateStyle, search_path) and it may read tables the assertion's triggers "
        "do not watch"
    ),
}
_PG_HINT = (
    "so a verdict that held could turn false with no statement to re-check it. If it depends "
    "only on its arguments, declare it IMMUTABLE (ALTER FUNCTION ... IMMUTABLE); otherwise "
    "compare against a stored column"
)
_SQLITE_HINT = (
    "register it on every connection (including the one running apply) with "
    "sqlite3.Connection.create_function(name, narg, fn, deterministic=True), e.g. in a "
    "SQLAlchemy 'connect' event, and only if it depends on its arguments alone"
)


@dataclass(frozen=True)
class Offender:
    """A function an assertion calls and why it cannot be used."""

    function: str
    reason: str


def pg_probe_statements(analysis: Analysis) -> tuple[str, str, str]:
    """(create the probe view, query its non-IMMUTABLE functions, drop the view)."""
    query = analysis.violation.sql("postgres")
    create = f"CREATE TEMP VIEW {PROBE} AS SELECT 1 AS one FROM ({query}) AS q"
    offenders = f"""WITH m AS (
  SELECT DISTINCT x[1] AS kind, x[2]::oid AS id
  FROM pg_rewrite AS r, regexp_matches(r.ev_action::text, ':(funcid|opno) ([0-9]+)', 'g') AS x
  WHERE r.ev_class = 'pg_temp.{PROBE}'::regclass)
SELECT DISTINCT CASE WHEN m.kind = 'opno'
    THEN 'operator ' || m.id::regoperator::text || ' (' || p.oid::regprocedure::text || ')'
    ELSE p.oid::regprocedure::text END AS function, p.provolatile AS volatility
FROM m JOIN pg_proc AS p ON p.oid = CASE WHEN m.kind = 'opno'
  THEN (SELECT o.oprcode::oid FROM pg_operator AS o WHERE o.oid = m.id) ELSE m.id END
WHERE p.provolatile <> 'i'
ORDER BY 1"""
    return create, offenders, f"DROP VIEW pg_temp.{PROBE}"


def pg_offenders(conn: Connection, analysis: Analysis) -> list[Offender]:
    """The non-IMMUTABLE functions (and operators) the assertion's query resolves to."""
    create, query, drop = pg_probe_statements(analysis)
    conn.exec_driver_sql(f"DROP VIEW IF EXISTS pg_temp.{PROBE}")
    conn.exec_driver_sql(create.replace("%", "%%"))
    rows = conn.exec_driver_sql(query).all()
    conn.exec_driver_sql(drop)
    return [Offender(row[0], f"{_WHY[row[1]]}, {_PG_HINT}") for row in rows]


def pg_check_sql(analysis: Analysis) -> str:
    """The same check as SQL for migration tools: fails on the first offending function."""
    name = analysis.assertion.name
    create, query, drop = pg_probe_statements(analysis)
    prefix = _lit('assertion "' + name + '" calls ')
    message = (
        f"{prefix} || bad.function || ' is ' || CASE bad.volatility "
        f"WHEN 'v' THEN {_lit(_WHY['v'])} ELSE {_lit(_WHY['s'])} END || {_lit(', ' + _PG_HINT)}"
    )
    body = (
        f" DECLARE bad record; BEGIN FOR bad IN {query} LOOP RAISE EXCEPTION USING "
        f"ERRCODE = '42P17', MESSAGE = {message}; END LOOP; END "
    )
    return ";\n".join([create, "DO " + dollar_quote(body), drop])


def sqlite_offenders(conn: Connection, analysis: Analysis) -> list[Offender]:
    """Calls the connection does not know, or knows as not deterministic."""
    registered: dict[str, list[tuple[int, int]]] = {}
    for name, narg, flags in conn.exec_driver_sql(
        "SELECT name, narg, flags FROM pragma_function_list"
    ):
        registered.setdefault(str(name).lower(), []).append((int(narg), int(flags)))
    out = []
    for call, nargs, typed in _calls(analysis.assertion.condition):
        overloads = registered.get(call)
        if overloads is None:
            if not typed:  # a typed node unknown to SQLite is syntax (CAST, EXTRACT...)
                reason = f"unknown on this connection (no such function); {_SQLITE_HINT}"
                out.append(Offender(f"{call}()", reason))
            continue
        out += _judge_sqlite(call, nargs, overloads)
    return list(dict.fromkeys(out))


def _judge_sqlite(call: str, nargs: int | None, overloads: list[tuple[int, int]]) -> list[Offender]:
    fits = [o for o in overloads if nargs is None or o[0] in (nargs, -1)]
    if not fits:
        return [Offender(f"{call}()", f"not defined for {nargs} arguments; {_SQLITE_HINT}")]
    if all(flags & SQLITE_DETERMINISTIC for _, flags in fits):
        return []
    unsure = ""
    if nargs is None:
        unsure = " (which overload is called cannot be told, and one of them is not)"
    return [
        Offender(
            f"{call}()",
            f"not registered as deterministic{unsure}: SQLite may give a different "
            f"result with no write, so the verdict could turn false unnoticed; {_SQLITE_HINT}",
        )
    ]


def _calls(condition: exp.Expr) -> Iterator[tuple[str, int | None, bool]]:
    """(name, argument count or None when unknown, known to sqlglot) of each call."""
    for node in condition.walk():
        if isinstance(node, exp.Anonymous):
            yield str(node.name).lower(), len(node.expressions), False
        elif isinstance(node, exp.Func):
            match = re.match(r"([A-Za-z_][A-Za-z0-9_]*)\(", node.sql("sqlite"))
            if match:
                yield match.group(1).lower(), None, True


def reject(name: str, offenders: list[Offender]) -> None:
    """Raise a ValidationError naming every offending function and why, if there are any."""
    if not offenders:
        return
    details = "; ".join(f"{o.function} is {o.reason}" for o in offenders)
    raise ValidationError(
        f"assertion {name}: nondeterministic function: {details}",
        hint="an assertion may call only functions whose result depends on their arguments alone",
    )
