"""Parsed assertions: statement forms and the checks an assertion must pass to be accepted."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from sqlglot import exp
from sqlglot.errors import ParseError

from skybridge.apps.assertions.boundary import side_effect
from skybridge.apps.assertions.grammar import (
    DIALECT,
    AllSatisfy,
    AlterAssertion,
    AssertionState,
    CreateAssertion,
    DropAssertion,
)
from skybridge.apps.assertions.naming import check_name, quote_ident
from skybridge.core.errors import ValidationError

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_TOKEN = re.compile(r" but got <Token .*?>", re.DOTALL)

# Functions whose value changes without any write: an assertion using them could turn false while
# nobody touches a table, so no trigger could ever notice (SQL standard feature F672 territory).
NONDETERMINISTIC = frozenset(
    {
        "CLOCK_TIMESTAMP", "CURRENT_DATE", "CURRENT_TIME", "CURRENT_TIMESTAMP", "CURRVAL",
        "GEN_RANDOM_UUID", "GETDATE", "LASTVAL", "LOCALTIME", "LOCALTIMESTAMP", "NEXTVAL", "NOW",
        "RAND", "RANDOM", "SETVAL", "STATEMENT_TIMESTAMP", "SYSDATE", "SYSTIMESTAMP", "TIMEOFDAY",
        "TRANSACTION_TIMESTAMP", "UUID", "CURRENT_USER", "SESSION_USER", "USER", "RANDOMBLOB",
        "CHANGES",
        "LAST_INSERT_ROWID", "TXID_CURRENT", "PG_CURRENT_XACT_ID", "PG_BACKEND_PID",
    }
)  # fmt: skip
_NONDETERMINISTIC_NODES = (
    exp.CurrentDate,
    exp.CurrentTime,
    exp.CurrentTimestamp,
    exp.Localtimestamp,
    exp.Rand,
    exp.Uuid,
    exp.CurrentUser,
)


@dataclass(frozen=True)
class State:
    """Constraint state of an assertion (Oracle defaults: immediate, enabled, validated)."""

    deferrable: bool = False
    initially_deferred: bool = False
    enabled: bool = True
    validate: bool = True

    def merged(self, change: AssertionState | None) -> State:
        """This state with the words said in ``change`` applied (``ALTER ASSERTION``)."""
        if change is None:
            return self
        given = {k: v for k, v in change.args.items() if v is not None}
        new = replace(self, **given)
        if "enabled" in given and not given["enabled"] and "validate" not in given:
            new = replace(new, validate=False)  # ENABLE -> DISABLE means NOVALIDATE (Oracle)
        if given.get("enabled") and "validate" not in given:
            new = replace(new, validate=True)  # DISABLE -> ENABLE validates by default
        if given.get("initially_deferred") and "deferrable" not in given:
            new = replace(new, deferrable=True)
        return new.checked()

    def checked(self) -> State:
        if self.initially_deferred and not self.deferrable:
            raise ValidationError("an assertion cannot be INITIALLY DEFERRED and NOT DEFERRABLE")
        if not self.enabled and self.validate:
            raise ValidationError(
                "DISABLE VALIDATE is not supported", hint="use DISABLE NOVALIDATE"
            )
        return self

    def words(self) -> str:
        """The state as SQL words, e.g. ``DEFERRABLE INITIALLY DEFERRED ENABLE VALIDATE``."""
        return " ".join(
            [
                "DEFERRABLE" if self.deferrable else "NOT DEFERRABLE",
                "INITIALLY " + ("DEFERRED" if self.initially_deferred else "IMMEDIATE"),
                "ENABLE" if self.enabled else "DISABLE",
                "VALIDATE" if self.validate else "NOVALIDATE",
            ]
        )


@dataclass(frozen=True)
class Assertion:
    """One ``CREATE ASSERTION``: its name, its condition (a sqlglot tree) and its state."""

    name: str
    condition: exp.Expr
    state: State
    if_not_exists: bool = False

    @property
    def definition(self) -> str:
        """The condition as canonical SQL (what the catalog stores)."""
        return DIALECT.generate(self.condition)

    def sql(self) -> str:
        """The full ``CREATE ASSERTION`` statement, re-parseable by :func:`parse_statement`."""
        name = quote_ident(self.name)
        return f"CREATE ASSERTION {name} CHECK ({self.definition}) {self.state.words()}"


Statement = CreateAssertion | AlterAssertion | DropAssertion


def parse_statement(sql: str) -> Statement:
    """Parse one ``CREATE``, ``ALTER`` or ``DROP ASSERTION`` statement."""
    try:
        trees = [t for t in DIALECT.parse(sql) if t is not None]
    except ParseError as exc:
        raise ValidationError(f"cannot parse assertion statement: {parse_problem(exc)}") from None
    except RecursionError:
        raise ValidationError("the statement is nested too deeply to parse; simplify it") from None
    if len(trees) != 1 or not isinstance(
        trees[0], CreateAssertion | AlterAssertion | DropAssertion
    ):
        raise ValidationError("expected one CREATE, ALTER or DROP ASSERTION statement")
    return trees[0]


def parse_problem(exc: ParseError) -> str:
    """What sqlglot could not parse, as plain text: no terminal escapes, no token dumps."""
    if not exc.errors:
        return _ANSI.sub("", str(exc)).splitlines()[0]
    first = exc.errors[0]
    what = _TOKEN.sub("", str(first.get("description") or "syntax error"))
    near = _ANSI.sub("", str(first.get("highlight") or "")).strip()
    at = f"line {first.get('line')}, column {first.get('col')} of the statement"
    return f"{what} ({at}" + (f", near {near!r})" if near else ")")


def parse_assertion(sql: str) -> Assertion:
    """Parse and validate one ``CREATE ASSERTION`` statement."""
    tree = parse_statement(sql)
    if not isinstance(tree, CreateAssertion):
        raise ValidationError("expected CREATE ASSERTION")
    return assertion_from_tree(tree)


def assertion_from_tree(tree: CreateAssertion) -> Assertion:
    name = check_name(tree.this.name.lower())
    condition = tree.args["condition"]
    check_condition(name, condition)
    state = State().merged(tree.args.get("state"))
    return Assertion(name, condition, state, bool(tree.args.get("exists")))


def check_condition(name: str, condition: exp.Expr) -> None:
    """Refuse conditions the engine cannot enforce incrementally, saying why."""
    shape_ok = isinstance(condition, AllSatisfy | exp.Exists) or (
        isinstance(condition, exp.Not) and isinstance(condition.this, exp.Exists)
    )
    if not shape_ok:
        raise ValidationError(
            f"assertion {name}: CHECK must be [NOT] EXISTS (subquery) "
            "or ALL (subquery) SATISFY (...)"
        )
    for node in condition.walk():
        _reject_node(name, node)


def _reject_node(name: str, node: exp.Expr) -> None:
    fname = _function_name(node)
    effect = side_effect(fname)
    if fname and effect:
        raise ValidationError(
            f"assertion {name}: {fname.lower()}() {effect}; an assertion may only read its "
            "tables, since its check runs inside every write it guards",
            hint="remove the call from the assertion",
        )
    says_now = isinstance(node, exp.Func) and any(
        isinstance(a, exp.Literal) and a.is_string and a.name.lower() in ("now", "localtime")
        for a in node.iter_expressions()
    )  # SQLite's date('now') / strftime('%s', 'now')
    if (
        isinstance(node, _NONDETERMINISTIC_NODES)
        or (fname and fname in NONDETERMINISTIC)
        or says_now
    ):
        raise ValidationError(
            f"assertion {name}: {node.sql(dialect='postgres')} is nondeterministic; its value "
            "changes without any write, so the verdict could turn false with no statement to "
            "check it",
            hint="compare against a column (e.g. a stored as_of date) instead",
        )
    if isinstance(node, exp.AggFunc | exp.Window):
        raise ValidationError(
            f"assertion {name}: aggregates and window functions are not supported "
            f"({node.sql(dialect='postgres')}); express the rule with [NOT] EXISTS"
        )


def _function_name(node: exp.Expr) -> str | None:
    if isinstance(node, exp.Anonymous):
        return str(node.name).upper()
    if isinstance(node, exp.Column) and not node.table and node.name.upper() in NONDETERMINISTIC:
        return node.name.upper()  # bare SYSDATE / USER parse as columns
    if isinstance(node, exp.Func) and not isinstance(node, exp.Anonymous):
        return str(node.sql_name()).upper()
    return None
