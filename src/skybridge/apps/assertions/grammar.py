"""A sqlglot dialect that knows ``CREATE/ALTER/DROP ASSERTION`` and ``ALL (q) a SATISFY c``.

The dialect extends PostgreSQL's, so the bodies of assertions (joins, ``EXISTS``, ``IN``,
expressions) are parsed by sqlglot itself; only the three statements and the universal
quantifier are added here. ``ALL ... SATISFY`` exists only at the top of an assertion's CHECK,
as in Oracle, so it is parsed there and not as a general expression. The condition after
``SATISFY`` may be parenthesised or not (``SATISFY (EXISTS ...)`` and ``SATISFY EXISTS ...``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.tokens import TokenType  # type: ignore[attr-defined]

STATE_WORDS = ("DEFERRABLE", "INITIALLY", "ENABLE", "DISABLE", "VALIDATE", "NOVALIDATE", "NOT")


class AssertionState(exp.Expression):
    """Constraint state; every arg is optional and ``None`` means "not said"."""

    arg_types: ClassVar[dict[str, bool]] = {
        "deferrable": False,
        "initially_deferred": False,
        "enabled": False,
        "validate": False,
    }


class AllSatisfy(exp.Expression):
    """``ALL (this) [alias] SATISFY (condition)``: every row of ``this`` satisfies ``condition``."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "alias": False, "condition": True}


class CreateAssertion(exp.Expression):
    arg_types: ClassVar[dict[str, bool]] = {
        "this": True,
        "condition": True,
        "state": False,
        "exists": False,
    }


class AlterAssertion(exp.Expression):
    arg_types: ClassVar[dict[str, bool]] = {"this": True, "state": True}


class DropAssertion(exp.Expression):
    arg_types: ClassVar[dict[str, bool]] = {"this": True, "exists": False}


class _Parser(Postgres.Parser):  # type: ignore[misc,valid-type]
    STATEMENT_PARSERS: ClassVar[dict[TokenType, Any]] = {
        **Postgres.Parser.STATEMENT_PARSERS,
        TokenType.CREATE: lambda self: self._parse_create_assertion_or(self._parse_create),
        TokenType.ALTER: lambda self: self._parse_alter_assertion_or(self._parse_alter),
        TokenType.DROP: lambda self: self._parse_drop_assertion_or(self._parse_drop),
    }

    def _parse_create_assertion_or(self, fallback: Any) -> exp.Expr:
        if not self._match_text_seq("ASSERTION"):
            return fallback()  # type: ignore[no-any-return]
        exists = self._match_text_seq("IF", "NOT", "EXISTS")
        name = self._parse_id_var(any_token=False)
        if name is None:
            self.raise_error("CREATE ASSERTION needs a name")
        if not self._match_text_seq("CHECK"):
            self.raise_error("Expecting CHECK after the assertion name")
        condition = self._parse_wrapped(self._parse_assertion_condition)
        state = self._parse_assertion_state()
        node: exp.Expr = self.expression(
            CreateAssertion(this=name, condition=condition, state=state, exists=exists or None)
        )
        return node

    def _parse_alter_assertion_or(self, fallback: Any) -> exp.Expr:
        if not self._match_text_seq("ASSERTION"):
            return fallback()  # type: ignore[no-any-return]
        name = self._parse_id_var(any_token=False)
        state = self._parse_assertion_state()
        if name is None or state is None:
            self.raise_error("ALTER ASSERTION needs a name and a state change")
        node: exp.Expr = self.expression(AlterAssertion(this=name, state=state))
        return node

    def _parse_drop_assertion_or(self, fallback: Any) -> exp.Expr:
        if not self._match_text_seq("ASSERTION"):
            return fallback()  # type: ignore[no-any-return]
        exists = self._match_text_seq("IF", "EXISTS")
        name = self._parse_id_var(any_token=False)
        if name is None:
            self.raise_error("DROP ASSERTION needs a name")
        node: exp.Expr = self.expression(DropAssertion(this=name, exists=exists or None))
        return node

    def _parse_assertion_condition(self) -> exp.Expr | None:
        if not self._match(TokenType.ALL):
            return self._parse_disjunction()  # type: ignore[no-any-return]
        query = self._parse_wrapped(self._parse_select)
        alias = None
        if not self._match_text_seq("SATISFY"):
            alias = self._parse_id_var(any_token=False)
            if not self._match_text_seq("SATISFY"):
                self.raise_error("Expecting SATISFY after ALL (subquery) [alias]")
        # Oracle's docs wrap the condition in parentheses; the SLA article does not.
        condition = self._parse_disjunction()
        if condition is None:
            self.raise_error("Expecting a condition after SATISFY")
        while isinstance(condition, exp.Paren):
            condition = condition.this
        node: exp.Expr = self.expression(AllSatisfy(this=query, alias=alias, condition=condition))
        return node

    def _parse_assertion_state(self) -> AssertionState | None:
        args: dict[str, bool] = {}
        while self._curr and self._curr.text.upper() in STATE_WORDS:
            if self._match_text_seq("NOT", "DEFERRABLE"):
                args["deferrable"] = False
            elif self._match_text_seq("DEFERRABLE"):
                args["deferrable"] = True
            elif self._match_text_seq("INITIALLY", "DEFERRED"):
                args["initially_deferred"] = True
            elif self._match_text_seq("INITIALLY", "IMMEDIATE"):
                args["initially_deferred"] = False
            elif self._match_texts(("ENABLE", "DISABLE")):
                args["enabled"] = self._prev.text.upper() == "ENABLE"
            elif self._match_texts(("VALIDATE", "NOVALIDATE")):
                args["validate"] = self._prev.text.upper() == "VALIDATE"
            else:
                self.raise_error(f"Unexpected {self._curr.text!r} in assertion state")
                break
        return AssertionState(**args) if args else None


def _state_sql(gen: Any, e: AssertionState) -> str:
    parts = []
    if e.args.get("deferrable") is not None:
        parts.append("DEFERRABLE" if e.args["deferrable"] else "NOT DEFERRABLE")
    if e.args.get("initially_deferred") is not None:
        parts.append("INITIALLY " + ("DEFERRED" if e.args["initially_deferred"] else "IMMEDIATE"))
    if e.args.get("enabled") is not None:
        parts.append("ENABLE" if e.args["enabled"] else "DISABLE")
    if e.args.get("validate") is not None:
        parts.append("VALIDATE" if e.args["validate"] else "NOVALIDATE")
    return " ".join(parts)


def _all_sql(gen: Any, e: AllSatisfy) -> str:
    alias = f" {gen.sql(e, 'alias')}" if e.args.get("alias") else ""
    return f"ALL ({gen.sql(e, 'this')}){alias} SATISFY ({gen.sql(e, 'condition')})"


def _create_sql(gen: Any, e: CreateAssertion) -> str:
    exists = " IF NOT EXISTS" if e.args.get("exists") else ""
    state = f" {gen.sql(e, 'state')}" if e.args.get("state") else ""
    body = f"CREATE ASSERTION{exists} {gen.sql(e, 'this')} CHECK ({gen.sql(e, 'condition')})"
    return body + state


def _alter_sql(gen: Any, e: AlterAssertion) -> str:
    return f"ALTER ASSERTION {gen.sql(e, 'this')} {gen.sql(e, 'state')}"


def _drop_sql(gen: Any, e: DropAssertion) -> str:
    exists = " IF EXISTS" if e.args.get("exists") else ""
    return f"DROP ASSERTION{exists} {gen.sql(e, 'this')}"


class _Generator(Postgres.Generator):  # type: ignore[misc,valid-type]
    TRANSFORMS: ClassVar[dict[type[exp.Expr], Any]] = {
        **Postgres.Generator.TRANSFORMS,
        AssertionState: _state_sql,
        AllSatisfy: _all_sql,
        CreateAssertion: _create_sql,
        AlterAssertion: _alter_sql,
        DropAssertion: _drop_sql,
    }


class AssertionDialect(Postgres):
    """PostgreSQL's dialect plus the assertion statements (name: ``skybridge_assertions``)."""

    Parser = _Parser
    Generator = _Generator


DIALECT = AssertionDialect()
