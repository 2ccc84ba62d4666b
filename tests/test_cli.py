"""The ``skybridge`` command, driven through Typer's CliRunner in a fresh directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from skybridge.apps.kit.manifest import AppSpec
from skybridge.cli import app, build_cli
from skybridge.commands.up import demo_settings, ensure_demo_token
from skybridge.core.config import load_settings
from skybridge.core.errors import NotFound
from skybridge.server import create_app

runner = CliRunner()


@pytest.fixture(autouse=True)
def workdir(skybridge_workdir: Path) -> Path:
    """A fresh working directory with no SKYBRIDGE settings from the environment."""
    return skybridge_workdir


def run(*args: str, env: dict[str, str] | None = None) -> object:
    return runner.invoke(app, list(args), env=env)


def test_version() -> None:
    result = run("version")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    assert result.stdout.strip().startswith("skybridge 0.")  # type: ignore[attr-defined]


def test_config_show_masks_a_password_in_a_backend_url() -> None:
    # A wide terminal, so the table does not wrap the URL (app settings have long names).
    env = {
        "SKYBRIDGE__BACKENDS__SQL": "postgresql://app:s3cretpw@db.internal:5432/app",
        "COLUMNS": "160",
    }
    result = run("config", "show", env=env)
    assert result.exit_code == 0  # type: ignore[attr-defined]
    assert "s3cretpw" not in result.stdout  # type: ignore[attr-defined]
    assert "postgresql://app:***@db.internal:5432/app" in result.stdout  # type: ignore[attr-defined]

    as_json = run("config", "show", "--json", env=env)
    data = json.loads(as_json.stdout)  # type: ignore[attr-defined]
    assert data["backends"]["sql"] == "postgresql://app:***@db.internal:5432/app"
    assert data["backends"]["kv"] == "sqlite:///.skybridge/kv.db"


#: URLs with credentials in apps' own sections, and how ``config show`` must print them.
APP_URLS = {
    "SKYBRIDGE__DATASYNC__TARGET": (
        "postgresql://sync:dspw-4711@db/x",
        "postgresql://sync:***@db/x",
    ),
    "SKYBRIDGE__FEATURES__ONLINE": (
        "redis://:featpw-4711@cache:6379/0",
        "redis://:***@cache:6379/0",
    ),
    "SKYBRIDGE__SECRETSYNC__STATE": (
        "redis://:sspw-4711@cache:6379/1",
        "redis://:***@cache:6379/1",
    ),
    "SKYBRIDGE__LAYERS__INDEX_URL": (
        "https://ci:piptoken-4711@pypi.example.com/simple",
        "https://ci:***@pypi.example.com/simple",
    ),
}


def test_config_show_masks_passwords_in_apps_own_url_settings() -> None:
    env = {name: url for name, (url, _) in APP_URLS.items()} | {"COLUMNS": "200"}
    for args in (("config", "show"), ("config", "show", "--json")):
        result = run(*args, env=env)
        assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
        assert "4711" not in result.stdout  # type: ignore[attr-defined]
    data = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert data["datasync"]["target"] == APP_URLS["SKYBRIDGE__DATASYNC__TARGET"][1]
    assert data["features"]["online"] == APP_URLS["SKYBRIDGE__FEATURES__ONLINE"][1]
    assert data["secretsync"]["state"] == APP_URLS["SKYBRIDGE__SECRETSYNC__STATE"][1]
    assert data["layers"]["index_url"] == APP_URLS["SKYBRIDGE__LAYERS__INDEX_URL"][1]


def test_config_show_masks_each_url_of_an_inline_mapping_table() -> None:
    table = (
        '[backends]\nsrc = "aws-sm://us-east-1?endpoint_url=http://u:one-4711@h:1"\n'
        'dst = "postgresql://a:two-4711@db/x"\n'
        '[[mappings]]\nname = "m"\nsource = { backend = "src", secret = "a" }\n'
        'target = { backend = "dst", secret = "b" }\n'
    )
    env = {"SKYBRIDGE__SECRETSYNC__MAPPINGS_INLINE": table}
    result = run("config", "show", "--json", env=env)
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    shown = json.loads(result.stdout)["secretsync"]["mappings_inline"]  # type: ignore[attr-defined]
    assert "4711" not in shown
    assert 'dst = "postgresql://a:***@db/x"' in shown
    assert 'target = { backend = "dst", secret = "b" }' in shown  # the table is kept whole


def test_a_printed_context_or_config_shows_no_password(monkeypatch: pytest.MonkeyPatch) -> None:
    from skybridge.apps.kit.context import AppContext

    for name, (url, _) in APP_URLS.items():
        monkeypatch.setenv(name, url)
    monkeypatch.setenv("SKYBRIDGE__BACKENDS__SQL", "postgresql://app:sqlpw-4711@db/app")
    for app_name in ("datasync", "features", "secretsync", "layers"):
        ctx = AppContext.of(app_name)
        for shown in (repr(ctx), str(ctx), repr(ctx.config), str(ctx.config), repr(ctx.settings)):
            assert "4711" not in shown, shown
    ctx = AppContext.of("datasync")
    assert "postgresql://sync:***@db/x" in repr(ctx.config)
    assert ctx.config.target == "postgresql://sync:dspw-4711@db/x"  # the value itself is intact


def test_config_file_option_and_secret_settings_are_masked(workdir: Path) -> None:
    config = workdir / "custom.toml"
    config.write_text(
        '[backends]\nkv = "redis://:redispw123@127.0.0.1:6379/0"\n'
        '[server]\nadmin_token = "admin-token-abcdef-0123456789abcdef"\nport = 9001\n'
    )
    result = run("--config", str(config), "config", "show", "--json")
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    data = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert data["server"]["port"] == 9001
    assert "redispw123" not in result.stdout  # type: ignore[attr-defined]
    assert "admin-token-abcdef-0123456789abcdef" not in result.stdout  # type: ignore[attr-defined]
    assert "SKYBRIDGE_CONFIG" not in os.environ


def test_missing_config_file_exits_2_naming_the_flag() -> None:
    result = run("--config", "nope.toml", "config", "show")
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "--config: config file nope.toml does not exist" in result.stderr  # type: ignore[attr-defined]
    assert "SKYBRIDGE_CONFIG" not in result.stderr  # type: ignore[attr-defined]


def test_app_sections_live_in_skybridge_toml(workdir: Path) -> None:
    (workdir / "skybridge.toml").write_text(
        '[secretsync]\nmappings = "tables/sync.toml"\nreconcile_every = 600\n'
        "[assertions]\ncheck_rows = 5\n"
    )
    shown = run("config", "show", "--json")
    assert shown.exit_code == 0, shown.stderr  # type: ignore[attr-defined]
    data = json.loads(shown.stdout)  # type: ignore[attr-defined]
    assert data["secretsync"]["mappings"] == "tables/sync.toml"
    assert data["secretsync"]["reconcile_every"] == 600
    assert data["assertions"]["check_rows"] == 5
    table = run("config", "show")
    assert "secretsync.reconcile_every" in table.stdout  # type: ignore[attr-defined]
    env = run("config", "show", "--json", env={"SKYBRIDGE__SECRETSYNC__RECONCILE_EVERY": "60"})
    assert json.loads(env.stdout)["secretsync"]["reconcile_every"] == 60  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ("[secretsync]\nreconcile_every = 0.5\n", "secretsync.reconcile_every"),
        ('[secretsync]\nattempts = "many"\n', "secretsync.attempts"),
        ("[secretsync]\nno_such_key = 1\n", "secretsync.no_such_key"),
        ("[nosuchapp]\nx = 1\n", "unknown section or setting 'nosuchapp'"),
    ],
)
def test_a_bad_app_setting_exits_2_naming_it(workdir: Path, section: str, words: str) -> None:
    (workdir / "skybridge.toml").write_text(section)
    result = run("config", "show")
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert words in result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in result.stderr  # type: ignore[attr-defined]


def test_log_level_must_be_a_level() -> None:
    result = run("--log-level", "LOUD", "config", "show")
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "DEBUG, INFO, WARNING, ERROR" in result.stderr  # type: ignore[attr-defined]


def test_check_passes_on_the_embedded_defaults() -> None:
    result = run("check")
    assert result.exit_code == 0, result.stdout + result.stderr  # type: ignore[attr-defined]
    for name in ("kv", "objects", "secrets", "notify", "sql", "streams", "compute"):
        assert name in result.stdout  # type: ignore[attr-defined]
    as_json = json.loads(run("check", "--json").stdout)  # type: ignore[attr-defined]
    assert as_json["ok"] is True
    healthy = {b["name"] for b in as_json["backends"] if b["status"] == "ok"}
    assert healthy == {b["name"] for b in as_json["backends"]}  # apps add families (models...)
    assert healthy >= {
        "kv",
        "objects",
        "secrets",
        "notify",
        "sql",
        "streams",
        "vectors",
        "embeddings",
        "llm",
    }


def test_check_names_a_bad_backend_setting_and_exits_2() -> None:
    result = run("check", env={"SKYBRIDGE__BACKENDS__KV": "nosuch://x"})
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "backends.kv" in result.stderr  # type: ignore[attr-defined]
    assert "nosuch" in result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in result.stderr + result.stdout  # type: ignore[attr-defined]


def test_check_exits_1_when_a_backend_is_unreachable() -> None:
    result = run(
        "check", "--json", env={"SKYBRIDGE__BACKENDS__KV": "redis://:topsecret1@127.0.0.1:1/0"}
    )
    assert result.exit_code == 1  # type: ignore[attr-defined]
    data = json.loads(result.stdout)  # type: ignore[attr-defined]
    kv = next(b for b in data["backends"] if b["name"] == "kv")
    assert kv["status"] == "unreachable"
    assert "topsecret1" not in result.stdout + result.stderr  # type: ignore[attr-defined]


def test_check_probes_the_backend_urls_set_in_app_sections() -> None:
    env = {
        "SKYBRIDGE__FEATURES__ONLINE": "redis://:topsecret2@127.0.0.1:1/0",
        "SKYBRIDGE__COSTS__FLEETS": json.dumps({"lab": "embedded://.skybridge/lab"}),
    }
    result = run("check", "--json", env=env)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    found = {b["name"]: b for b in json.loads(result.stdout)["backends"]}  # type: ignore[attr-defined]
    online = found["features.online"]
    assert (online["setting"], online["status"]) == ("features.online", "unreachable")
    assert found["costs.fleets.lab"]["status"] == "ok"
    assert "secretsync.state" not in found  # not set: the app uses backends.kv
    assert "topsecret2" not in result.stdout + result.stderr  # type: ignore[attr-defined]


def test_an_invalid_setting_exits_2_naming_it_without_a_traceback() -> None:
    result = run("check", env={"SKYBRIDGE__SERVER__PORT": "not-a-port"})
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "server.port" in result.stderr  # type: ignore[attr-defined]
    assert "hint:" in result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in result.stderr  # type: ignore[attr-defined]


def test_token_create_list_revoke() -> None:
    created = run("token", "create", "ci", "--json")
    assert created.exit_code == 0, created.stderr  # type: ignore[attr-defined]
    token = json.loads(created.stdout)["token"]  # type: ignore[attr-defined]
    assert token.startswith("sbk_")

    listed = run("token", "list")
    assert listed.exit_code == 0  # type: ignore[attr-defined]
    assert "ci" in listed.stdout  # type: ignore[attr-defined]
    assert token[:12] in listed.stdout  # type: ignore[attr-defined]
    assert token not in listed.stdout  # type: ignore[attr-defined]

    with TestClient(create_app(load_settings(), apps=[])) as client:
        auth = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/whoami", headers=auth).json()["name"] == "ci"
        assert run("token", "revoke", "ci").exit_code == 0  # type: ignore[attr-defined]
        assert client.get("/api/whoami", headers=auth).status_code == 401

    listed_json = json.loads(run("token", "list", "--json").stdout)  # type: ignore[attr-defined]
    assert listed_json[0]["active"] is False


def test_token_create_prints_the_token_once_for_humans() -> None:
    result = run("token", "create", "human")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    assert "not shown again" in result.stdout  # type: ignore[attr-defined]
    assert any(line.startswith("sbk_") for line in result.stdout.splitlines())  # type: ignore[attr-defined]


def test_token_errors_are_messages_with_exit_codes() -> None:
    bad_name = run("token", "create", "bad name")
    assert bad_name.exit_code == 2  # type: ignore[attr-defined]
    assert "not allowed" in bad_name.stderr  # type: ignore[attr-defined]
    assert "hint:" in bad_name.stderr  # type: ignore[attr-defined]
    unknown = run("token", "revoke", "nobody")
    assert unknown.exit_code == 2  # type: ignore[attr-defined]
    assert "no active token named 'nobody'" in unknown.stderr  # type: ignore[attr-defined]
    run("token", "create", "dup")
    duplicate = run("token", "create", "dup")
    assert duplicate.exit_code == 1  # type: ignore[attr-defined]
    assert "already exists" in duplicate.stderr  # type: ignore[attr-defined]


def test_demo_uses_embedded_backends_in_the_data_home_and_keeps_one_demo_token(
    workdir: Path,
) -> None:
    (workdir / "skybridge.toml").write_text('[backends]\nkv = "redis://127.0.0.1:1/0"\n')
    settings = demo_settings(load_settings())
    home = (workdir / ".skybridge").resolve()
    assert settings.data_dir == home  # the plain CLI's data home: both see the same data
    assert settings.backends.sql == f"sqlite:///{home}/skybridge.db"
    assert settings.backends.kv == f"sqlite:///{home}/kv.db"  # embedded, whatever the file says
    token, path = ensure_demo_token(settings)
    assert path.stat().st_mode & 0o777 == 0o600
    again, _ = ensure_demo_token(settings)
    assert again == token
    path.write_text("sbk_stale")
    replaced, _ = ensure_demo_token(settings)
    assert replaced != token
    with TestClient(create_app(settings, apps=[])) as client:
        whoami = client.get("/api/whoami", headers={"Authorization": f"Bearer {replaced}"})
        assert whoami.json()["name"] == "demo"
        assert (
            client.get("/api/whoami", headers={"Authorization": f"Bearer {token}"}).status_code
            == 401
        )


def test_an_apps_typer_group_becomes_a_sub_command() -> None:
    group = typer.Typer()

    @group.command()
    def hello(name: str) -> None:
        typer.echo(f"hello {name}")

    @group.command()
    def fail() -> None:
        raise NotFound("nothing here", hint="try hello")

    cli = build_cli(
        [AppSpec(name="greeter", title="Greeter", description="Says hello.", cli=group)]
    )
    assert runner.invoke(cli, ["greeter", "hello", "sky"]).stdout == "hello sky\n"
    failed = runner.invoke(cli, ["greeter", "fail"])
    assert failed.exit_code == 2  # an unknown name is bad input
    assert "nothing here" in failed.stderr
    assert "try hello" in failed.stderr
    assert "Says hello." in runner.invoke(cli, ["--help"]).stdout


@pytest.mark.postgres
def test_check_warns_when_the_sql_role_is_a_superuser(postgres_server) -> None:  # type: ignore[no-untyped-def]
    env = {"SKYBRIDGE__BACKENDS__SQL": postgres_server.url}
    result = run("check", "--json", env=env)
    report = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert report["ok"] is True  # a warning, not a failure
    assert any("superuser" in w for w in report["warnings"])
    table = run("check", env=env)
    assert "warning:" in table.stderr  # type: ignore[attr-defined]
    assert "superuser" in table.stderr  # type: ignore[attr-defined]


def test_help_shows_no_value_type_on_plain_flags() -> None:
    for args in (["--help"], ["secrets", "status", "--help"], ["token", "list", "--help"]):
        result = run(*args)
        assert result.exit_code == 0  # type: ignore[attr-defined]
        assert "<bool>" not in result.stdout  # type: ignore[attr-defined]


@pytest.mark.parametrize("port", ["99999", "0", "http"])
def test_up_refuses_a_bad_port_without_a_traceback(port: str) -> None:
    result = run("up", "--port", port)
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "--port" in result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    assert "dashboard" not in result.output  # type: ignore[attr-defined]


def test_up_on_a_busy_port_says_so_before_printing_anything() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("up", "--port", str(port))
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert f"port {port} on 127.0.0.1 is in use" in result.stderr  # type: ignore[attr-defined]
    assert "hint: stop what is listening there" in result.stderr  # type: ignore[attr-defined]
    assert "dashboard" not in result.output  # type: ignore[attr-defined]


def test_check_with_an_unreachable_kafka_is_quiet_and_named() -> None:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYBRIDGE")}
    env["SKYBRIDGE__BACKENDS__STREAMS"] = "kafka://127.0.0.1:1"
    result = subprocess.run(
        [sys.executable, "-m", "skybridge.cli", "check", "--timeout", "3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "backends.streams" in result.stderr
    assert "rdkafka" not in result.stdout + result.stderr
    assert len(result.stderr.splitlines()) <= 3, result.stderr
