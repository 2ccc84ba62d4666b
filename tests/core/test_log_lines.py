"""What log lines say: the logger's name, an error's first line only (never the statement and
row values a database error carries), and one traceback per unhandled request."""

from __future__ import annotations

import io
import json
import logging
import time
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from skybridge.backends import kv as kv_family
from skybridge.core.observability import error_origin, error_summary, get_logger
from skybridge.runtime.scheduler import Scheduler


def _events(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def _refused_insert() -> IntegrityError:
    engine = create_engine("sqlite://")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE p (id TEXT, ssn TEXT CHECK (length(ssn) = 11))"))
    try:
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO p VALUES (:id, :ssn)"),
                [{"id": "p1", "ssn": "123-45-6789"}, {"id": "p2", "ssn": "SSN-TOO-LONG-4711"}],
            )
    except IntegrityError as exc:
        return exc
    raise AssertionError("the insert was not refused")


def test_an_error_summary_keeps_the_first_line_and_no_row_values() -> None:
    exc = _refused_insert()
    assert "123-45-6789" in str(exc)  # SQLAlchemy's message quotes every row of the batch
    summary = error_summary(exc)
    assert summary.startswith("IntegrityError: (sqlite3.IntegrityError) CHECK constraint failed")
    assert "123-45-6789" not in summary
    assert "4711" not in summary
    assert error_summary(ValueError("")) == "ValueError"
    assert len(error_summary(ValueError("x" * 5000))) == len("ValueError: ") + 300
    assert error_origin(exc) is not None
    assert error_origin(ValueError("never raised")) is None


def test_events_name_their_logger(log_output: io.StringIO) -> None:
    get_logger("skybridge.test.component").info("something.happened", n=1)
    (event,) = _events(log_output)
    assert event["logger"] == "skybridge.test.component"
    assert event["event"] == "something.happened"


def test_uvicorns_second_traceback_of_an_unhandled_request_is_dropped(
    log_output: io.StringIO,
) -> None:
    # The service's handler logs http.unhandled with the traceback; Starlette re-raises and
    # uvicorn would log the same traceback again under this message.
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application\n")
    logging.getLogger("uvicorn.error").info("Application startup complete.")
    assert [e["event"] for e in _events(log_output)] == ["Application startup complete."]


def test_a_failing_job_is_logged_with_its_message_and_where_it_failed(
    log_output: io.StringIO, tmp_path: Any
) -> None:
    store = kv_family.connect(f"sqlite:///{tmp_path}/kv.db", setting=None)
    scheduler = Scheduler(store, prefix="t/scheduler/")

    def nightly(run: Any) -> None:
        raise KeyError("missing-key")

    scheduler.every("app.nightly", 3600, nightly, missed="run_once")
    scheduler.run_pending()  # the first run sets the baseline; the next period is due
    scheduler.run_pending(time.time() + 3601)
    (failed,) = [e for e in _events(log_output) if e["event"] == "job failed"]
    assert failed["job"] == "app.nightly"
    assert failed["error"] == "KeyError: 'missing-key'"
    assert failed["at"].endswith(" in nightly")
