"""The canary log watch tells "never logged" from "logged but masked", at every value length."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import structlog

from skybridge.backends.secrets.local import LocalSecretStore
from skybridge.core.observability import get_logger
from skybridge.core.secret import Secret
from skybridge.testing.canary import CANARY_LENGTHS, LogWatch, canary_values, watch_logs

log = get_logger("tests.canary")


# -- throwaway writers: one correct, the others with the defects the watch must catch ---------


def careful_write(store: LocalSecretStore, name: str, payload: Secret[str]) -> None:
    log.debug("writing secret", name=name, sha256=payload.sha256()[:12])
    store.upsert_value(name, payload)


def revealing_write(store: LocalSecretStore, name: str, payload: Secret[str]) -> None:
    log.debug("writing secret", name=name, value=payload.reveal())  # the planted defect
    store.upsert_value(name, payload)


def secret_object_write(store: LocalSecretStore, name: str, payload: Secret[str]) -> None:
    log.info("writing secret", name=name, payload=payload)  # masked by redaction, still a defect
    store.upsert_value(name, payload)


def formatted_write(store: LocalSecretStore, name: str, payload: Secret[str]) -> None:
    log.info(f"writing {name}: {payload}")  # renders as the mask
    store.upsert_value(name, payload)


def formatted_reveal_write(store: LocalSecretStore, name: str, payload: Secret[str]) -> None:
    log.info(f"writing {name} = {payload.reveal()}")  # the value inside the event name
    store.upsert_value(name, payload)


def stdlib_write(store: LocalSecretStore, name: str, payload: Secret[str]) -> None:
    logging.getLogger("tests.canary.stdlib").debug("wrote %s=%s", name, payload.reveal())
    store.upsert_value(name, payload)


def run(writer: object, tmp_path: Path) -> LogWatch:
    with LocalSecretStore(tmp_path) as store, watch_logs(canary_values()) as watch:
        for i, value in enumerate(watch.canaries):
            writer(store, f"app/db-{i}", Secret(value))  # type: ignore[operator]
    return watch


def test_a_careful_path_has_no_leaks(tmp_path: Path) -> None:
    watch = run(careful_write, tmp_path)
    assert len(watch.events) == len(CANARY_LENGTHS)  # the events were seen
    watch.assert_no_leaks()


def test_a_revealed_value_is_caught_at_every_length(tmp_path: Path) -> None:
    watch = run(revealing_write, tmp_path)
    caught = {x.canary_length for x in watch.leaks() if x.kind == "clear value"}
    assert caught == set(CANARY_LENGTHS)
    with pytest.raises(AssertionError, match="clear value") as failure:
        watch.assert_no_leaks()
    assert not any(value in str(failure.value) for value in watch.canaries if len(value) > 3)


def test_a_long_revealed_value_is_caught_though_the_written_log_is_clean(tmp_path: Path) -> None:
    watch = run(revealing_write, tmp_path)
    long_value = watch.canaries[-1]
    assert long_value not in watch.stream.getvalue()  # what a rendered-text check would see
    kinds = {x.kind for x in watch.leaks() if x.canary_length in (None, len(long_value))}
    assert {"clear value", "mask", "redaction flag (value)"} <= kinds


@pytest.mark.parametrize(
    ("writer", "kind"),
    [
        (secret_object_write, "Secret object"),
        (formatted_write, "mask"),
        (stdlib_write, "clear value"),
    ],
)
def test_other_ways_a_secret_reaches_a_log_call(tmp_path: Path, writer: object, kind: str) -> None:
    watch = run(writer, tmp_path)
    assert kind in {x.kind for x in watch.leaks()}


def test_the_redaction_flag_names_the_field(tmp_path: Path) -> None:
    watch = run(secret_object_write, tmp_path)
    written = [e for e in watch.rendered() if e["event"] == "writing secret"]
    assert all(e["secret_in_log"] == ["payload"] and e["payload"] == "***" for e in written)


def test_reports_never_show_a_canary(tmp_path: Path) -> None:
    watch = run(formatted_reveal_write, tmp_path)
    report = "\n".join(str(x) for x in watch.leaks())
    assert "<canary>" in report
    assert not set(watch.canaries) & set(re.findall(r"[A-Za-z0-9]+", report))
    assert not any(value in report for value in watch.canaries if len(value) > 3)


def test_bytes_values_are_watched(tmp_path: Path) -> None:
    with watch_logs([b"Qz"]) as watch:
        log.info("wrote", value=b"Qz")
    leaks = watch.leaks()
    assert {(x.kind, x.canary_length) for x in leaks} == {("clear value", 2)}
    assert [x.where.split()[0] for x in leaks] == ["log", "written"]  # as called, as written


def test_short_canaries_match_whole_words_only() -> None:
    with watch_logs(["Qz", "q"]) as watch:
        log.info("Qzx, xQz and Qz2 are other words")
        log.info("a random token", csrf="Xy_q-Ab3", run="20261207T185124Z-Qz")
    assert watch.leaks() == []
    with watch_logs(["q"]) as watch:
        log.info("connect", url="postgresql://u:q@db/app")
    assert {x.kind for x in watch.leaks()} == {"clear value"}


def test_the_previous_configuration_comes_back() -> None:
    before = structlog.get_config()["processors"]
    handlers = logging.getLogger().handlers[:]
    with watch_logs(["x"]):
        pass
    assert structlog.get_config()["processors"] == before
    assert logging.getLogger().handlers == handlers


def test_the_plugin_fixture_is_a_started_watch(log_canary: LogWatch) -> None:
    assert [len(v) for v in log_canary.canaries] == list(CANARY_LENGTHS)
    log.info("payload", value=log_canary.canaries[2])
    assert {x.canary_length for x in log_canary.leaks()} == {3}
