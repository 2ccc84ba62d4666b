"""The Streams page: topics, groups and lag, dead letters with replay; scopes and CSRF."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from skybridge.backends import streams
from skybridge.backends.streams import Record, StreamBackend
from skybridge.runtime.deadletter import DeadLetters, letter_message
from skybridge.testing.contracts.streams import drain
from skybridge.testing.service import ServiceHarness, service_harness

#: A value that must never reach the page (dead letters keep the record's value).
SECRET_VALUE = b"hunter2-do-not-show"


@pytest.fixture
def service(skybridge_workdir: Path) -> Iterator[ServiceHarness]:
    with service_harness(apps=[]) as harness:
        yield harness


@pytest.fixture
def backend(service: ServiceHarness) -> Iterator[StreamBackend]:
    url = service.settings.backends.named()["streams"]
    with streams.connect(url) as connected:
        connected.create_topic("orders", 2)
        connected.produce("orders", [b"a", b"b", b"c"])
        with connected.consumer("billing", ["orders"]) as consumer:
            consumer.commit_records(drain(consumer, 3, 10)[:1])
        record = Record("orders", 1, 7, b"k1", SECRET_VALUE, [], 1.0)
        DeadLetters(connected, "orders").park(
            letter_message(record, "ValueError", "bad amount", "billing")
        )
        yield connected


def test_the_page_needs_a_session_and_streams_read(service: ServiceHarness) -> None:
    assert service.client.get("/streams", follow_redirects=False).status_code == 303
    narrow = service.new_token("narrow", scopes=["service:read"])
    service.login(narrow)
    assert 'href="/streams"' not in service.client.get("/").text
    assert service.client.get("/streams").status_code == 403


def test_it_shows_topics_groups_lag_and_dead_letters(
    service: ServiceHarness, backend: StreamBackend
) -> None:
    service.login()
    page = service.client.get("/streams")
    assert page.status_code == 200
    html = page.text
    assert 'href="/streams" class="current" aria-current="page"' in html
    assert html.count("aria-current") == 1
    assert 'data-topic="orders"' in html
    assert 'data-topic="orders.dlq"' in html
    assert 'data-group="billing"' in html
    assert '<span class="pill pill-warn">2</span>' in html  # 3 produced, 1 committed
    assert 'data-letter="0:0"' in html
    assert "orders/1/7" in html
    assert "bad amount" in html
    assert SECRET_VALUE.decode() not in html
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert 'src="/static/charts.js"' in html
    assert 'class="chart"' in html


def test_replay_needs_csrf_and_streams_replay(
    service: ServiceHarness, backend: StreamBackend
) -> None:
    reader = service.new_token("reader", scopes=["read"])
    csrf = service.login(reader)
    page = service.client.get("/streams").text
    assert 'action="/streams/replay"' not in page
    refused = service.client.post("/streams/replay", data={"csrf": csrf, "topic": "orders"})
    assert refused.status_code == 403
    service.logout()
    csrf = service.login()
    forged = service.client.post("/streams/replay", data={"csrf": "forged", "topic": "orders"})
    assert forged.status_code == 403
    assert 'action="/streams/replay"' in service.client.get("/streams").text


def test_replay_republishes_a_letter_and_marks_it(
    service: ServiceHarness, backend: StreamBackend
) -> None:
    csrf = service.login()
    before = backend.end_offsets("orders")[1]
    response = service.client.post(
        "/streams/replay", data={"csrf": csrf, "topic": "orders", "letter": "0:0"}
    )
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [303]  # reloading shows, not replays
    assert str(response.url).endswith("/streams?replayed=1&topic=orders")
    assert "Replayed 1 dead letter to &#39;orders&#39;. A letter whose cause" in response.text
    assert backend.end_offsets("orders")[1] == before + 1
    assert '<span class="pill pill-ok">replayed</span>' in response.text
    assert backend.end_offsets("orders")[1] == before + 1
    again = service.client.post("/streams/replay", data={"csrf": csrf, "topic": "orders"})
    assert "had no dead letters waiting" in again.text
    opened = service.client.get("/streams/replay", follow_redirects=False)
    assert (opened.status_code, opened.headers["location"]) == (303, "/streams")
    made_up = service.client.get("/streams", params={"replayed": 5, "topic": "elsewhere"})
    assert "Replayed" not in made_up.text  # a notice only for a topic with dead letters


def test_replay_of_an_unknown_letter_says_so(
    service: ServiceHarness, backend: StreamBackend
) -> None:
    csrf = service.login()
    response = service.client.post(
        "/streams/replay", data={"csrf": csrf, "topic": "orders", "letter": "0:99"}
    )
    assert response.status_code == 400
    assert "no dead letters" in response.text
    missing = service.client.post("/streams/replay", data={"csrf": csrf, "topic": ""})
    assert missing.status_code == 400


def test_a_bad_backend_setting_is_an_error_on_the_page(
    skybridge_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYBRIDGE__BACKENDS__STREAMS", "nosuch://x")
    with service_harness(apps=[]) as service:
        service.login()
        page = service.client.get("/streams")
    assert page.status_code == 200
    assert 'class="alert alert-error"' in page.text
    assert "nosuch" in page.text


def test_many_dead_letters_show_the_newest_and_say_how_many_more(
    service: ServiceHarness, backend: StreamBackend
) -> None:
    from skybridge.server.streams_page import LETTERS_SHOWN

    letters = DeadLetters(backend, "orders")
    for n in range(LETTERS_SHOWN + 9):
        record = Record("orders", 0, 100 + n, b"k", b"v", [], 1.0)
        letters.park(letter_message(record, "ValueError", f"bad row {n}", "billing"))
    total = LETTERS_SHOWN + 10  # and the fixture's one
    service.login()
    html = service.client.get("/streams").text
    assert html.count('<tr data-letter="') == LETTERS_SHOWN
    assert f"{total} waiting of {total}" in html
    assert f"The newest {LETTERS_SHOWN} of {total} letters" in html
    assert f"bad row {LETTERS_SHOWN + 8}" in html  # the newest
    assert html.index(f"bad row {LETTERS_SHOWN + 8}") < html.index(f"bad row {LETTERS_SHOWN}")
    assert "bad amount" not in html  # the oldest, beyond the shown ones
    assert f"Replay all {total}" in html
