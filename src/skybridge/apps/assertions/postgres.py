"""Compile an analysed assertion to PostgreSQL: statement triggers with transition tables.

* NOT DEFERRABLE: one ``AFTER <op> ... FOR EACH STATEMENT`` trigger per guarded (table, op)
  that locks the touched keys and runs the delta violation query on the transition tables.
* DEFERRABLE: the statement triggers only record the touched keys in
  ``skybridge_assertion_pending`` and arm the assertion once per transaction in
  ``skybridge_assertion_armed``; a CONSTRAINT TRIGGER named like the assertion on that table
  (so ``SET CONSTRAINTS name IMMEDIATE`` works) checks the recorded keys once.

Locking: before the check, the statement takes transaction-scoped advisory locks on the
touched key values (a 64-bit hash of the assertion and the key's canonical text,
:data:`KEY_FUNCTION`), in sorted order. A statement
on the :meth:`~skybridge.apps.assertions.analysis.Analysis.shared_table` takes them shared,
every other statement exclusive: writers of the shared table (ticket inserts) pass each other,
and every other pair of writers of one key waits for the first to commit; the second one's
check then runs on a fresh snapshot (READ COMMITTED) and sees the first one's rows. An
advisory lock writes nothing: no tuple, no WAL, no dead row.

A REPEATABLE READ or SERIALIZABLE writer's snapshot does not move after the wait, so it also
needs to *see* that a writer of its key committed after its snapshot: *marks*. A marking
statement bumps (``n = n + 1``) lock rows of its keys in ``skybridge_assertion_locks``, one of
:data:`STRIPES` per key for a shared-table writer, all of them otherwise; a later marking
statement of a transaction whose snapshot predates that commit meets a row updated after its
snapshot and fails to serialize (40001), so the client retries. Who marks
(:data:`MARKING_FUNCTION`): every REPEATABLE READ / SERIALIZABLE writer always; a READ
COMMITTED writer only once the database has seen a REPEATABLE READ or SERIALIZABLE writer
(the non-transactional sequence :data:`MARKING` turns from unset to the id of a transaction
started after the switch). A snapshot-isolated writer also
checks that no transaction older than the switch (an unmarked writer) committed after its
snapshot, else it fails to serialize too. So READ COMMITTED-only databases never write a lock
row, and mixed isolation levels stay safe.
"""

from __future__ import annotations

from typing import Literal

from sqlglot import exp

from skybridge.apps.assertions.analysis import OPS, Analysis, Delta, Op
from skybridge.apps.assertions.delta import (
    anchor_column,
    delta_queries,
    replace_occurrence,
    union_all,
    with_condition,
)
from skybridge.apps.assertions.naming import dollar_quote, quote_ident, quote_literal
from skybridge.apps.assertions.naming import object_name as _object_name

DIALECT = "postgres"
NEW, OLD = "skybridge_new", "skybridge_old"
#: The loop variable holding one touched key value (``<KEY>.k``) in a per-key check.
KEY = "skybridge_key"
#: A deferred check's key value, typed like the anchor column (the recorded keys are text).
KEY_VALUE = "skybridge_key_value"
#: A deferred check's recorded keys the anchor column can hold, and their lock names.
VALID, LOCKS = "skybridge_valid_keys", "skybridge_lock_keys"
#: Lock rows per key value (see the module docstring).
STRIPES = 16
#: ``skybridge_assertion_key(value)``: a key value's canonical text, the name of its lock. Equal
#: values get one text whatever their column's type and the session's settings: numerics
#: without trailing zeros (1.0 and 1.00 are one key; so are integer 1 and float 1.0), floats
#: through numeric (whatever ``extra_float_digits``), money as numeric (whatever
#: ``lc_monetary``), dates and timestamps as epoch seconds (whatever ``DateStyle`` and
#: ``TimeZone``), bytea in hex (whatever ``bytea_output``), every other type its own text.
#: Keys of different types that compare equal only after a lossy conversion (a bigint beyond
#: 2**53 against a float, a date against a timestamptz away from UTC) keep separate locks.
KEY_FUNCTION = "skybridge_assertion_key"
_KEY_FORMS = {
    "smallint": "v::text",
    "integer": "v::text",
    "bigint": "v::text",
    "numeric": "trim_scale(v)::text",
    "double precision": "trim_scale(v::numeric)::text",  # real arrives as double precision
    "money": "trim_scale(v::numeric)::text",
    "date": "trim_scale(extract(epoch FROM v))::text",
    "timestamp": "trim_scale(extract(epoch FROM v))::text",
    "timestamptz": "trim_scale(extract(epoch FROM v))::text",
    "bytea": "encode(v, 'hex')",
    "text": "v",  # varchar, char (trailing blanks dropped, as its comparisons do) and name too
    "anyelement": "v::text",
}
#: Unset while only READ COMMITTED writers have written; then the id of a transaction started
#: after the first REPEATABLE READ or SERIALIZABLE writer turned marking on.
MARKING = "skybridge_assertion_marking"
#: ``skybridge_assertion_marks()``: turns marking on and checks the snapshot of a REPEATABLE
#: READ or SERIALIZABLE writer (nothing to do at READ COMMITTED).
MARKING_FUNCTION = "skybridge_assertion_marks"
#: Does this statement bump lock rows? (A cheap test: one function call, no query.)
MARKING_ON = (
    f"(pg_sequence_last_value('{MARKING}') IS NOT NULL "
    "OR current_setting('transaction_isolation') <> 'read committed')"
)
#: Transaction ids older than the switch a snapshot-isolated writer looks at one by one; a
#: snapshot further behind the switch fails to serialize without looking.
MARKING_SCAN = 100_000

_MARKS_BODY = f"""
DECLARE since bigint; snap pg_snapshot; sub bigint; top bigint;
BEGIN
  IF current_setting('transaction_isolation') = 'read committed' THEN
    RETURN;
  END IF;
  since := coalesce(pg_sequence_last_value('{MARKING}'), 0);
  IF since < 2 THEN
    PERFORM setval('{MARKING}', 1);  -- READ COMMITTED shared writers mark from now on
    BEGIN  -- a subtransaction: its id is assigned now, after the switch
      INSERT INTO skybridge_assertion_locks AS l (assertion, key) VALUES ('', 'marking')
        ON CONFLICT (assertion, key) DO UPDATE SET n = l.n + 1
        RETURNING xmin::text::bigint INTO sub;
    EXCEPTION WHEN OTHERS THEN RAISE;
    END;
    top := pg_current_xact_id()::text::bigint;
    since := ((top >> 32) << 32) | sub;
    IF since < top THEN since := since + 4294967296; END IF;
    PERFORM setval('{MARKING}', greatest(since, pg_sequence_last_value('{MARKING}')));
  END IF;
  snap := pg_current_snapshot();
  IF pg_snapshot_xmax(snap)::text::bigint + {MARKING_SCAN} < since OR EXISTS (
      SELECT 1 FROM (SELECT x FROM pg_snapshot_xip(snap) AS x
                     UNION ALL
                     SELECT g::text::xid8 FROM generate_series(
                       pg_snapshot_xmax(snap)::text::bigint, since - 1) AS g) AS unseen
      WHERE x::text::bigint < since AND pg_xact_status(x) = 'committed') THEN
    RAISE EXCEPTION USING ERRCODE = '40001',
      MESSAGE = 'could not serialize access: a writer that took no lock row committed after '
        || 'this transaction''s snapshot',
      HINT = 'retry the transaction';
  END IF;
END
"""


def _owned_function(name: str, returns: str, body: str, *, parameters: str = "") -> str:
    """``CREATE OR REPLACE FUNCTION name(parameters)`` unless another role owns it: a plain
    role applying after a superuser keeps the superuser's (``parameters``: ``"v numeric"``,
    one named parameter at most)."""
    types = parameters.split(" ", 1)[1] if parameters else ""
    create = (
        f"CREATE OR REPLACE FUNCTION {name}({parameters}) RETURNS {returns} AS "
        + dollar_quote(body)
    )
    return (
        "DO $do$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_proc WHERE oid = "
        f"to_regprocedure({quote_literal(f'{name}({types})')}) "
        "AND NOT pg_has_role(proowner, 'MEMBER')) "
        f"THEN EXECUTE {quote_literal(create)}; END IF; END $do$"
    )


RUNTIME = [
    """CREATE UNLOGGED TABLE IF NOT EXISTS skybridge_assertion_locks (
  assertion text NOT NULL, key text NOT NULL, n bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (assertion, key))""",
    """CREATE UNLOGGED TABLE IF NOT EXISTS skybridge_assertion_pending (
  txid xid8 NOT NULL, assertion text NOT NULL, key text,
  UNIQUE NULLS NOT DISTINCT (txid, assertion, key))""",
    """CREATE UNLOGGED TABLE IF NOT EXISTS skybridge_assertion_armed (
  txid xid8 NOT NULL, assertion text NOT NULL, PRIMARY KEY (txid, assertion))""",
    f"CREATE UNLOGGED SEQUENCE IF NOT EXISTS {MARKING} MINVALUE 0 START 0",
    _owned_function(MARKING_FUNCTION, "void LANGUAGE plpgsql", _MARKS_BODY),
    *(
        _owned_function(
            KEY_FUNCTION,
            "text LANGUAGE sql " + ("STABLE" if type_ == "timestamptz" else "IMMUTABLE"),
            f"SELECT {form}",
            parameters=f"v {type_}",
        )
        for type_, form in _KEY_FORMS.items()
    ),
]


def object_name(name: str, *parts: str) -> str:
    """A quoted trigger/function name under PostgreSQL's 63-byte limit, unique per parts."""
    return quote_ident(_object_name(name, *parts, limit=40))


def _function(fn: str, body: str, declare: str = "", options: str = "") -> str:
    """``CREATE OR REPLACE FUNCTION fn()`` returning ``trigger`` with a PL/pgSQL ``body``
    (``declare``: more variables; ``options``: more clauses such as ``SET``)."""
    code = f"\nDECLARE detail text; {KEY} record; {declare}\nBEGIN\n{body}\nRETURN NULL;\nEND\n"
    return (
        f"CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql {options}AS "
        + dollar_quote(code)
    )


def _ident(column: str) -> str:
    return exp.to_identifier(column).sql(DIALECT)


def compile_assertion(analysis: Analysis) -> list[str]:
    """The statements that enforce ``analysis.assertion`` (run after :data:`RUNTIME`)."""
    statements: list[str] = []
    deferrable = analysis.assertion.state.deferrable
    for table, ops in analysis.guarded().items():
        for op in ops:
            statements += _statement_trigger(analysis, table, op, deferrable)
    if deferrable:
        statements += _commit_trigger(analysis)
    return statements


def drop_assertion(analysis: Analysis) -> list[str]:
    """Statements removing everything :func:`compile_assertion` created."""
    name = analysis.assertion.name
    out = [
        f"DROP FUNCTION IF EXISTS {object_name(name, t, op)}() CASCADE"
        for t in analysis.tables
        for op in OPS
    ]
    out.append(f"DROP FUNCTION IF EXISTS {object_name(name, 'commit')}() CASCADE")
    return out


def _table_sql(analysis: Analysis, table: str) -> str:
    node = next(o.node for o in analysis.occurrences if o.table == table)
    return exp.Table(this=node.this.copy(), db=node.args.get("db")).sql(DIALECT)


def _statement_trigger(analysis: Analysis, table: str, op: Op, deferrable: bool) -> list[str]:
    name = analysis.assertion.name
    fn = object_name(name, table, op)
    body = _record_body(analysis, table, op) if deferrable else _check_body(analysis, table, op)
    # Recorded keys are text read back at COMMIT: floats in every digit they have, whatever
    # the session's extra_float_digits (0 prints 0.30000000000000004 as 0.3).
    options = "SET extra_float_digits = 3 " if deferrable else ""
    refs = {"INSERT": f"NEW TABLE AS {NEW}", "DELETE": f"OLD TABLE AS {OLD}"}.get(
        op, f"OLD TABLE AS {OLD} NEW TABLE AS {NEW}"
    )
    return [
        _function(fn, body, options=options),
        f"CREATE TRIGGER {fn} AFTER {op} ON {_table_sql(analysis, table)} REFERENCING {refs} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {fn}()",
    ]


def _sides(op: Op) -> list[str]:
    return {"INSERT": [NEW], "DELETE": [OLD]}.get(op, [OLD, NEW])


KeyForm = Literal["value", "text", "lock"]


def _changed_keys(
    analysis: Analysis, table: str, op: Op, form: KeyForm, *, skip_nulls: bool = True
) -> str | None:
    """``SELECT k FROM ...`` over the transition tables: the key values the statement touched,
    as ``form`` (see :func:`_key_values`)."""
    cols = analysis.key_columns(table)
    if not cols:
        return None
    return _key_values(cols, _sides(op), form, skip_nulls=skip_nulls)


def _key_values(
    cols: list[str], sides: list[str], form: KeyForm, *, skip_nulls: bool = True
) -> str:
    """``SELECT <col> AS k FROM <side> [WHERE <col> IS NOT NULL] UNION ...`` over ``sides``,
    each value as itself (``value``), as text the column's type reads back (``text``: recorded
    keys) or as its lock name (``lock``: :data:`KEY_FUNCTION`)."""
    formats = {"value": "{c}", "text": "{c}::text", "lock": f"{KEY_FUNCTION}({{c}})"}
    where = " WHERE {c} IS NOT NULL" if skip_nulls else ""
    return " UNION ".join(
        f"SELECT {formats[form].format(c=_ident(c))} AS k FROM {side}" + where.format(c=_ident(c))
        for side in sides
        for c in cols
    )


def _lock_sql(analysis: Analysis, keys_sql: str | None, *, shared: bool = False) -> str:
    """Lock the touched keys (advisory, shared when ``shared``), then bump their lock rows
    when this statement marks (:data:`MARKING_ON`; one stripe each when ``shared``, else all;
    see the module docstring). Both in sorted order: two writers never deadlock on them."""
    scope = analysis.lock_scope
    if scope == "none":
        return ""
    name = quote_literal(analysis.assertion.name)
    source = keys_sql if keys_sql and scope.startswith("key") else "SELECT '*' AS k"
    lock = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    advisory = (
        f"PERFORM {lock}(h) FROM (SELECT DISTINCT hashtextextended({name} || '#' || k, 0) AS h "
        f"FROM ({source}) AS ks ORDER BY 1) AS hs;\n"
    )
    if shared:
        stripe = f"mod(pg_backend_pid(), {STRIPES})"
        rows = f"SELECT DISTINCT {name}, k || '#' || {stripe} FROM ({source}) AS ks"
    else:
        rows = (
            f"SELECT DISTINCT {name}, k || '#' || s FROM ({source}) AS ks, "
            f"generate_series(0, {STRIPES - 1}) AS st(s)"
        )
    bump = (
        f"INSERT INTO skybridge_assertion_locks AS l (assertion, key) {rows} ORDER BY 2 "
        f"ON CONFLICT (assertion, key) DO UPDATE SET n = l.n + 1;\n"
    )
    marks = f"PERFORM {MARKING_FUNCTION}();\n" + bump
    return advisory + f"IF {MARKING_ON} THEN\n{marks}END IF;\n"


def _raise_sql(analysis: Analysis, query: exp.Query) -> str:
    """Raise 23514 with up to 5 violating rows if ``query`` finds any (the rows are only
    collected then: the check that passes costs one ``EXISTS``)."""
    name = analysis.assertion.name
    message = quote_literal('assertion "' + name + '" violated')
    sql = query.sql(DIALECT)
    return (
        f"IF EXISTS ({sql}) THEN\n"
        f"SELECT string_agg(row_to_json(v)::text, ', ') INTO detail FROM "
        f"(SELECT * FROM ({sql}) AS q LIMIT 5) AS v;\n"
        f"RAISE EXCEPTION USING ERRCODE = '23514', MESSAGE = {message}, "
        f"DETAIL = 'violating rows: ' || detail, CONSTRAINT = {quote_literal(name)};\nEND IF;"
    )


def _check_body(analysis: Analysis, table: str, op: Op) -> str:
    deltas = analysis.deltas(table, op)
    keys_sql = _changed_keys(analysis, table, op, "lock")

    def rows(delta: Delta) -> exp.Select:
        return replace_occurrence(analysis.violation, delta.occurrence, exp.to_table(NEW))

    def keys(delta: Delta) -> exp.Expr:
        side = NEW if delta.side == "new" else OLD
        cols = analysis.key_columns(table)
        sub = " UNION ".join(f"SELECT {_ident(c)} FROM {side}" for c in cols)
        return exp.In(
            this=anchor_column(analysis), query=exp.maybe_parse(f"({sub})", dialect=DIALECT)
        )

    keyed = [d for d in deltas if d.kind == "keys"]
    others = [d for d in deltas if d.kind != "keys"]
    shared = analysis.shared_table() == table
    body = _lock_sql(analysis, keys_sql, shared=shared)
    if others:
        body += _raise_sql(analysis, union_all(delta_queries(analysis, others, rows, keys)))
    if keyed:
        body += _per_key_check(analysis, table, keyed)
    return body


def _per_key_check(analysis: Analysis, table: str, keyed: list[Delta]) -> str:
    """The violation query once per touched key value, the value a parameter: the planner then
    knows every correlated lookup of the key is one constant (an SLA change of a customer with
    thousands of tickets reads that customer's SLAs once, not once per ticket), where a join
    on the transition table's keys probes them again for every row."""
    sides = sorted({NEW if d.side == "new" else OLD for d in keyed})
    values = _key_values(analysis.key_columns(table), sides, "value")
    key = exp.column("k", table=KEY)
    return _for_each_key(analysis, f"SELECT DISTINCT k FROM ({values}) AS ks", key)


def _for_each_key(analysis: Analysis, values: str, value: exp.Expr, assign: str = "") -> str:
    """``FOR <KEY> IN <values> LOOP``: ``assign`` (PL/pgSQL), then the violation query with its
    anchor equal to ``value`` (a PL/pgSQL variable), raised if it finds rows."""
    condition = exp.EQ(this=anchor_column(analysis), expression=value)
    query = with_condition(analysis.violation, condition)
    return f"FOR {KEY} IN {values} LOOP\n{assign}" + _raise_sql(analysis, query) + "\nEND LOOP;"


def _record_body(analysis: Analysis, table: str, op: Op) -> str:
    name = quote_literal(analysis.assertion.name)
    keys_sql = _changed_keys(analysis, table, op, "text", skip_nulls=False)
    record = ""
    if keys_sql and analysis.key_anchor() is not None:
        record = (
            f"INSERT INTO skybridge_assertion_pending (txid, assertion, key) "
            f"SELECT pg_current_xact_id(), {name}, k FROM ({keys_sql}) AS ks "
            "ON CONFLICT DO NOTHING;\n"
        )
    return record + (
        f"INSERT INTO skybridge_assertion_armed (txid, assertion) "
        f"VALUES (pg_current_xact_id(), {name}) ON CONFLICT DO NOTHING;"
    )


def _commit_trigger(analysis: Analysis) -> list[str]:
    assertion = analysis.assertion
    name = quote_literal(assertion.name)
    fn = object_name(assertion.name, "commit")
    mine = f"txid = NEW.txid AND assertion = {name}"
    anchor = analysis.key_anchor()
    if anchor is None:
        body = _lock_sql(analysis, None) + _raise_sql(analysis, analysis.violation)
        declare = ""
    else:
        # The recorded keys are text; the key variable has the anchor column's own type, so
        # the check compares like with like (numeric 1.0 = 1.00), the column's index serves,
        # and the lock names come from typed values. A key the anchor's type cannot hold
        # (another table's wider column) matches no row: it is neither locked nor checked.
        occurrence = next(o for o in analysis.occurrences if o.alias == anchor[0] and o.top_level)
        column = f"{_table_sql(analysis, occurrence.table)}.{_ident(anchor[1])}"
        declare = f"{KEY_VALUE} {column}%TYPE; {LOCKS} text[] := '{{}}'; {VALID} text[] := '{{}}';"
        read = (
            f"FOR {KEY} IN SELECT DISTINCT key AS k FROM skybridge_assertion_pending "
            f"WHERE {mine} AND key IS NOT NULL LOOP\n"
            f"BEGIN {KEY_VALUE} := {KEY}.k;\n"
            "EXCEPTION WHEN data_exception THEN\n"
            # '1.0' from a numeric column is integer 1. A fraction rounds to a neighbour no
            # writer asked for: its check finds nothing this transaction did not break.
            f"  BEGIN {KEY_VALUE} := {KEY}.k::numeric;\n"
            "  EXCEPTION WHEN data_exception THEN CONTINUE; END;\n"
            "END;\n"
            f"{VALID} := {VALID} || {KEY_VALUE}::text;\n"
            f"{LOCKS} := {LOCKS} || {KEY_FUNCTION}({KEY_VALUE});\n"
            "END LOOP;\n"
        )
        nulls = with_condition(
            analysis.violation, exp.Is(this=anchor_column(analysis), expression=exp.Null())
        )
        body = (
            read
            + _lock_sql(analysis, f"SELECT unnest({LOCKS}) AS k")
            + _for_each_key(
                analysis,
                f"SELECT DISTINCT unnest({VALID}) AS k",
                exp.column(KEY_VALUE),
                f"{KEY_VALUE} := {KEY}.k;\n",
            )
            + f"\nIF EXISTS (SELECT 1 FROM skybridge_assertion_pending WHERE {mine} "
            f"AND key IS NULL) THEN\n" + _raise_sql(analysis, nulls) + "\nEND IF;"
        )
    body = (
        f"DELETE FROM skybridge_assertion_armed WHERE {mine};\n"
        + body
        + f"\nDELETE FROM skybridge_assertion_pending WHERE {mine};"
    )
    timing = "INITIALLY DEFERRED" if assertion.state.initially_deferred else "INITIALLY IMMEDIATE"
    return [
        _function(fn, body, declare, options="SET extra_float_digits = 3 "),
        f"CREATE CONSTRAINT TRIGGER {quote_ident(assertion.name)} AFTER INSERT ON "
        f"skybridge_assertion_armed DEFERRABLE {timing} FOR EACH ROW "
        f"WHEN (NEW.assertion = {name}) EXECUTE FUNCTION {fn}()",
    ]


def full_check_sql(analysis: Analysis, limit: int = 100) -> str:
    """A query listing up to ``limit`` violating rows as JSON text (empty: the assertion holds)."""
    return (
        f"SELECT row_to_json(v)::text FROM (SELECT * FROM ({analysis.violation.sql(DIALECT)}) AS q "
        f"LIMIT {limit}) AS v"
    )
