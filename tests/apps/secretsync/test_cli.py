"""``skybridge secrets ...`` through Typer's CliRunner: local-to-local stores in a tmp folder.

Every invocation is checked for the canary secret values: no command may print one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from skybridge.apps.secretsync import manual_event
from skybridge.backends.secrets.local import LocalSecretStore
from skybridge.cli import app
from skybridge.core.secret import Secret

from .conftest import cloudtrail_event

runner = CliRunner()
CANARY_DB = "CANARY-db-7f3a9c"
CANARY_KEY = "CANARY-key-51be20"
TABLE = """
owner = "cli-test"
[backends]
src = "local://src"
dst = "local://dst"

[[mappings]]
name = "db"
source = { backend = "src", secret = "app/db" }
target = { backend = "dst", secret = "app-db" }
fields = ["password"]
rename = { password = "db_password" }

[[mappings]]
name = "key"
source = { backend = "src", secret = "app/key" }
target = { backend = "dst", secret = "app-key" }
"""


@pytest.fixture(autouse=True)
def workdir(skybridge_workdir: Path) -> Path:
    """A fresh working directory with no SKYBRIDGE settings from the environment."""
    return skybridge_workdir


@pytest.fixture
def source(workdir: Path) -> LocalSecretStore:
    (workdir / "secretsync.toml").write_text(TABLE)
    store = LocalSecretStore(workdir / "src")
    store.create("app/db", Secret(json.dumps({"user": "app", "password": CANARY_DB})))
    store.create("app/key", Secret(CANARY_KEY))
    return store


def run(*args: str, code: int = 0) -> Any:
    result = runner.invoke(app, ["secrets", *args])
    text = result.stdout + result.stderr
    assert CANARY_DB not in text, text
    assert CANARY_KEY not in text, text
    assert result.exit_code == code, text
    return result


def as_json(*args: str, code: int = 0) -> Any:
    return json.loads(run(*args, "--json", code=code).stdout)


def test_dry_run_prints_the_plan_and_writes_nothing(source: LocalSecretStore) -> None:
    plan = as_json("reconcile", "--dry-run")
    assert plan["dry_run"] is True
    assert [(a["mapping"], a["action"]) for a in plan["plan"]["actions"]] == [
        ("db", "create"),
        ("key", "create"),
    ]
    assert plan["writes"] == 0
    with LocalSecretStore(Path("dst")) as target:
        assert list(target.list()) == []
    table = run("reconcile", "--dry-run").stdout
    assert "Reconcile plan (dry run)" in table
    assert "target does not exist" in table
    assert "2 mapping(s) would change; 0 write(s)" in table


def test_check_exits_1_on_drift_and_0_once_in_sync(source: LocalSecretStore) -> None:
    run("reconcile", "--dry-run", "--check", code=1)
    done = as_json("reconcile")
    assert done["writes"] == 2
    run("reconcile", "--dry-run", "--check")
    target = LocalSecretStore(Path("dst"))
    assert json.loads(target.get_value("app-db").value.reveal()) == {"db_password": CANARY_DB}


def test_sync_named_mapping_then_status_shows_versions_and_drift(
    source: LocalSecretStore,
) -> None:
    [outcome] = as_json("sync", "db")
    assert outcome["action"] == "created"
    version = source.describe("app/db").current_version_id
    assert outcome["source_version"] == version
    rows = {r["name"]: r for r in as_json("status")}
    assert rows["db"]["last_source_version"] == version
    assert rows["db"]["drift"] == "in-sync"
    assert rows["db"]["synced_at"] is not None
    assert rows["key"]["drift"] == "unknown"
    assert rows["key"]["last_source_version"] is None
    human = run("status").stdout
    assert "in-sync" in human
    assert "unknown" in human
    again = as_json("sync", "--all")
    assert [o["action"] for o in again] == ["unchanged", "created"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("sync", "nope"), "no mapping called nope"),
        (("sync",), "give mapping names, --all, or --event"),
        (("sync", "db", "--all"), "one of them"),
        (("reconcile", "--mapping", "nope"), "no mapping called nope"),
        (("audit", "--mapping", "nope"), "no mapping called nope"),
        (("dlq", "replay"), "give letter ids or --all"),
        (("dlq", "replay", "0123456789abcdef0123"), "not found"),
    ],
)
def test_bad_input_exits_2_saying_what_is_wrong(
    source: LocalSecretStore, args: tuple[str, ...], message: str
) -> None:
    result = run(*args, code=2)
    assert message in " ".join(result.stderr.split())


def test_event_file_syncs_the_mapping_it_names(source: LocalSecretStore, workdir: Path) -> None:
    version = source.put_value("app/key", Secret(CANARY_KEY + "-v2")).version_id
    event = workdir / "event.json"
    event.write_text(json.dumps(manual_event("app/key", version)))
    [outcome] = as_json("sync", "--event", str(event))
    assert (outcome["mapping"], outcome["action"], outcome["source_version"]) == (
        "key",
        "created",
        version,
    )
    unrelated = workdir / "other.json"
    unrelated.write_text(json.dumps({"source": "aws.ec2", "detail": {}}))
    shown = " ".join(run("sync", "--event", str(unrelated)).stdout.split())
    assert "ignored" in shown
    assert "aws.ec2" in shown  # the reason (wrapped in the table's detail column)
    not_an_event = workdir / "no-detail.json"
    not_an_event.write_text(json.dumps({"source": "aws.secretsmanager"}))
    assert "no detail object" in run("sync", "--event", str(not_an_event), code=2).stderr
    broken = workdir / "broken.json"
    broken.write_text("{not json")
    assert "not valid JSON" in run("sync", "--event", str(broken), code=2).stderr


@pytest.mark.parametrize(
    ("event", "reason", "word"),
    [
        (
            cloudtrail_event("app/key", None, name="RotateSecret"),
            "RotateSecret only starts a rotation",
            "RotateSecret",
        ),
        (manual_event("app/unmapped"), "no mapping has the source app/unmapped", "app/unmapped"),
    ],
)
def test_an_event_that_needs_no_sync_shows_ignored_with_its_reason_and_exits_0(
    source: LocalSecretStore, workdir: Path, event: dict[str, Any], reason: str, word: str
) -> None:
    path = workdir / "event.json"
    path.write_text(json.dumps(event))
    [outcome] = as_json("sync", "--event", str(path))
    assert (outcome["mapping"], outcome["action"]) == ("-", "ignored")
    assert reason in outcome["detail"]
    table = " ".join(run("sync", "--event", str(path)).stdout.split())
    assert "ignored" in table
    assert word in table  # the reason, wrapped in the table's detail column
    assert as_json("dlq", "list") == []  # nothing to retry


def test_dead_letters_show_a_huge_secret_identifier_cut_as_the_engine_cuts_it(
    source: LocalSecretStore,
) -> None:
    from skybridge.apps.kit.context import AppContext
    from skybridge.apps.secretsync.events import SHOWN_CHARS
    from skybridge.apps.secretsync.service import open_service

    huge = "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + "x" * 5000
    with open_service(AppContext.of("secretsync")) as svc:
        svc.engine.dead_letters.put(
            manual_event(huge), reason="poison", error_type="ValidationError"
        )
    [letter] = as_json("dlq", "list")
    assert letter["secret"].startswith(huge[:SHOWN_CHARS])
    assert letter["secret"].endswith(f"... ({len(huge)} characters)")
    assert len(letter["secret"]) < SHOWN_CHARS + 30


def test_poison_event_is_dead_lettered_then_replayed_after_the_fix(
    source: LocalSecretStore, workdir: Path
) -> None:
    version = source.put_value("app/db", Secret("not json " + CANARY_DB)).version_id
    event = workdir / "event.json"
    event.write_text(json.dumps(manual_event("app/db", version)))
    [outcome] = as_json("sync", "--event", str(event), code=1)
    assert outcome["action"] == "dead-lettered"
    [letter] = as_json("dlq", "list")
    assert (letter["store"], letter["mapping"], letter["secret"]) == ("stream", "db", "app/db")
    assert "JSON" in letter["reason"]
    assert "event" not in letter  # never the event body
    assert as_json("status")[0]["dead_letters"] == 1
    assert letter["id"] in run("dlq", "list").stdout

    failed = as_json("dlq", "replay", letter["id"], code=1)
    assert failed[0]["ok"] is False
    source.put_value("app/db", Secret(json.dumps({"password": CANARY_DB})))
    [replayed] = as_json("dlq", "replay", "--all")
    assert replayed["ok"] is True
    assert replayed["outcomes"][0]["action"] == "created"
    assert as_json("dlq", "list") == []
    assert "No dead letters." in run("dlq", "list").stdout


def test_audit_lists_writes_newest_first_without_hashes(source: LocalSecretStore) -> None:
    run("sync", "--all")
    source.put_value("app/key", Secret(CANARY_KEY + "-v2"))
    run("sync", "key")
    records = as_json("audit")
    assert [(r["mapping"], r["action"]) for r in records] == [
        ("key", "updated"),
        ("key", "created"),
        ("db", "created"),
    ]
    assert all("sha256_prefix" not in r for r in records)
    assert len(as_json("audit", "--mapping", "key", "--limit", "1")) == 1
    assert "Audit log" in run("audit").stdout


def test_mappings_validate_and_list(source: LocalSecretStore, workdir: Path) -> None:
    assert "2 mapping(s), valid" in run("mappings", "validate", "secretsync.toml").stdout
    bad = workdir / "bad.toml"
    bad.write_text(
        TABLE.replace('fields = ["password"]', 'fields = ["a..b"]').replace('"dst"', '"nowhere"')
    )
    result = run("mappings", "validate", str(bad), code=2)
    err = result.stderr
    assert "is not a valid mapping table" in err
    assert "mappings[0] (db).fields: field 'a..b' is not a JSON field path" in err
    problems = [line for line in err.splitlines() if line.startswith("  - ")]
    assert len(problems) == 1, err  # one line per problem, each whole
    assert err.rstrip().splitlines()[-1] == "hint: fix each setting named above"  # after them
    missing = run("mappings", "validate", "missing.toml", code=2)
    assert "cannot read mapping table" in missing.stderr
    listed = as_json("mappings", "list")
    assert [m["name"] for m in listed] == ["db", "key"]
    assert listed[0]["rename"] == {"password": "db_password"}


def test_without_a_table_commands_exit_2_with_a_hint(workdir: Path) -> None:
    result = run("status", code=2)
    assert "no secretsync mapping table found" in result.stderr
    assert "SKYBRIDGE__SECRETSYNC__MAPPINGS" in " ".join(result.stderr.split())


def test_table_option_and_environment_choose_the_table(
    source: LocalSecretStore, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = workdir / "conf" / "only-key.toml"
    other.parent.mkdir()
    head, _db, key = TABLE.split("[[mappings]]")
    other.write_text(f"{head}[[mappings]]{key}")
    assert [m["name"] for m in as_json("mappings", "list", "--table", str(other))] == ["key"]
    monkeypatch.setenv("SKYBRIDGE__SECRETSYNC__MAPPINGS", str(other))
    assert [r["name"] for r in as_json("status")] == ["key"]


def test_a_table_may_name_the_secrets_backend_of_skybridge_toml(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = workdir / "t.toml"
    table.write_text(
        '[[mappings]]\nname = "m"\n'
        'source = { backend = "secrets", secret = "a/b" }\n'
        'target = { backend = "local://dst", secret = "b" }\n'
    )
    monkeypatch.setenv("SKYBRIDGE__BACKENDS__SECRETS", "local://vault")
    assert "1 mapping(s), valid" in run("mappings", "validate", str(table)).stdout
    listed = as_json("mappings", "list", "--table", str(table))
    assert listed[0]["source"] == "secrets:a/b"


def test_check_probes_the_stores_the_mapping_table_names(workdir: Path) -> None:
    from skybridge.apps.kit.manifest import discover_apps, find_app
    from skybridge.apps.kit.settings import load_settings
    from skybridge.server.health import app_backends, probe_all

    spec = find_app(discover_apps(), "secretsync")
    assert app_backends(load_settings([spec]), [spec]) == {}  # no table yet: nothing to add
    (workdir / "secretsync.toml").write_text(
        TABLE.replace(
            'dst = "local://dst"',
            'dst = "local://dst"\n[backends.oci]\n'
            'url = "oci-vault://ocid1.vault.oc1..v?key=ocid1.key.oc1..k"\n'
            'credentials_from = { backend = "src", secret = "oci/key" }',
        )
    )
    found = app_backends(load_settings([spec]), [spec])
    assert found == {
        "secretsync.table.src": ("secrets", "local://src"),
        "secretsync.table.dst": ("secrets", "local://dst"),
    }  # the vault's credentials come from a secret: it is reached only through that one
    probed = {s.name: s for s in probe_all(load_settings([spec]), apps=[spec])}
    assert probed["secretsync.table.src"].status == "ok"
    assert probed["secretsync.table.dst"].setting == "secretsync.table.dst"


def test_a_source_store_whose_key_file_is_gone_exits_2_and_makes_no_new_key(
    source: LocalSecretStore, workdir: Path
) -> None:
    source.close()
    assert [o["action"] for o in as_json("sync", "--all")] == ["created", "created"]
    key = workdir / "src" / "key"
    key.unlink()
    for command in (("sync", "--all"), ("sync", "db"), ("reconcile",)):
        result = run(*command, "--json", code=2)
        assert f"key file {key} is missing" in " ".join((result.stdout + result.stderr).split())
        assert not key.exists()  # no new key: later writes would be sealed with it
    [db, _key] = as_json("status")
    assert db["drift"] == "error"
    assert "restore" in db["last_error"]
