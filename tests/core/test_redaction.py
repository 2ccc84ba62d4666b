"""A secret value never appears in logs, exceptions, reprs or formatted output."""

from __future__ import annotations

import io
import json
import logging
import pickle

import pytest

from skybridge.core.errors import TerminalError
from skybridge.core.observability import (
    METRICS,
    QUIET_LOGGERS,
    SECRET_IN_LOG,
    configure_logging,
    get_logger,
    redact,
)
from skybridge.core.secret import MASK, Secret, scrub

VALUE = "s3cr3t-Value-9f8e7d"


def test_secret_masks_every_rendering() -> None:
    secret = Secret(VALUE)
    for rendered in (repr(secret), str(secret), f"{secret}", f"{secret!r}", f"{secret}"):
        assert VALUE not in rendered
        assert MASK in rendered
    assert secret.reveal() == VALUE
    assert repr([secret, {"k": secret}]).count(MASK) == 2


def test_secret_cannot_be_pickled() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(Secret(VALUE))


def test_binary_secret_and_digest() -> None:
    secret = Secret(b"\x00\x01binary-secret")
    assert secret.is_binary
    assert len(secret) == 15
    assert secret.sha256() == Secret(b"\x00\x01binary-secret").sha256()
    assert secret == Secret(b"\x00\x01binary-secret")
    assert secret != Secret(b"other-value")


def test_scrub_removes_known_values_from_free_text() -> None:
    Secret(VALUE)
    assert scrub(f"failed to write {VALUE} to target") == f"failed to write {MASK} to target"


def test_redact_walks_structures() -> None:
    Secret(VALUE)
    data = {"password": "pw-anything", "nested": [{"note": f"x{VALUE}x"}], "ok": 3}
    assert redact(data) == {"password": MASK, "nested": [{"note": f"x{MASK}x"}], "ok": 3}


def test_logs_never_contain_the_value() -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", json_output=True, stream=stream)
    log = get_logger("test")
    secret = Secret(VALUE)
    log.info("writing secret", value=secret, note=f"raw {secret.reveal()} leaked", token=VALUE)
    try:
        raise TerminalError(f"target rejected {secret.reveal()}")
    except TerminalError:
        log.exception("write failed")
    logging.getLogger("stdlib").warning("stdlib says %s", VALUE)
    output = stream.getvalue()
    assert VALUE not in output
    lines = [json.loads(line) for line in output.splitlines()]
    assert lines[0]["value"] == MASK
    assert lines[0]["note"] == f"raw {MASK} leaked"
    assert "TerminalError" in lines[1]["exception"]
    assert lines[2]["event"] == f"stdlib says {MASK}"


def test_short_values_are_masked_but_do_not_rewrite_free_text() -> None:
    short = Secret("cond")
    assert repr(short) == "Secret('***')"
    assert scrub("lag_seconds") == "lag_seconds"


def _events(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_secret_reaching_a_log_call_is_flagged_and_counted() -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", json_output=True, stream=stream)
    before = METRICS.get_sample_value("skybridge_log_secrets_redacted_total") or 0.0
    short = Secret("pw7")
    log = get_logger("test")
    log.info("object", payload=short)
    log.info("revealed", value=short.reveal(), note="pw7 as a word stays")
    log.info("long", note=f"copied {Secret(VALUE).reveal()} here")
    log.info("named only", password="not-a-known-value")
    events = _events(stream)
    assert [e.get(SECRET_IN_LOG) for e in events] == [["payload"], ["value"], ["note"], None]
    assert events[1]["value"] == MASK
    assert events[1]["note"] == "pw7 as a word stays"  # short values are not scrubbed in text
    assert events[3]["password"] == MASK
    after = METRICS.get_sample_value("skybridge_log_secrets_redacted_total")
    assert after == before + 3


def test_nested_secrets_are_flagged_under_their_field() -> None:
    found: list[str] = []
    assert redact({"rows": [{"v": Secret("x")}]}, found=found) == {"rows": [{"v": MASK}]}
    assert found == ["v"]


def test_sdk_loggers_stay_at_warning_even_at_debug() -> None:
    configure_logging("DEBUG", json_output=True, stream=io.StringIO())
    for name in QUIET_LOGGERS:
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING
    configure_logging("ERROR", json_output=True, stream=io.StringIO())
    assert logging.getLogger("botocore").getEffectiveLevel() == logging.ERROR
    configure_logging("INFO", json_output=True)
