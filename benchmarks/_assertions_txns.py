"""Transactions and the sanity check of benchmarks/assertions.py.

Every transaction runs in a retry loop: a serialization failure or a deadlock is retried (what
a client of SERIALIZABLE must do; under READ COMMITTED only deadlocks can happen), a check
violation (SQLSTATE 23514) is a rejection, the right answer for a transaction that would break
the rule.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from _assertions_setup import CUSTOMERS, violations

INSERT = "INSERT INTO tickets VALUES (%s, %s, NULL, 'LOW', %s::date)"
EXPIRE = "UPDATE slas SET status = 'EXPIRED' WHERE customer_id = %s"
EXTEND = "UPDATE slas SET end_date = end_date + 1 WHERE customer_id = %s"
RETRIES = 20
Steps = Sequence[tuple[str, tuple[Any, ...]]]
RETRYABLE = (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)


def connect(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True)


def run_txn(conn: psycopg.Connection[Any], steps: Steps) -> tuple[str, int]:
    """Run ``steps`` as one transaction: ``("commit" | "rejected" | "gave up", retries)``."""
    for attempt in range(RETRIES + 1):
        try:
            with conn.transaction():
                for sql, params in steps:
                    conn.execute(sql, params)
            return "commit", attempt
        except psycopg.errors.CheckViolation:
            return "rejected", attempt
        except RETRYABLE:
            continue
    return "gave up", RETRIES


def refusals(url: str, next_id: int) -> tuple[str, str]:
    """Two violating transactions on one connection: a ticket dated outside every SLA, and
    expiring the SLA of a customer that has tickets. Enforcement rejects both."""
    with connect(url) as conn:
        ticket, _ = run_txn(conn, [(INSERT, (next_id, 1, "2040-01-01"))])
        expiry, _ = run_txn(conn, [(EXPIRE, (1,))])
    return ticket, expiry


def write_skew(url: str, next_id: int, customer: int) -> tuple[str, str]:
    """The first ticket of ``customer`` (no ticket yet) and the expiry of its only SLA, in two
    overlapping transactions: each is fine alone, both together break the rule. The ticket's
    transaction stays open while the expiry runs (it waits on a lock, or does not), then
    commits; a serialization failure is retried after the expiry finished."""
    outcome: dict[str, str] = {}
    with connect(url) as first, connect(url) as second:
        expiry = threading.Thread(
            target=lambda: outcome.update(expiry=run_txn(second, [(EXPIRE, (customer,))])[0])
        )
        steps: Steps = [(INSERT, (next_id, customer, "2026-03-01"))]
        try:
            with first.transaction():
                first.execute(*steps[0])
                expiry.start()
                time.sleep(0.3)  # the expiry runs now, inside the ticket's transaction
            outcome["ticket"] = "commit"
        except psycopg.errors.CheckViolation:
            outcome["ticket"] = "rejected"
        except RETRYABLE:
            expiry.join()
            outcome["ticket"] = run_txn(first, steps)[0]
        expiry.join()
    return outcome["ticket"], outcome["expiry"]


def sanity(url: str, next_id: int) -> tuple[bool, str]:
    """Is every violation rejected on this database? ``(ok, what happened)``."""
    ticket, expiry = refusals(url, next_id)
    skew = write_skew(url, next_id + 1, CUSTOMERS + 1)
    left = violations(url)
    ok = ticket == expiry == "rejected" and left == 0 and "commit" in skew
    detail = (
        f"late ticket {ticket}, expiry of a used SLA {expiry}, write skew (ticket, expiry) "
        f"{skew}, violating rows {left}"
    )
    return ok, detail
