"""secretsync with many mappings and a long audit log: what a request reads stays bounded.

The table is parsed once per distinct text, the duplicate-name check is linear, ``status``
reads the states in one batch, ``audit_log`` reads back from the newest records only, and the
dashboard page shows a bounded list with a search.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.settings import load_settings
from skybridge.apps.secretsync.manifest import APP
from skybridge.apps.secretsync.model import MappingTable
from skybridge.apps.secretsync.page import MAPPINGS_SHOWN, ROWS_SHOWN
from skybridge.apps.secretsync.service import backend_probes, find_table
from skybridge.apps.secretsync.state import AuditRecord, MappingState, StateStore
from skybridge.backends import kv
from skybridge.backends.kv import KeyValueStore
from skybridge.backends.secrets.local import LocalSecretStore
from skybridge.core.clock import ManualClock
from skybridge.core.errors import ConfigError
from skybridge.core.secret import Secret
from skybridge.server import create_app

from .test_routes import Scanned, _clean_env, _csrf, _login


def _table_text(count: int, owner: str = "scale") -> str:
    head = f'owner = "{owner}"\n[backends]\nsrc = "local://src"\ndst = "local://dst"\n'
    return head + "".join(
        f'\n[[mappings]]\nname = "m-{i:04d}"\n'
        f'source = {{ backend = "src", secret = "app/s{i:04d}" }}\n'
        f'target = {{ backend = "dst", secret = "t-{i:04d}" }}\n'
        for i in range(count)
    )


# -- the table -----------------------------------------------------------------------------


@pytest.fixture
def table_ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppContext[Any]:
    _clean_env(monkeypatch, tmp_path)
    (tmp_path / "secretsync.toml").write_text(_table_text(3))
    return AppContext.create(APP, load_settings([APP]))


def test_an_unchanged_table_is_parsed_once_and_an_edit_is_seen_at_once(
    table_ctx: AppContext[Any], tmp_path: Path
) -> None:
    first, where = find_table(table_ctx)
    assert find_table(table_ctx)[0] is first  # not parsed again
    assert backend_probes(table_ctx)  # the Overview and Backends pages' probes share it
    assert find_table(table_ctx)[0] is first
    file = tmp_path / "secretsync.toml"
    file.write_text(file.read_text().replace('"scale"', '"other"'))  # same size, same second
    edited, _ = find_table(table_ctx)
    assert edited.owner == "other"
    assert Path(where).resolve() == file.resolve()


def test_an_invalid_table_fails_the_same_way_every_time(
    table_ctx: AppContext[Any], tmp_path: Path
) -> None:
    find_table(table_ctx)
    file = tmp_path / "secretsync.toml"
    file.write_text(file.read_text().replace('name = "m-0001"', 'name = "m-0000"'))
    messages = []
    for _ in range(2):
        with pytest.raises(ConfigError, match="mapping names must be unique: m-0000") as caught:
            find_table(table_ctx)
        messages.append((caught.value.message, caught.value.setting))
    assert messages[0] == messages[1]
    assert Path(str(messages[0][1])).resolve() == file.resolve()


def test_an_inline_table_is_parsed_once_per_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean_env(monkeypatch, tmp_path)
    monkeypatch.setenv("SKYBRIDGE__SECRETSYNC__MAPPINGS_INLINE", _table_text(2, "inline"))
    ctx = AppContext.create(APP, load_settings([APP]))
    first, where = find_table(ctx)
    assert where == "secretsync.mappings_inline"
    assert find_table(ctx)[0] is first
    monkeypatch.setenv("SKYBRIDGE__SECRETSYNC__MAPPINGS_INLINE", _table_text(2, "changed"))
    assert find_table(AppContext.create(APP, load_settings([APP])))[0].owner == "changed"


def test_the_duplicate_name_check_is_linear() -> None:
    count = 30_000
    mappings = [
        {
            "name": f"m-{i}",
            "source": {"backend": "local://src", "secret": f"s{i}"},
            "target": {"backend": "local://dst", "secret": f"t{i}"},
        }
        for i in range(count)
    ]
    mappings.append({**mappings[5], "target": {"backend": "local://dst", "secret": "t-x"}})
    started = time.perf_counter()
    with pytest.raises(ValueError, match="mapping names must be unique: m-5 "):
        MappingTable.model_validate({"mappings": mappings})
    # quadratic counting took about 10 s here; the linear check leaves validation (< 1 s)
    assert time.perf_counter() - started < 4.0


# -- state reads -----------------------------------------------------------------------------


class CountingKv:
    """Counts what a kv store reads: ``get_many`` batches and items scanned."""

    def __init__(self, store: KeyValueStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.batches = 0
        self.scanned = 0
        get_many, scan = store._get_many, store._scan

        def counting_get(keys: list[str]) -> Any:
            self.batches += 1
            return get_many(keys)

        def counting_scan(prefix: str, start_after: str | None, limit: int) -> Any:
            page = scan(prefix, start_after, limit)
            self.scanned += len(page.items)
            return page

        monkeypatch.setattr(store, "_get_many", counting_get)
        monkeypatch.setattr(store, "_scan", counting_scan)


@pytest.fixture
def state_kv() -> Iterator[KeyValueStore]:
    store = kv.connect("sqlite://", setting=None)
    yield store
    store.close()


def test_status_reads_the_states_in_one_batch(rig: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    names = [f"m{i}" for i in range(60)]
    sync = rig.engine(*(rig.mapping(n, f"s/{n}", f"t-{n}") for n in names))
    sync.state.put(MappingState("m7", source_version="v7", drift="in-sync"))
    counter = CountingKv(rig.kv, monkeypatch)
    rows = sync.status()
    assert [r.name for r in rows] == names
    assert rows[7].last_source_version == "v7"
    assert rows[7].drift == "in-sync"
    assert rows[8].drift == "unknown"
    assert counter.batches <= 2


def _write_log(store: StateStore, times: list[float]) -> list[AuditRecord]:
    written = []
    for n, at in enumerate(times):
        record = AuditRecord(at, "pytest", f"m{n % 7}", "update", "dst:t", f"v{n}", None, None)
        store.audit(record)
        written.append(record)
    return written


def _newest(records: list[AuditRecord], mapping: str | None, limit: int) -> list[AuditRecord]:
    chosen = [r for r in records if mapping is None or r.mapping == mapping]
    return sorted(chosen, key=lambda r: r.at, reverse=True)[:limit]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_audit_log_is_the_newest_records_wherever_they_lie_in_time(
    state_kv: KeyValueStore, seed: int
) -> None:
    rnd = random.Random(seed)
    clock = ManualClock(1_700_000_000.0)
    store = StateStore(state_kv, clock=clock)
    now = 1_700_000_000.0
    times = [now - rnd.choice([0.5, 30, 4000, 90_000, 3e7]) * rnd.random() for _ in range(150)]
    times += [now - 10.0] * 5 + [now + 3600.0] * 3  # one microsecond shared; another clock
    written = _write_log(store, times)
    for mapping in (None, "m3", "absent"):
        for limit in (1, 5, 15, 100, 1000):
            got = store.audit_log(mapping, limit)
            assert [r.at for r in got] == [r.at for r in _newest(written, mapping, limit)]
            assert {r.source_version for r in got} <= {r.source_version for r in written}
    assert store.audit_log(None, 0) == []
    assert StateStore(kv.connect("sqlite://", setting=None)).audit_log() == []


def test_the_newest_audit_records_are_read_without_scanning_the_log(
    state_kv: KeyValueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock(1_700_000_000.0)
    store = StateStore(state_kv, clock=clock)
    start = 1_700_000_000.0 - 3 * 86400
    _write_log(store, [start + 3 * 86400 * n / 3000 for n in range(3000)])
    decoded: list[int] = []
    real_loads = json.loads
    monkeypatch.setattr(
        "skybridge.apps.secretsync.state.json.loads",
        lambda value: decoded.append(1) or real_loads(value),
    )
    counter = CountingKv(state_kv, monkeypatch)
    got = store.audit_log(None, 15)
    assert [r.source_version for r in got] == [f"v{n}" for n in range(2999, 2984, -1)]
    assert len(decoded) == 15
    assert counter.scanned < 300, counter.scanned
    # within a dense burst too: 3,000 records written in the last ten minutes
    clock.advance(600)
    burst = _write_log(store, [clock.now() - n * 0.2 for n in range(3000)])
    counter.scanned = 0
    assert store.audit_log(None, 15)[0] == burst[0]
    assert counter.scanned < 600, counter.scanned


# -- the page --------------------------------------------------------------------------------


MANY = MAPPINGS_SHOWN + 70


@pytest.fixture
def many_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    _clean_env(monkeypatch, tmp_path)
    (tmp_path / "secretsync.toml").write_text(_table_text(MANY))
    with LocalSecretStore(tmp_path / "src") as source:
        source.create("app/s0042", Secret("CANARY-route-db-93e1"))
    with Scanned(create_app(load_settings([APP]), apps=[APP])) as client:
        _login(client)
        yield client


def test_the_page_shows_a_bounded_list_with_the_failing_first_and_a_search(
    many_client: TestClient,
) -> None:
    page = many_client.get("/ui/secretsync").text
    assert page.count("<tr data-name=") == MAPPINGS_SHOWN
    assert f"Showing {MAPPINGS_SHOWN} of {MANY} mappings" in page
    assert f"{MANY - MAPPINGS_SHOWN} more" in page
    assert f'<div class="stat-value">{MANY}</div>' in page
    plan = many_client.post("/ui/secretsync", data={"csrf": _csrf(page), "action": "plan"})
    # one mapping would be written (its source exists), the others find no source
    assert plan.text.count("<tr data-mapping=") == ROWS_SHOWN
    assert plan.text.index('data-mapping="m-0042"') < plan.text.index('data-mapping="m-0000"')
    assert f"and {MANY - ROWS_SHOWN} more, errors and writes first" in plan.text
    found = many_client.post(
        "/ui/secretsync", data={"csrf": _csrf(page), "action": "find", "q": "T-011"}
    )
    names = [f"m-{i:04d}" for i in range(110, 120)]
    assert found.text.count("<tr data-name=") == len(names)
    assert all(f'data-name="{n}"' in found.text for n in names)
    assert 'name="q" value="T-011"' in found.text  # kept by the other buttons
    none = many_client.post(
        "/ui/secretsync", data={"csrf": _csrf(page), "action": "find", "q": "nothing-like-it"}
    )
    assert "No mapping's name, source or target contains" in none.text
    forged = many_client.post("/ui/secretsync", data={"csrf": "forged", "action": "find"})
    assert forged.status_code == 403
    assert APP.page_scopes["find"] == "secretsync:read"  # checked by the server, as the others
    linked = many_client.get("/ui/secretsync?q=T-011").text  # the search form's GET
    assert linked.count("<tr data-name=") == len(names)
    assert 'form method="get" action="/ui/secretsync"' in linked
    assert many_client.get("/ui/secretsync?q=a%00b").status_code == 422
