"""Split a ``.sql`` file into plain statements and assertion statements, keeping their order.

sqlglot's tokenizer finds the statement boundaries (so ``;`` inside strings, comments and
``$$`` bodies is ignored); plain statements are passed on verbatim, never re-generated, so any
DDL the database accepts works even where sqlglot could not parse it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType  # type: ignore[attr-defined]

from skybridge.apps.assertions.grammar import DIALECT
from skybridge.apps.assertions.model import Statement, parse_statement
from skybridge.core.errors import ValidationError


@dataclass(frozen=True)
class ScriptStatement:
    """One statement of a script: ``assertion`` is set for CREATE/ALTER/DROP ASSERTION."""

    sql: str
    assertion: Statement | None = None


def split_script(text: str) -> list[ScriptStatement]:
    """Statements of ``text`` in order; assertion statements come parsed."""
    try:
        tokens = DIALECT.tokenize(text)
    except TokenError as exc:
        raise ValidationError(f"cannot tokenize script: {exc}") from None
    out: list[ScriptStatement] = []
    for chunk in _statements(tokens):
        sql = text[chunk[0].start : chunk[-1].end + 1].strip()
        if _is_assertion(chunk):
            out.append(ScriptStatement(sql, parse_statement(sql)))
        else:
            out.append(ScriptStatement(sql))
    return out


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
