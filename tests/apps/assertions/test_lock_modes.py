"""Which table's writers share a key's lock (PostgreSQL lock stripes)."""

from __future__ import annotations

import pytest

from skybridge.apps.assertions.analysis import analyse
from skybridge.apps.assertions.model import parse_assertion
from skybridge.apps.assertions.postgres import STRIPES, compile_assertion
from skybridge.apps.assertions.script import split_script

from .conftest import EXAMPLE

RULES = {
    s.sql.split("CHECK", 1)[0].split()[-1]: s.sql
    for s in split_script((EXAMPLE / "assertions.sql").read_text())
    if s.assertion is not None
}


@pytest.mark.parametrize(
    ("name", "shared"),
    [
        # tickets occur once and are checked row by row against slas: inserts share
        ("ticket_requires_active_sla", "tickets"),
        # both tables qualify; only one may share (they read each other)
        ("critical_tickets_need_senior_engineer", "engineers"),
        ("sla_must_have_services", "slas"),
    ],
)
def test_the_shared_table(name: str, shared: str) -> None:
    assert analyse(parse_assertion(RULES[name])).shared_table() == shared


def test_a_table_that_occurs_twice_never_shares() -> None:
    rule = """CREATE ASSERTION one_lead_per_team CHECK (NOT EXISTS (
      SELECT 1 FROM members a JOIN members b ON a.team = b.team
      WHERE a.role = 'LEAD' AND b.role = 'LEAD' AND a.id <> b.id))"""
    assert analyse(parse_assertion(rule)).shared_table() is None


def test_shared_writers_bump_one_stripe_others_all() -> None:
    analysis = analyse(parse_assertion(RULES["ticket_requires_active_sla"]))
    functions = [s for s in compile_assertion(analysis) if s.startswith("CREATE OR REPLACE")]
    on_tickets = [f for f in functions if "skybridge_new AS tickets" in f]
    on_slas = [f for f in functions if "skybridge_new AS tickets" not in f]
    assert on_tickets
    assert on_slas
    assert all(f"mod(pg_backend_pid(), {STRIPES})" in f for f in on_tickets)
    assert all(f"generate_series(0, {STRIPES - 1})" in f for f in on_slas)
