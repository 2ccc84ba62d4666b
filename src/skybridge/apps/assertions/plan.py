"""Turn a script (plain SQL mixed with assertion statements) into ordered steps for one dialect."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from skybridge.apps.assertions import postgres, sqlite
from skybridge.apps.assertions.analysis import Analysis, analyse
from skybridge.apps.assertions.catalog import CATALOG_DDL, delete_sql, upsert_sql
from skybridge.apps.assertions.ddl_guard import GUARD_SQL, RECORD_TYPES_SQL
from skybridge.apps.assertions.errors import StatementRef, located
from skybridge.apps.assertions.grammar import AlterAssertion, CreateAssertion, DropAssertion
from skybridge.apps.assertions.model import Assertion, State, assertion_from_tree
from skybridge.apps.assertions.script import ScriptStatement, split_script
from skybridge.apps.assertions.volatility import pg_check_sql
from skybridge.core.errors import Conflict, NotFound, SkybridgeError, ValidationError

Dialect = Literal["postgresql", "sqlite"]


@dataclass(frozen=True)
class Step:
    """One step of a script.

    ``exec``: run ``sql``; ``validate``: fail unless ``analysis``'s violation query is empty;
    ``functions``: refuse ``analysis`` if it calls a function the database does not declare
    deterministic (``sql`` is the same check for migration tools; empty on SQLite).
    ``origin`` is the script statement the step comes from (``None``: skybridge's own set-up).
    """

    kind: Literal["exec", "validate", "functions"]
    sql: str
    analysis: Analysis | None = None
    origin: StatementRef | None = None


def dialect_of(name: str) -> Dialect:
    if name in ("postgresql", "postgres"):
        return "postgresql"
    if name == "sqlite":
        return "sqlite"
    raise ValidationError(f"unsupported dialect {name!r}", hint="use postgresql or sqlite")


def runtime_steps(dialect: Dialect) -> list[Step]:
    runtime = postgres.RUNTIME if dialect == "postgresql" else sqlite.RUNTIME
    steps = [Step("exec", CATALOG_DDL), *(Step("exec", s) for s in runtime)]
    if dialect == "postgresql":
        steps += [Step("exec", s) for s in [*GUARD_SQL, *RECORD_TYPES_SQL]]
    return steps


def _catalog_changed(dialect: Dialect) -> list[Step]:
    """Re-record the column types the DDL guard compares against (PostgreSQL)."""
    return [Step("exec", s) for s in RECORD_TYPES_SQL] if dialect == "postgresql" else []


def plan_script(
    text: str | list[ScriptStatement], dialect: Dialect, known: dict[str, Assertion]
) -> list[Step]:
    """Steps for a script (its text, or its statements); ``known``: assertions already there.

    Every step made for a statement of the script carries it as ``origin``; an error about a
    statement names its line.
    """
    known = dict(known)
    steps = runtime_steps(dialect)
    statements = split_script(text) if isinstance(text, str) else text
    for statement in statements:
        try:
            made = _statement_steps(statement, dialect, known)
        except SkybridgeError as exc:
            raise located(exc, statement.ref) from None
        steps += [replace(step, origin=statement.ref) for step in made]
    return steps


def check_statements(statements: list[ScriptStatement]) -> None:
    """Refuse, before the database is touched, what a script's assertion statements get wrong
    on their own: a CREATE's name, condition and state, an ALTER's state words. What depends
    on the catalog (whether a name exists) is for :func:`plan_script`, in the transaction.

    Raises:
        ValidationError: the first such statement, named by its line.
    """
    for statement in statements:
        tree = statement.assertion
        try:
            if isinstance(tree, CreateAssertion):
                analyse(assertion_from_tree(tree))
            elif isinstance(tree, AlterAssertion):
                State().merged(tree.args["state"])  # the defaults refuse no word another allows
        except SkybridgeError as exc:
            raise located(exc, statement.ref) from None


def _statement_steps(
    statement: ScriptStatement, dialect: Dialect, known: dict[str, Assertion]
) -> list[Step]:
    tree = statement.assertion
    if isinstance(tree, CreateAssertion):
        return _create(assertion_from_tree(tree), dialect, known)
    if isinstance(tree, AlterAssertion):
        return _alter(tree, dialect, known)
    if isinstance(tree, DropAssertion):
        return _drop(tree, dialect, known)
    return [Step("exec", statement.sql)]


def _compiler(dialect: Dialect):  # type: ignore[no-untyped-def]
    return postgres if dialect == "postgresql" else sqlite


def enable_steps(analysis: Analysis, dialect: Dialect) -> list[Step]:
    """Create the triggers (when enabled), validate (when asked) and write the catalog row."""
    state = analysis.assertion.state
    steps: list[Step] = []
    if state.enabled:
        check = pg_check_sql(analysis) if dialect == "postgresql" else ""
        steps.append(Step("functions", check, analysis))
        steps += [Step("exec", s) for s in _compiler(dialect).compile_assertion(analysis)]
        if state.validate:
            steps.append(Step("validate", _compiler(dialect).full_check_sql(analysis, 5), analysis))
    steps.append(
        Step("exec", upsert_sql(analysis, "sqlite" if dialect == "sqlite" else "postgresql"))
    )
    return steps + _catalog_changed(dialect)


def disable_steps(analysis: Analysis, dialect: Dialect) -> list[Step]:
    return [Step("exec", s) for s in _compiler(dialect).drop_assertion(analysis)]


def _create(assertion: Assertion, dialect: Dialect, known: dict[str, Assertion]) -> list[Step]:
    if assertion.name in known:
        if assertion.if_not_exists:
            return []
        raise Conflict(
            f"assertion {assertion.name} already exists", hint="use IF NOT EXISTS or DROP it"
        )
    known[assertion.name] = assertion
    return enable_steps(analyse(assertion), dialect)


def _alter(tree: AlterAssertion, dialect: Dialect, known: dict[str, Assertion]) -> list[Step]:
    name = tree.this.name.lower()
    if name not in known:
        raise NotFound(f"assertion {name} does not exist")
    old = known[name]
    new = replace(old, state=old.state.merged(tree.args["state"]))
    known[name] = new
    return disable_steps(analyse(old), dialect) + enable_steps(analyse(new), dialect)


def _drop(tree: DropAssertion, dialect: Dialect, known: dict[str, Assertion]) -> list[Step]:
    name = tree.this.name.lower()
    if name not in known:
        if tree.args.get("exists"):
            return []
        raise NotFound(f"assertion {name} does not exist")
    old = known.pop(name)
    return [
        *disable_steps(analyse(old), dialect),
        Step("exec", delete_sql(name)),
        *_catalog_changed(dialect),
    ]
