"""The app contract: what every installed app must do, checked the same way for each.

An app's tests start from one subclass::

    from skybridge.testing.contracts.apps import AppContract

    class TestSecretsyncContract(AppContract):
        app_name = "secretsync"

The suite checks that the manifest's references resolve to the right kinds of object, that the
CLI group has ``--help`` everywhere and ``--json`` on every command that lists or reports, that
every route needs a token and answers errors as JSON, that the page renders for a signed-in
user and redirects everyone else, that page forms check the CSRF token, that the demo seed is
idempotent, that the ``[section]`` round-trips through skybridge.toml with the usual precedence,
and that the background parts build.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.manifest import AppSpec, discover_apps, find_app
from skybridge.apps.kit.settings import load_settings, section_model
from skybridge.core.config import env_name
from skybridge.core.errors import ConfigError
from skybridge.testing.service import ServiceHarness, fresh_workdir, service_harness

#: Commands with these names list or report something: they must take ``--json``.
LISTING = frozenset({"list", "status", "show", "audit", "lag", "stats", "report", "explain"})
_PATH_PARAM = re.compile(r"\{[^}]+\}")


def leaf_commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every (path, command) below a click group."""
    for name, command in sorted(getattr(group, "commands", {}).items()):
        if getattr(command, "commands", None) is not None:
            yield from leaf_commands(command, (*path, name))
        else:
            yield (*path, name), command


def app_routes(app: Any, name: str) -> list[tuple[str, str, bool]]:
    """(method, path, takes a body) of every documented route under ``/api/<name>``."""
    found = []
    for path, operations in _paths(app).items():
        if path.startswith(f"/api/{name}/") or path == f"/api/{name}":
            found += [
                (method.upper(), path, "requestBody" in operation)
                for method, operation in sorted(operations.items())
            ]
    return found


def _paths(app: Any) -> dict[str, Any]:
    paths: dict[str, Any] = app.openapi()["paths"]
    return paths


def _concrete(path: str) -> str:
    return _PATH_PARAM.sub("no-such-thing", path)


class AppContract:
    """Subclass with ``app_name`` set to the app under test."""

    app_name: ClassVar[str]

    @pytest.fixture
    def spec(self) -> AppSpec:
        return find_app(discover_apps(), self.app_name)

    @pytest.fixture
    def workdir(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        return fresh_workdir(tmp_path, monkeypatch)

    @pytest.fixture
    def service(self, workdir: Path, spec: AppSpec) -> Iterator[ServiceHarness]:
        with service_harness([spec]) as harness:
            yield harness

    # -- the manifest ------------------------------------------------------------------------

    def test_manifest_references_resolve(self, spec: AppSpec) -> None:
        import typer

        for part, ref in spec.references().items():
            group, _, key = part.partition(".")
            target = spec.load_named(group, key) if key else spec.load(part)
            if part == "cli":
                assert isinstance(target, typer.Typer), f"{part} is not a typer.Typer"
            elif part != "config":
                assert callable(target), f"{part} ({ref!r}) is not callable"
        assert spec.title.strip()
        assert spec.description.strip()

    def test_scopes_are_declared_for_the_app(self, spec: AppSpec) -> None:
        if spec.router is not None or spec.page_action is not None:
            assert spec.scopes, "an app with routes or page actions declares its scopes"
        assert all(scope.startswith(f"{spec.name}:") for scope in spec.scopes)

    # -- the CLI -----------------------------------------------------------------------------

    def _cli(self, spec: AppSpec) -> Any:
        import typer

        group = typer.main.get_group(spec.load("cli"))
        group.name = spec.command
        return group

    def test_cli_group_and_commands_have_help(self, spec: AppSpec) -> None:
        if spec.cli is None:
            pytest.skip("the app has no CLI group")  # a declared absence, not a gap
        from typer.testing import CliRunner

        from skybridge.cli import build_cli

        runner = CliRunner()
        root = build_cli()
        result = runner.invoke(root, [spec.command, "--help"])
        assert result.exit_code == 0, result.output
        for path, command in leaf_commands(self._cli(spec)):
            result = runner.invoke(root, [spec.command, *path, "--help"])
            assert result.exit_code == 0, f"{' '.join(path)} --help: {result.output}"
            assert "Traceback" not in result.output
            # The group's command list shows the first paragraph with its line breaks kept:
            # a summary wrapped in the source reads as a broken line there.
            summary = (command.help or "").strip().split("\n\n")[0]
            assert summary, f"`{' '.join(path)}` has no help text"
            assert "\n" not in summary, f"`{' '.join(path)}`: make the first line a summary"

    def test_listing_commands_take_json(self, spec: AppSpec) -> None:
        if spec.cli is None:
            pytest.skip("the app has no CLI group")
        for path, command in leaf_commands(self._cli(spec)):
            if path[-1] in LISTING:
                options = {o for p in command.params for o in getattr(p, "opts", ())}
                assert "--json" in options, f"`{' '.join(path)}` lists things but has no --json"

    def test_listing_commands_print_json_on_demo_data(self, workdir: Path, spec: AppSpec) -> None:
        if spec.cli is None or spec.demo is None:
            pytest.skip("the app has no CLI group or no demo data")
        from typer.testing import CliRunner

        from skybridge.cli import build_cli

        _seed(spec)
        runner = CliRunner()
        for path, command in leaf_commands(self._cli(spec)):
            required = [p for p in command.params if p.required]
            if path[-1] not in LISTING or required:
                continue
            result = runner.invoke(build_cli(), [spec.command, *path, "--json"])
            assert result.exit_code == 0, f"{' '.join(path)} --json: {result.output}"
            json.loads(result.stdout)

    def test_demo_try_lines_run_on_demo_data(self, workdir: Path, spec: AppSpec) -> None:
        """What ``skybridge up --demo`` suggests trying is a command of the app, and on the demo
        data it runs: exit 0, or 1 where it reports a finding (a violation, a failed check)."""
        from typer.testing import CliRunner

        from skybridge.cli import build_cli

        if not spec.demo_try:
            pytest.skip("the app suggests no command to try on the demo")
        runner = CliRunner()
        for line in spec.demo_try:
            result = runner.invoke(build_cli(), [*shlex.split(line)[1:], "--help"])
            assert result.exit_code == 0, f"{line} --help: {result.output}"
        if spec.demo is None:
            return  # its demo data comes from a demo service of `skybridge up --demo`
        _seed(spec)
        for line in spec.demo_try:
            result = runner.invoke(build_cli(), shlex.split(line)[1:])
            assert result.exit_code in (0, 1), f"{line}: exit {result.exit_code}: {result.output}"
            assert "Traceback" not in result.output, line

    # -- HTTP --------------------------------------------------------------------------------

    def test_routes_need_a_token(self, service: ServiceHarness, spec: AppSpec) -> None:
        routes = app_routes(service.client.app, spec.name)
        if spec.router is not None:
            assert routes, "the router mounts no route under /api/<name>"
        for method, path, _ in routes:
            response = service.client.request(method, _concrete(path))
            assert response.status_code == 401, f"{method} {path}: {response.status_code}"
            assert response.json()["message"]

    def test_routes_refuse_tokens_without_their_scope(
        self, service: ServiceHarness, spec: AppSpec
    ) -> None:
        reader = {"Authorization": f"Bearer {service.new_token('reader', scopes=['read'])}"}
        schema = _paths(service.client.app)
        for method, path, _ in app_routes(service.client.app, spec.name):
            scope = schema[path][method.lower()].get("x-required-scope")
            assert scope in spec.scopes, f"{method} {path} names no scope of the app"
            response = service.client.request(method, _concrete(path), headers=reader, json={})
            if spec.scopes[scope] == "read":
                assert response.status_code != 403, f"{method} {path} refused a read token"
            else:
                assert response.status_code == 403, f"{method} {path}: {response.status_code}"
                assert scope in response.json()["message"]

    def test_routes_answer_bad_input_with_json(
        self, service: ServiceHarness, spec: AppSpec
    ) -> None:
        for method, path, takes_body in app_routes(service.client.app, spec.name):
            if method not in {"POST", "PUT", "PATCH"} or not takes_body:
                continue
            response = service.client.request(
                method, _concrete(path), headers=service.auth, content=b"{not json"
            )
            assert 400 <= response.status_code < 500, f"{method} {path}: {response.status_code}"
            body = response.json()
            assert body["message"], body
            assert body["error"], body

    def test_page_renders_signed_in_and_redirects_others(
        self, service: ServiceHarness, spec: AppSpec
    ) -> None:
        if spec.page is None:
            pytest.skip("the app has no dashboard page")
        anonymous = service.client.get(f"/ui/{spec.name}", follow_redirects=False)
        assert anonymous.status_code == 303
        assert anonymous.headers["location"] == f"/login?next=%2Fui%2F{spec.name}"
        service.login()
        page = service.client.get(f"/ui/{spec.name}")
        assert page.status_code == 200
        assert spec.title in page.text
        assert "Traceback" not in page.text

    def test_page_forms_check_csrf(self, service: ServiceHarness, spec: AppSpec) -> None:
        if spec.page_action is None:
            pytest.skip("the app's page has no forms")
        service.login()
        forged = service.client.post(
            f"/ui/{spec.name}", data={"csrf": "forged", "action": "x"}, follow_redirects=False
        )
        assert forged.status_code == 403
        missing = service.client.post(f"/ui/{spec.name}", data={"action": "x"})
        assert missing.status_code == 403

    # -- demo, config, background --------------------------------------------------------------

    def test_demo_seed_is_idempotent(self, workdir: Path, spec: AppSpec) -> None:
        if spec.demo is None:
            pytest.skip("the app has no demo data")
        _seed(spec)
        with service_harness([spec]) as service:
            before = _snapshot(service, spec)
        _seed(spec)
        with service_harness([spec]) as service:
            after = _snapshot(service, spec)
        assert before == after

    def test_config_section_round_trips(
        self, workdir: Path, spec: AppSpec, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        model = section_model(spec)
        if model is None:
            (workdir / "skybridge.toml").write_text(f"[{spec.name}]\nanything = 1\n")
            with pytest.raises(ConfigError, match=spec.name):
                load_settings([spec])
            return
        defaults = model()
        (workdir / "skybridge.toml").write_text(_toml_section(spec.name, defaults.model_dump()))
        assert load_settings([spec]).section(spec.name) == defaults
        scalar = _scalar_field(model)
        if scalar is None:
            return
        key, bad = scalar
        monkeypatch.setenv(env_name(f"{spec.name}.{key}"), bad)
        with pytest.raises(ConfigError) as caught:
            load_settings([spec])
        assert caught.value.setting == f"{spec.name}.{key}"

    def test_background_parts_build(self, workdir: Path, spec: AppSpec) -> None:
        from skybridge.apps.kit.background import build_job, build_pipeline

        if spec.demo is not None:
            _seed(spec)
        ctx = AppContext.create(spec, load_settings([spec]), demo=True)
        for name in spec.pipelines:
            pipeline = build_pipeline(ctx, name)
            getattr(pipeline, "close", lambda: None)()
        for name in spec.jobs:
            job = build_job(ctx, name)
            if job.close is not None:
                job.close()


def _seed(spec: AppSpec) -> None:
    ctx = AppContext.create(spec, load_settings([spec]), demo=True)
    spec.load("demo")(ctx)


def _snapshot(service: ServiceHarness, spec: AppSpec) -> dict[str, Any]:
    """The JSON of every parameterless GET route of the app (volatile times left out)."""
    found: dict[str, Any] = {}
    for method, path, _ in app_routes(service.client.app, spec.name):
        if method == "GET" and "{" not in path:
            response = service.client.get(path, headers=service.auth)
            found[path] = (response.status_code, _stable(response.json()))
    return found


def _stable(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _stable(v) for k, v in data.items() if not _volatile(k)}
    if isinstance(data, list):
        return [_stable(v) for v in data]
    return data


def _volatile(key: str) -> bool:
    return key.endswith(("_at", "_seconds", "_ago")) or key in {"at", "when", "lag"}


def _toml_section(name: str, values: dict[str, Any]) -> str:
    lines = [f"[{name}]"]
    for key, value in values.items():
        if value is None or isinstance(value, dict | list):
            continue
        lines.append(f"{key} = {json.dumps(str(value) if isinstance(value, Path) else value)}")
    return "\n".join(lines) + "\n"


def _scalar_field(model: Any) -> tuple[str, str] | None:
    """A field that refuses the text ``not-a-number``: (name, bad value)."""
    for key, info in model.model_fields.items():
        if info.annotation in (int, float, bool):
            return key, "not-a-number"
    return None
