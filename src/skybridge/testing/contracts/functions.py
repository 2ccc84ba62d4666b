"""The contract every function platform passes (``skybridge.backends.functions``).

A concrete test class subclasses :class:`FunctionPlatformContract` and provides two fixtures:

``platform``
    A :class:`~skybridge.backends.functions.FunctionPlatform` (shared or fresh: every test uses
    names of its own).
``alarm``
    A factory ``alarm() -> str``: the name of a new alarm on that platform, in state ``OK``.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Callable

import pytest

from skybridge.backends.functions import Alias, FunctionPlatform, Grant, Metric, parse_layer_arn
from skybridge.core.errors import Conflict, NotFound, ValidationError

AlarmFactory = Callable[[], str]


def unique(prefix: str) -> str:
    """A name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def tiny_zip(text: str = "x = 1\n") -> bytes:
    """A zip holding ``python/tiny_mod.py``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("python/tiny_mod.py", text)
    return buffer.getvalue()


class FunctionPlatformContract:
    """Layers, grants, functions, aliases, metrics and alarms behave alike everywhere."""

    def test_publish_numbers_versions_newest_first(self, platform: FunctionPlatform) -> None:
        name = unique("deps")
        first = platform.publish_layer_version(name, tiny_zip("a = 1\n"), runtimes=["python3.12"])
        second = platform.publish_layer_version(
            name, tiny_zip("a = 2\n"), description="two", architectures=["arm64"]
        )
        assert (first.version, second.version) == (1, 2)
        listed = platform.list_layer_versions(name)
        assert [v.version for v in listed] == [2, 1]
        assert listed[0].description == "two"
        assert listed[0].architectures == ("arm64",)
        assert listed[1].runtimes == ("python3.12",)
        assert parse_layer_arn(second.arn)[1:] == (name, 2)
        assert name in platform.list_layers()

    def test_delete_removes_one_version(self, platform: FunctionPlatform) -> None:
        name = unique("deps")
        platform.publish_layer_version(name, tiny_zip())
        platform.publish_layer_version(name, tiny_zip("b = 2\n"))
        platform.delete_layer_version(name, 1)
        assert [v.version for v in platform.list_layer_versions(name)] == [2]
        with pytest.raises(NotFound):
            platform.delete_layer_version(name, 1)

    def test_unknown_layer_has_no_versions(self, platform: FunctionPlatform) -> None:
        assert platform.list_layer_versions(unique("absent")) == []

    @pytest.mark.parametrize("name", ["no spaces/allowed", "trailing-newline\n", "", "x" * 141])
    def test_bad_layer_name_is_refused(self, platform: FunctionPlatform, name: str) -> None:
        with pytest.raises(ValidationError, match="name"):
            platform.publish_layer_version(name, tiny_zip())
        assert platform.list_layer_versions(name.strip() or "x") == []

    def test_grants_to_accounts_and_organisations(self, platform: FunctionPlatform) -> None:
        name = unique("shared")
        version = platform.publish_layer_version(name, tiny_zip()).version
        platform.add_layer_grant(name, version, Grant("acct", "210987654321"))
        platform.add_layer_grant(name, version, Grant("org", "*", "o-abc123def4"))
        grants = {g.statement_id: g for g in platform.layer_grants(name, version)}
        assert grants["acct"].principal == "210987654321"
        assert grants["org"].organization_id == "o-abc123def4"
        with pytest.raises(Conflict):
            platform.add_layer_grant(name, version, Grant("acct", "210987654321"))

    def test_bad_grant_is_refused(self, platform: FunctionPlatform) -> None:
        name = unique("shared")
        version = platform.publish_layer_version(name, tiny_zip()).version
        with pytest.raises(ValidationError, match="principal"):
            platform.add_layer_grant(name, version, Grant("x", "not-an-account"))
        assert platform.layer_grants(name, version) == []

    def test_functions_reference_layer_versions(self, platform: FunctionPlatform) -> None:
        name, function = unique("deps"), unique("fn")
        old = platform.publish_layer_version(name, tiny_zip())
        new = platform.publish_layer_version(name, tiny_zip("c = 3\n"))
        created = platform.create_function(
            function, runtime="python3.12", code=tiny_zip(), layers=[old.arn]
        )
        assert created.layers == (old.arn,)
        frozen = platform.publish_function_version(function, "with old")
        platform.set_function_layers(function, [new.arn])
        versions = {c.version: c for c in platform.function_versions(function)}
        assert versions["$LATEST"].layers == (new.arn,)
        assert versions[frozen.version].layers == (old.arn,)
        references = platform.layer_references()
        assert {c.version for c in references[old.arn] if c.name == function} == {frozen.version}
        assert {c.version for c in references[new.arn] if c.name == function} == {"$LATEST"}

    def test_unknown_function_is_not_found(self, platform: FunctionPlatform) -> None:
        with pytest.raises(NotFound):
            platform.function_versions(unique("absent"))

    def test_weighted_alias(self, platform: FunctionPlatform) -> None:
        function = unique("fn")
        platform.create_function(function, runtime="python3.12", code=tiny_zip())
        one = platform.publish_function_version(function).version
        platform.set_function_layers(function, [])
        two = platform.publish_function_version(function, "second").version
        platform.put_alias(Alias(function, "live", one))
        platform.put_alias(Alias(function, "live", one, {two: 0.1}))
        alias = platform.get_alias(function, "live")
        assert alias.version == one
        assert dict(alias.weights) == {two: pytest.approx(0.1)}
        platform.put_alias(Alias(function, "live", two))
        assert platform.get_alias(function, "live").weights == {}

    def test_bad_alias_is_refused(self, platform: FunctionPlatform) -> None:
        function = unique("fn")
        platform.create_function(function, runtime="python3.12", code=tiny_zip())
        one = platform.publish_function_version(function).version
        two = platform.publish_function_version(function, "again").version
        with pytest.raises(ValidationError, match="weight"):
            platform.put_alias(Alias(function, "live", one, {two: 1.5}))
        with pytest.raises(ValidationError, match="no version"):
            platform.put_alias(Alias(function, "live", "99"))
        with pytest.raises(NotFound):
            platform.get_alias(function, "live")

    def test_metrics_and_alarms(self, platform: FunctionPlatform, alarm: AlarmFactory) -> None:
        platform.put_metrics(
            "Skybridge/Layers", [Metric("ZippedBytes", 1024.0, "Bytes", {"Layer": "deps"})]
        )
        name = alarm()
        assert platform.alarm_state(name) == "OK"
        platform.set_alarm_state(name, "ALARM", "errors above threshold")
        assert platform.alarm_state(name) == "ALARM"
        with pytest.raises(NotFound):
            platform.alarm_state(unique("no-alarm"))
