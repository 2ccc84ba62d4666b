"""Where files live on the host is shown only with ``service:locations`` (admin): not in
backend statuses, the Streams page, error bodies or app pages a ``read`` caller gets."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from skybridge.apps.secretsync.manifest import APP
from skybridge.backends.secrets.local import LocalSecretStore
from skybridge.cli import app as cli
from skybridge.core.errors import TerminalError
from skybridge.core.locations import hide_in, hide_locations
from skybridge.core.secret import Secret
from skybridge.server.health import BackendStatus, without_locations
from skybridge.testing.service import service_harness

HOME = Path("/home/u/.skybridge")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_paths_are_hidden_in_urls_of_every_file_scheme_and_in_free_text() -> None:
    cases = {
        "sqlite:////home/u/.skybridge/streams.db": "sqlite:///<data_dir>/streams.db",
        "sqlite:////srv/x/kv.db?timeout=3": "sqlite:////.../kv.db?timeout=3",
        "sqlite:///relative/kv.db": "sqlite:///relative/kv.db",
        "embedded:///srv/secret-place/vectors": "embedded:///.../vectors",
        "local:///srv/secret-place/secrets": "local:///.../secrets",
        "file:///srv/objects": "file:///.../objects",
        "redis://h:6379/0": "redis://h:6379/0",
        "cannot open sqlite:////srv/secret-place/kv.db": "cannot open sqlite:////.../kv.db",
        "cannot open '/srv/My Company/objects/a'": "cannot open '/.../a'",
        "open /srv/app/x.db failed": "open /.../x.db failed",
        "see https://docs.example.com/a/b": "see https://docs.example.com/a/b",
        "the log /home/u/.skybridge/x.db is damaged": "the log <data_dir>/x.db is damaged",
    }
    for given, shown in cases.items():
        assert hide_locations(given, HOME) == shown, given


def test_backend_statuses_hide_them_in_url_message_and_hint() -> None:
    status = BackendStatus(
        "vectors",
        "backends.vectors",
        "embedded",
        "embedded:///srv/secret-place/vectors",
        "unreachable",
        message="cannot open '/srv/My Company/v.db'",
        hint="check sqlite:////srv/secret-place/kv.db",
    )
    (shown,) = without_locations([status], HOME)
    assert "secret-place" not in json.dumps(shown.as_dict())
    assert "My Company" not in (shown.message or "")


def test_the_streams_page_hides_the_logs_path_from_a_read_session(
    skybridge_workdir: Path,
) -> None:
    home = skybridge_workdir / "state"
    with service_harness(data_dir=home) as service:
        service.login(service.new_token("viewer", scopes=["read"]))
        html = service.client.get("/streams").text
        assert "&lt;data_dir&gt;/streams.db" in html
        assert str(home) not in html
        service.logout()
        service.login()  # admin: service:locations
        assert str(home) in service.client.get("/streams").text


def test_error_bodies_hide_paths_from_a_read_token(skybridge_workdir: Path) -> None:
    home = skybridge_workdir / "state"
    with service_harness(data_dir=home) as service:
        reader = service.new_token("viewer", scopes=["read"])
        ledger = home / "costs" / "ledger.db"
        ledger.parent.mkdir(parents=True, exist_ok=True)
        ledger.write_bytes(b"this is not a database" * 100)
        answer = service.client.get("/api/costs/files", headers=bearer(reader))
        assert answer.status_code == 503
        assert answer.json()["error"] == "DamagedState"
        assert "the costs ledger <data_dir>/costs/ledger.db is damaged" in answer.json()["message"]
        assert str(home) not in answer.text
        admin = service.client.get("/api/costs/files", headers=service.auth)
        assert str(ledger) in admin.json()["message"]


def test_a_costs_error_hides_the_data_folder_from_a_read_token(skybridge_workdir: Path) -> None:
    export = Path(__file__).parents[1] / "apps" / "costs" / "data" / "focus_1_0.csv"
    assert CliRunner().invoke(cli, ["costs", "ingest", str(export)]).exit_code == 0
    next((skybridge_workdir / ".skybridge" / "costs" / "parquet").glob("*.parquet")).unlink()
    with service_harness() as service:
        reader = service.new_token("viewer", scopes=["read"])
        answer = service.client.get("/api/costs/report", headers=bearer(reader))
        assert answer.status_code == 503
        assert "lost their Parquet in <data_dir>/costs/parquet" in answer.json()["message"]
        assert str(export.parent) not in answer.text
        assert str(skybridge_workdir) not in answer.text


def test_an_app_pages_error_hides_paths_from_a_read_session(skybridge_workdir: Path) -> None:
    home = skybridge_workdir / "state"
    with service_harness(data_dir=home) as service:
        ledger = home / "costs" / "ledger.db"
        ledger.parent.mkdir(parents=True, exist_ok=True)
        ledger.write_bytes(b"this is not a database" * 100)
        service.login(service.new_token("viewer", scopes=["read"]))
        html = service.client.get("/ui/costs").text
        assert "&lt;data_dir&gt;/costs/ledger.db is damaged" in html
        assert str(home) not in html


def test_text_that_is_no_location_is_kept() -> None:
    relative = Path("data")
    kept = [
        "the costs data folder must be writable",
        "mail app@data.example.com",
        "POST /api/anomaly/events with a JSON body",
        "see /ui/costs and /docs/costs",
        "1/2 of 2026-12-07, arn:aws:secretsmanager:us-east-1:1:secret:a/b, s3://bucket/a/b",
    ]
    for text in kept:
        assert hide_locations(text, relative) == text, text
    assert hide_locations("data/kv.db is damaged", relative) == "<data_dir>/kv.db is damaged"
    assert hide_locations("/home/u/.skybridge-old/kv.db", HOME) == "/.../kv.db"
    assert (
        hide_locations("sqlite+pysqlite:////srv/x/app.db", HOME) == "sqlite+pysqlite:////.../app.db"
    )


PLACE = "very-secret-place"


def mapping_table(source: Path) -> str:
    return f"""owner = "paths"
[backends]
src = "local://{source}"
dst = "local://dst"

[[mappings]]
name = "db"
source = {{ backend = "src", secret = "app/db" }}
target = {{ backend = "dst", secret = "app-db" }}
"""


def test_a_mappings_last_error_hides_paths_from_a_read_caller(skybridge_workdir: Path) -> None:
    source = skybridge_workdir / PLACE / "src"
    with LocalSecretStore(source) as store:
        store.create("app/db", Secret("v"))
    (source / "secrets.db").write_bytes(b"this is not a database" * 100)  # damaged
    (skybridge_workdir / "secretsync.toml").write_text(mapping_table(source))
    with service_harness([APP]) as service:
        synced = service.client.post(
            "/api/secretsync/sync", json={"all": True}, headers=service.auth
        )
        assert synced.status_code == 200
        assert PLACE in synced.text  # an admin sees where the failing store is
        reader = service.new_token("viewer", scopes=["read"])
        status = service.client.get(
            "/api/secretsync/status", headers={"Authorization": f"Bearer {reader}"}
        )
        service.login(reader)
        page = service.client.get("/ui/secretsync").text
        assert status.json()[0]["last_error"], "the sync recorded no error"
        assert "/.../secrets.db is damaged" in status.json()[0]["last_error"]
        assert PLACE not in status.text
        assert PLACE not in page


def test_failure_text_in_rows_is_hidden_at_any_depth_and_the_rest_kept() -> None:
    rows = {
        "mappings": [{"name": "/srv/x/a", "last_error": "open /srv/x/db failed"}],
        "result": {"detail": "'/srv/My Co/k' missing", "title": "/srv/x/doc.md"},
        "actions": [{"mapping": "db", "action": "error", "reason": "open /srv/x/db failed"}],
        "status": {"vectors": "embedded:///srv/x/vectors", "sources": ["file:///srv/x/docs"]},
        "build": {"zip": "/srv/x/layer.zip", "smoke": {"interpreter": "/opt/py/bin/python3"}},
    }
    assert hide_in(rows, HOME) == {
        "mappings": [{"name": "/srv/x/a", "last_error": "open /.../db failed"}],
        "result": {"detail": "'/.../k' missing", "title": "/srv/x/doc.md"},
        "actions": [{"mapping": "db", "action": "error", "reason": "open /.../db failed"}],
        "status": {"vectors": "embedded:///.../vectors", "sources": ["file:///.../docs"]},
        "build": {"zip": "/.../layer.zip", "smoke": {"interpreter": "/.../python3"}},
    }


def test_the_rag_status_hides_its_stores_place_from_a_read_token(skybridge_workdir: Path) -> None:
    """Answers of routes (not only their errors) named the host's folders to read tokens."""
    home = skybridge_workdir / "state"
    with service_harness(data_dir=home) as service:
        reader = service.new_token("viewer", scopes=["read"])
        answer = service.client.get("/api/rag/status", headers=bearer(reader))
        assert answer.status_code == 200, answer.text
        assert answer.json()["vectors"] == "embedded://<data_dir>/vectors"
        assert str(home) not in answer.text
        admin = service.client.get("/api/rag/status", headers=service.auth)
        assert str(home) in admin.json()["vectors"]


def test_a_reconcile_runs_reasons_hide_paths_from_a_read_caller(
    skybridge_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mapping that could not be planned keeps its failure as the action's ``reason``, in
    the run's report and on the page, as its ``last_error`` is kept in the status."""
    source = skybridge_workdir / PLACE / "src"
    with LocalSecretStore(source) as store:
        store.create("app/db", Secret("v"))
    (skybridge_workdir / "secretsync.toml").write_text(mapping_table(source))

    def unreadable(self: LocalSecretStore, *args: Any) -> Any:
        raise TerminalError(f"the local secret store {self.path}/secrets.db cannot be read")

    monkeypatch.setattr(LocalSecretStore, "describe", unreadable)
    monkeypatch.setattr(LocalSecretStore, "describe_many", unreadable)
    with service_harness([APP]) as service:
        started = service.client.post(
            "/api/secretsync/reconcile", json={"dry_run": False}, headers=service.auth
        )
        assert started.status_code == 202, started.text
        where = started.headers["Location"]
        deadline = time.monotonic() + 30
        run = service.client.get(where, headers=service.auth).json()
        while run["status"] == "running":
            assert time.monotonic() < deadline, "the run never finished"
            time.sleep(0.05)
            run = service.client.get(where, headers=service.auth).json()
        assert run["status"] == "succeeded", run
        [error] = run["report"]["errors"]
        assert PLACE in error["reason"]  # an admin sees where the failing store is
        reader = service.new_token("viewer", scopes=["read"])
        shown = service.client.get(where, headers=bearer(reader))
        [hidden] = shown.json()["report"]["errors"]
        assert "store /.../secrets.db cannot be read" in hidden["reason"]
        assert PLACE not in shown.text
        service.login(reader)
        page = service.client.get(f"/ui/secretsync?run={run['id']}").text
        assert "store /.../secrets.db cannot be read" in page
        assert PLACE not in page
