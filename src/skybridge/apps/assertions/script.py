"""Split a ``.sql`` file into plain statements and assertion statements, keeping their order.

sqlglot's tokenizer finds the statement boundaries (so ``;`` inside strings, comments and
``$$`` bodies is ignored); plain statements are passed on verbatim, never re-generated, so any
DDL the database accepts works even where sqlglot could not parse it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp
from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType  # type: ignore[attr-defined]

from skybridge.apps.assertions.errors import StatementRef, located
from skybridge.apps.assertions.grammar import DIALECT
from skybridge.apps.assertions.model import Statement, parse_statement
from skybridge.core.errors import SkybridgeError, ValidationError


@dataclass(frozen=True)
class ScriptStatement:
    """One statement of a script: ``assertion`` is set for CREATE/ALTER/DROP ASSERTION.

    ``line`` is the line of the script the statement starts on (1-based); ``source`` names
    the script's file, when it has one.
    """

    sql: str
    assertion: Statement | None = None
    line: int = 1
    source: str | None = None

    @property
    def ref(self) -> StatementRef:
        """Where the statement is, for error messages."""
        return StatementRef(self.line, self.sql, self.source)


#: The longest assertion compiled, in SQL tokens (the SLA example's longest has 80 or so).
MAX_ASSERTION_TOKENS = 5_000
#: The most table references an assertion may hold: compiling one costs time (and generated
#: SQL) that grows with their square (32 compile in about half a second; the SLA examples
#: read 2 or 3).
MAX_ASSERTION_TABLES = 32


def split_script(text: str, source: str | None = None) -> list[ScriptStatement]:
    """Statements of ``text`` in order; assertion statements come parsed.

    Raises:
        ValidationError: the script does not tokenize, or an assertion statement does not
            parse (the message starts with the statement's file and line).
    """
    try:
        tokens = DIALECT.tokenize(text)
    except TokenError as exc:
        raise ValidationError(f"cannot tokenize script: {exc}") from None
    out: list[ScriptStatement] = []
    for chunk in _statements(tokens):
        start = chunk[0].start
        sql = text[start : chunk[-1].end + 1].strip()
        line = text.count("\n", 0, start) + 1
        statement = ScriptStatement(sql, None, line, source)
        if _is_assertion(chunk):
            _check_size(statement, len(chunk))
            statement = ScriptStatement(sql, _parse(statement), line, source)
        out.append(statement)
    return out


def _check_size(statement: ScriptStatement, tokens: int) -> None:
    """Refuse an assertion too long to compile in reasonable time, before parsing it: its
    check runs inside every guarded write, and compiling one costs time that grows faster
    than its length (an HTTP caller with the read scope may ask for a compile)."""
    if tokens > MAX_ASSERTION_TOKENS:
        error = ValidationError(
            f"the assertion is {tokens:,} tokens long; at most {MAX_ASSERTION_TOKENS:,} are "
            "compiled",
            hint="split its condition into several assertions",
        )
        raise located(error, statement.ref) from None


def _parse(statement: ScriptStatement) -> Statement:
    try:
        parsed = parse_statement(statement.sql)
    except SkybridgeError as exc:
        raise located(exc, statement.ref) from None
    tables = sum(1 for _ in parsed.find_all(exp.Table))
    if tables > MAX_ASSERTION_TABLES:
        error = ValidationError(
            f"the assertion reads {tables} tables (a table named twice counts twice); at most "
            f"{MAX_ASSERTION_TABLES} are compiled",
            hint="split its condition into several assertions",
        )
        raise located(error, statement.ref) from None
    return parsed


def _statements(tokens: list[Token]) -> list[list[Token]]:
    chunks: list[list[Token]] = []
    current: list[Token] = []
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON and not _inside_trigger_body(current):
            if current:
                chunks.append(current)
            current = []
        else:
            current.append(token)
    if current:
        chunks.append(current)
    return chunks


def _inside_trigger_body(chunk: list[Token]) -> bool:
    """SQLite's ``CREATE TRIGGER ... BEGIN ...; END`` holds semicolons until its ``END``."""
    words = [t.text.upper() for t in chunk[:4]]
    if not words or words[0] != "CREATE" or "TRIGGER" not in words:
        return False
    texts = [t.text.upper() for t in chunk]
    return "BEGIN" in texts and texts[-1] != "END"


def _is_assertion(chunk: list[Token]) -> bool:
    words = [t.text.upper() for t in chunk[:2]]
    return len(words) == 2 and words[0] in ("CREATE", "ALTER", "DROP") and words[1] == "ASSERTION"
