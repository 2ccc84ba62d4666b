"""Databases and enforcement configurations for benchmarks/assertions.py.

The rule is ``ticket_requires_active_sla`` from examples/sla: a ticket needs an ACTIVE SLA of
its customer covering its date. Configurations, one fresh database each:

* ``none``: no check (the floor; it lets violations through, the sanity check shows it);
* ``anchor``: the complete hand-written enforcement at READ COMMITTED. A row trigger on
  ``tickets`` (INSERT, UPDATE OF customer_id, created_on) locks the SLAs that cover the new
  ticket ``FOR SHARE`` and fails when there is none; a row trigger on ``slas`` (UPDATE,
  DELETE) locks the customer row ``FOR NO KEY UPDATE`` (one SLA change per customer at a
  time, not blocking ticket inserts' foreign-key locks) and fails when a ticket of the customer
  is left uncovered. A ticket insert and an SLA change of the same customer wait for each other,
  so write skew cannot commit;
* ``serializable``: the same two checks without any lock, every transaction SERIALIZABLE, and
  the client retries serialization failures (the textbook alternative; PostgreSQL's SSI aborts
  one of two write-skewing transactions);
* ``ours``: ``CREATE ASSERTION`` applied with ``api.apply`` (statement triggers on the
  transition tables, the touched customers' rows upserted in ``skybridge_assertion_locks``,
  and the delta check).
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from skybridge.apps.assertions import api
from skybridge.backends.sql import create_sql_engine

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = (ROOT / "examples" / "sla" / "schema.sql").read_text()
CUSTOMERS = 1000
#: Customers with an SLA and no ticket yet: where a first ticket and an SLA expiry can race.
FRESH = 200
ASSERTION = """CREATE ASSERTION ticket_requires_active_sla CHECK (
  ALL (SELECT * FROM tickets)
  SATISFY (EXISTS (SELECT 1 FROM slas
                   WHERE slas.customer_id = tickets.customer_id
                     AND slas.status = 'ACTIVE'
                     AND tickets.created_on BETWEEN slas.start_date AND slas.end_date)))"""
_RAISE = """RAISE EXCEPTION USING ERRCODE = '23514',
      MESSAGE = 'assertion "ticket_requires_active_sla" violated';"""
_UNCOVERED = """SELECT 1 FROM tickets t WHERE t.customer_id = OLD.customer_id AND NOT EXISTS (
      SELECT 1 FROM slas s WHERE s.customer_id = t.customer_id AND s.status = 'ACTIVE'
        AND t.created_on BETWEEN s.start_date AND s.end_date)"""


def _triggers(*, locks: bool) -> list[str]:
    share = "FOR SHARE" if locks else ""
    customer = (
        "PERFORM 1 FROM customers WHERE customer_id = OLD.customer_id FOR NO KEY UPDATE;"
        if locks
        else ""
    )
    return [
        f"""CREATE FUNCTION ticket_needs_sla() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM slas s WHERE s.customer_id = NEW.customer_id AND s.status = 'ACTIVE'
    AND NEW.created_on BETWEEN s.start_date AND s.end_date {share};
  IF NOT FOUND THEN {_RAISE} END IF;
  RETURN NULL;
END $$""",
        "CREATE TRIGGER ticket_needs_sla AFTER INSERT OR UPDATE OF customer_id, created_on "
        "ON tickets FOR EACH ROW EXECUTE FUNCTION ticket_needs_sla()",
        f"""CREATE FUNCTION sla_keeps_tickets_covered() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {customer}
  IF EXISTS ({_UNCOVERED}) THEN {_RAISE} END IF;
  RETURN NULL;
END $$""",
        "CREATE TRIGGER sla_keeps_tickets_covered AFTER UPDATE OR DELETE ON slas "
        "FOR EACH ROW EXECUTE FUNCTION sla_keeps_tickets_covered()",
    ]


CONFIGS = ("none", "anchor", "serializable", "ours")
VIOLATIONS = """SELECT count(*) FROM tickets t WHERE NOT EXISTS (
  SELECT 1 FROM slas s WHERE s.customer_id = t.customer_id AND s.status = 'ACTIVE'
    AND t.created_on BETWEEN s.start_date AND s.end_date)"""


def load(url: str, rows: int) -> None:
    """The SLA schema: ``CUSTOMERS`` customers with tickets and ``FRESH`` without, one ACTIVE
    SLA each (2020-2030), and ``rows`` tickets."""
    total = CUSTOMERS + FRESH
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA)
        conn.execute("CREATE INDEX slas_customer ON slas (customer_id)")
        conn.execute(f"INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, {total}) g")
        conn.execute("INSERT INTO engineers VALUES (1, 'Alice', 'SENIOR')")
        with conn.transaction():
            conn.execute(
                "INSERT INTO slas SELECT g, g, 'ACTIVE', DATE '2020-01-01', DATE '2030-12-31' "
                f"FROM generate_series(1, {total}) g"
            )
            conn.execute(
                f"INSERT INTO sla_services SELECT g, 'EMAIL' FROM generate_series(1, {total}) g"
            )
        conn.execute(
            f"INSERT INTO tickets SELECT g, 1 + g % {CUSTOMERS}, NULL, 'LOW', "
            f"DATE '2021-01-01' + (g % 3000) FROM generate_series(1, {rows}) g"
        )
        conn.execute("VACUUM ANALYZE")


def enforce(url: str, config: str) -> None:
    """Install ``config``'s enforcement in the database at ``url``."""
    if config == "ours":
        engine = create_sql_engine(url)
        try:
            api.apply(ASSERTION, engine)  # VALIDATE: a full check of the loaded rows
        finally:
            engine.dispose()
        return
    if config == "none":
        return
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in _triggers(locks=config == "anchor"):
            conn.execute(statement)
        if config == "serializable":
            name = url.rsplit("/", 1)[1]
            conn.execute(f"ALTER DATABASE {name} SET default_transaction_isolation = serializable")


def violations(url: str) -> int:
    """Tickets no ACTIVE SLA covers (the full check)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(VIOLATIONS).fetchone()
    assert row is not None
    return int(row[0])
