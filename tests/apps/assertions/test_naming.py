"""Assertion names reach generated SQL only quoted: ``"no-neg"`` works, crafted ones inject nothing.

The property test is metamorphic: compiling the same assertion under a hostile name and under a
plain one must give SQL with the same token structure (recursing into dollar-quoted function
bodies). A name that leaked unquoted would add or change tokens; quoted, it only changes the
text inside string and identifier tokens.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlglot.dialects.postgres import Postgres
from sqlglot.dialects.sqlite import SQLite
from sqlglot.tokens import TokenType  # type: ignore[attr-defined]
from typer.testing import CliRunner

from skybridge.apps.assertions import api, postgres, sqlite
from skybridge.apps.assertions.analysis import analyse
from skybridge.apps.assertions.catalog import delete_sql, upsert_sql
from skybridge.apps.assertions.errors import AssertionViolation
from skybridge.apps.assertions.model import parse_assertion
from skybridge.apps.assertions.naming import quote_ident
from skybridge.apps.assertions.plan import Step
from skybridge.apps.assertions.volatility import pg_check_sql
from skybridge.cli import app

TABLES = "CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER); CREATE TABLE u (id INTEGER)"
RULES = {
    "immediate": "NOT EXISTS (SELECT 1 FROM t WHERE x < 0)",
    "keyed": "ALL (SELECT * FROM t) SATISFY EXISTS (SELECT 1 FROM u WHERE u.id = t.id)",
}
HOSTILE = [
    "no-neg",
    'a"b',
    "it's",
    "x$sba$; DROP TABLE t; --",
    "*/ DROP TABLE t; /*",
    "x'); DROP TABLE t; --",
    "sba $sba1 $",
]
_TOKENIZERS = {"postgresql": Postgres().tokenize, "sqlite": SQLite().tokenize}
_QUOTED = (TokenType.STRING, TokenType.IDENTIFIER)
names = st.text(alphabet=st.sampled_from("ab_- \"';$*/()-\\%é"), min_size=1, max_size=30).filter(
    lambda n: n.strip() != ""
)


def _statements(name: str, rule: str, dialect: str, deferred: bool) -> list[str]:
    state = " DEFERRABLE INITIALLY DEFERRED" if deferred else ""
    assertion = parse_assertion(f"CREATE ASSERTION {quote_ident(name)} CHECK ({rule}){state}")
    analysis = analyse(assertion)
    compiler = postgres if dialect == "postgresql" else sqlite
    out = [
        *compiler.compile_assertion(analysis),
        *compiler.drop_assertion(analysis),
        upsert_sql(analysis, dialect),
        delete_sql(assertion.name),
        api._validate_statement(Step("validate", "", analysis), dialect),  # type: ignore[arg-type]
    ]
    return [*out, pg_check_sql(analysis)] if dialect == "postgresql" else out


def _shape(sql: str, dialect: str) -> list[object]:
    """Token types, and for quoted tokens only that they are quoted; bodies recursively."""
    shape: list[object] = []
    for token in _TOKENIZERS[dialect](sql):
        if token.token_type == TokenType.HEREDOC_STRING:
            shape.append(("body", _shape(token.text, dialect)))
        elif token.token_type in _QUOTED:
            shape.append(token.token_type)
        else:
            shape.append((token.token_type, token.text.upper()))
    return shape


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("deferred", [False, True])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=names)
def test_a_crafted_name_never_changes_the_generated_sql(
    dialect: str, rule: str, deferred: bool, name: str
) -> None:
    plain = _statements("plain", RULES[rule], dialect, deferred)
    crafted = _statements(name, RULES[rule], dialect, deferred)
    assert len(plain) == len(crafted)
    for ours, theirs in zip(plain, crafted, strict=True):
        assert _shape(theirs, dialect) == _shape(ours, dialect), theirs


@pytest.mark.parametrize("name", HOSTILE)
def test_quoted_names_work_end_to_end(engine: Engine, name: str) -> None:
    api.apply(TABLES, engine)
    quoted = quote_ident(name)
    api.apply(f"CREATE ASSERTION {quoted} CHECK ({RULES['immediate']})", engine)
    assert [e.name for e in api.list_assertions(engine)] == [name.lower()]  # case-insensitive
    with pytest.raises(AssertionViolation) as info, api.transaction(engine) as conn:
        api.run_sql(conn, "INSERT INTO t VALUES (1, -1)")
    assert info.value.name == name.lower()
    api.apply(f"ALTER ASSERTION {quoted} DISABLE", engine)
    with api.transaction(engine) as conn:
        api.run_sql(conn, "INSERT INTO t VALUES (1, -1)")
    with pytest.raises(AssertionViolation):
        api.apply(f"ALTER ASSERTION {quoted} ENABLE VALIDATE", engine)
    api.apply(f"DROP ASSERTION {quoted}", engine)
    assert api.list_assertions(engine) == []
    with api.transaction(engine) as conn:  # the table the crafted names try to drop is there
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 1


def test_deferred_assertion_with_a_dash_in_its_name(engine: Engine) -> None:
    api.apply(TABLES, engine)
    rule = RULES["keyed"]
    api.apply(f'CREATE ASSERTION "t-needs-u" CHECK ({rule}) DEFERRABLE INITIALLY DEFERRED', engine)
    with api.transaction(engine) as conn:
        api.run_sql(conn, "INSERT INTO t VALUES (1, 1)")
        api.run_sql(conn, "INSERT INTO u VALUES (1)")
    with pytest.raises(AssertionViolation) as info, api.transaction(engine) as conn:
        api.run_sql(conn, "INSERT INTO t VALUES (2, 1)")
    assert info.value.name == "t-needs-u"


def test_cli_disables_and_drops_an_assertion_whose_name_needs_quotes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    script = tmp_path / "rules.sql"
    script.write_text(f'{TABLES};\nCREATE ASSERTION "no-neg" CHECK ({RULES["immediate"]})')
    runner = CliRunner()
    for args in (["apply", str(script)], ["disable", "no-neg"], ["drop", "no-neg"]):
        result = runner.invoke(app, ["assert", *args, "--db", url])
        assert result.exit_code == 0, result.output
    listed = runner.invoke(app, ["assert", "list", "--db", url, "--json"])
    assert listed.stdout.strip() == "[]"


def test_join_keys_whose_names_need_quotes_are_quoted(engine: Engine) -> None:
    api.apply(
        'CREATE TABLE p ("key col" INTEGER PRIMARY KEY);'
        'CREATE TABLE c (id INTEGER PRIMARY KEY, "key col" INTEGER)',
        engine,
    )
    api.apply(
        "CREATE ASSERTION child_has_parent CHECK (ALL (SELECT * FROM c) SATISFY "
        'EXISTS (SELECT 1 FROM p WHERE p."key col" = c."key col"))',
        engine,
    )
    with pytest.raises(AssertionViolation), api.transaction(engine) as conn:
        api.run_sql(conn, "INSERT INTO c VALUES (1, 5)")
    with api.transaction(engine) as conn:
        api.run_sql(conn, "INSERT INTO p VALUES (5)")
        api.run_sql(conn, "INSERT INTO c VALUES (1, 5)")
