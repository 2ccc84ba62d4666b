"""Contract suite every secret store passes.

Subclass :class:`SecretsContract` and provide a fixture ``secrets`` yielding a store. The store
may be shared with other tests (a cloud account, an emulator): every test makes its own names
through the ``secret_name`` fixture, so they never collide::

    class TestLocal(SecretsContract):
        @pytest.fixture
        def secrets(self, tmp_path):
            with LocalSecretStore(tmp_path) as store:
                yield store
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skybridge.backends.secrets import SecretStore, SecretValue, SecretVersion, VersionExists
from skybridge.core.errors import Conflict, NotFound, SkybridgeError, ValidationError
from skybridge.core.secret import Secret
from skybridge.testing.canary import LogWatch

NameFactory = Callable[[str], str]
_FEW = settings(
    max_examples=8,
    deadline=None,
    # Each backend's test class inherits the test; the fixture gives each its own store.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
)


def vid() -> str:
    """A version id every backend accepts (AWS wants 32-64 characters)."""
    return str(uuid.uuid4())


class SecretsContract:
    """Behaviour shared by every :class:`SecretStore`; needs a ``secrets`` fixture."""

    @pytest.fixture
    def secret_name(self) -> NameFactory:
        run = uuid.uuid4().hex[:10]
        return lambda suffix: f"sbt-{run}-{suffix}"

    # -- values ------------------------------------------------------------------------------

    def test_text_round_trip_keeps_type(
        self, secrets: SecretStore, secret_name: NameFactory
    ) -> None:
        created = secrets.create(secret_name("text"), Secret('pässwörd ✓ {"json": 1}'))
        got = secrets.get_value(secret_name("text"))
        assert not got.is_binary
        assert got.value.reveal() == 'pässwörd ✓ {"json": 1}'
        assert got.version_id == created.version_id
        assert got.name == secret_name("text")

    def test_binary_round_trip_keeps_type(
        self, secrets: SecretStore, secret_name: NameFactory
    ) -> None:
        secrets.create(secret_name("bin"), Secret(bytes(range(256))))
        got = secrets.get_value(secret_name("bin"))
        assert got.is_binary
        assert got.value.reveal() == bytes(range(256))

    @_FEW
    @given(value=st.one_of(st.text(min_size=1, max_size=300), st.binary(min_size=1, max_size=300)))
    def test_any_value_round_trips(
        self, secrets: SecretStore, secret_name: NameFactory, value: str | bytes
    ) -> None:
        name = secret_name(f"h{uuid.uuid4().hex[:8]}")
        wrapped: SecretValue = Secret(value) if isinstance(value, str) else Secret(value)  # noqa: RUF034
        secrets.create(name, wrapped)
        got = secrets.get_value(name).value.reveal()
        assert type(got) is type(value)
        assert got == value

    # -- versions and stages -----------------------------------------------------------------

    def _three_versions(self, secrets: SecretStore, name: str) -> list[str]:
        ids = [vid(), vid(), vid()]
        secrets.create(name, Secret("one"), version_id=ids[0])
        secrets.put_value(name, Secret("two"), version_id=ids[1])
        secrets.put_value(name, Secret(b"three"), version_id=ids[2])
        return ids

    def test_stages_after_several_puts(
        self, secrets: SecretStore, secret_name: NameFactory
    ) -> None:
        name = secret_name("stages")
        ids = self._three_versions(secrets, name)
        by_id = {v.version_id: v for v in secrets.list_versions(name)}
        assert set(ids) <= set(by_id)
        assert by_id[ids[2]].stages >= {"current"}
        assert by_id[ids[1]].stages >= {"previous"}
        assert by_id[ids[0]].is_deprecated
        assert not by_id[ids[0]].stages & {"current", "previous"}
        assert secrets.get_value(name, stage="previous").value.reveal() == "two"
        assert secrets.get_value(name, stage="current").value.reveal() == b"three"

    def test_get_by_version_id(self, secrets: SecretStore, secret_name: NameFactory) -> None:
        name = secret_name("byid")
        ids = self._three_versions(secrets, name)
        got = secrets.get_value(name, version_id=ids[0])
        assert (got.version_id, got.value.reveal()) == (ids[0], "one")
        assert secrets.get_value(name, version_id=ids[2]).value.reveal() == b"three"
        with pytest.raises(NotFound):
            secrets.get_value(name, version_id=vid())
        with pytest.raises(ValidationError):
            secrets.get_value(name, version_id=ids[0], stage="current")

    def test_describe_reports_current_version(
        self, secrets: SecretStore, secret_name: NameFactory
    ) -> None:
        name = secret_name("describe")
        ids = self._three_versions(secrets, name)
        info = secrets.describe(name)
        assert info.name == name
        assert info.current_version_id == ids[2]
        assert info.secret_id
        assert not info.pending_deletion
        assert secrets.describe(info.secret_id).name == name  # by id too
        assert secrets.get_value(info.secret_id).version_id == ids[2]

    def test_put_same_version_id_and_value_is_a_no_op(
        self, secrets: SecretStore, secret_name: NameFactory
    ) -> None:
        name = secret_name("idem")
        ids = self._three_versions(secrets, name)
        before = secrets.list_versions(name)
        again = secrets.put_value(name, Secret("two"), version_id=ids[1])  # a redelivery
        assert again.version_id == ids[1]
        assert again.value.reveal() == "two"
        assert len(secrets.list_versions(name)) == len(before)
        assert secrets.describe(name).current_version_id == ids[2]  # no rollback

    def test_put_same_version_id_other_value_conflicts(
        self, secrets: SecretStore, secret_name: NameFactory
    ) -> None:
        name = secret_name("clash")
        ids = self._three_versions(secrets, name)
        with pytest.raises(VersionExists) as caught:
            secrets.put_value(name, Secret("not two"), version_id=ids[1])
        assert isinstance(caught.value, Conflict)
        with pytest.raises(VersionExists):  # same bytes, other type
            secrets.put_value(name, Secret(b"two"), version_id=ids[1])
        assert secrets.get_value(name).value.reveal() == b"three"

    def test_create_is_idempotent_by_version_id(
        self, secrets: SecretStore, secret_name: NameFactory
    ) -> None:
        name, first = secret_name("create"), vid()
        secrets.create(name, Secret("v"), version_id=first)
        assert secrets.create(name, Secret("v"), version_id=first).version_id == first
        with pytest.raises(Conflict):
            secrets.create(name, Secret("other"), version_id=first)
        with pytest.raises(Conflict):
            secrets.create(name, Secret("v"))
        assert len(secrets.list_versions(name)) == 1

    def test_upsert_creates_then_puts(self, secrets: SecretStore, secret_name: NameFactory) -> None:
        name = secret_name("upsert")
        first = secrets.upsert_value(name, Secret("a"), version_id=vid(), metadata={"k": "1"})
        second = secrets.upsert_value(name, Secret("b"), version_id=vid())
        assert secrets.describe(name).current_version_id == second.version_id
        assert first.version_id != second.version_id
        assert secrets.describe(name).metadata.get("k") == "1"

    def test_describe_many_matches_describe(
        self, secrets: SecretStore, secret_name: NameFactory
    ) -> None:
        names = [secret_name(f"many{i}") for i in range(3)]
        for name in names:
            secrets.create(name, Secret("v"), metadata={"team": "a"})
        secrets.put_value(names[0], Secret("v2"))
        by_id = secrets.describe(names[1]).secret_id
        deleted, missing = secret_name("many-deleted"), secret_name("many-missing")
        secrets.create(deleted, Secret("v"))
        secrets.delete(deleted, recovery_days=secrets.recovery_days_range[1])
        asked = [names[0], missing, by_id, names[2], deleted, names[0]]
        got = secrets.describe_many(asked)
        assert list(got) == [names[0], by_id, names[2], deleted]  # as given, missing left out
        assert {key: secrets.describe(key) for key in got} == got
        assert got[by_id].name == names[1]
        assert got[deleted].pending_deletion
        assert got[names[0]].current_version_id == secrets.get_value(names[0]).version_id
        assert secrets.describe_many([]) == {}
        if secrets.supports("force_delete"):
            secrets.delete(names[2], force=True)
            assert names[2] not in secrets.describe_many(names)

    def test_a_name_never_shadows_another_secrets_id(
        self, secrets: SecretStore, secret_name: NameFactory
    ) -> None:
        victim = secrets.create(secret_name("victim"), Secret("victim value"))
        victim_id = victim.secret.secret_id
        assert secrets.is_secret_id(victim_id)
        with pytest.raises(ValidationError, match="secret id"):
            secrets.create(victim_id, Secret("impostor"))
        assert not secrets.is_secret_id(victim.name)
        assert secrets.get_value(victim_id).value.reveal() == "victim value"
        assert secrets.describe(victim_id).name == victim.name
        secrets.delete(victim_id, recovery_days=secrets.recovery_days_range[1])
        assert secrets.describe(victim.name).pending_deletion

    # -- metadata ----------------------------------------------------------------------------

    def test_metadata_round_trip(self, secrets: SecretStore, secret_name: NameFactory) -> None:
        name = secret_name("meta")
        secrets.create(name, Secret("x"), metadata={"owner": "team-a", "source": "aws"})
        assert dict(secrets.describe(name).metadata) == {"owner": "team-a", "source": "aws"}
        secrets.update_metadata(name, {"source": "oci", "owner": None, "sha": "ab12"})
        assert dict(secrets.describe(name).metadata) == {"source": "oci", "sha": "ab12"}
        secrets.put_value(name, Secret("y"), metadata={"source_version": "v9"})
        meta = dict(secrets.describe(name).metadata)
        assert meta == {"source": "oci", "sha": "ab12", "source_version": "v9"}

    def test_reserved_metadata_prefix_refused(
        self, secrets: SecretStore, secret_name: NameFactory
    ) -> None:
        with pytest.raises(ValidationError):
            secrets.create(secret_name("rsv"), Secret("x"), metadata={"skybridge:type": "x"})

    # -- listing -----------------------------------------------------------------------------

    def test_list_with_prefix(self, secrets: SecretStore, secret_name: NameFactory) -> None:
        names = {secret_name(f"pfx.{i}") for i in range(3)}
        for name in names:
            secrets.create(name, Secret("v"))
        secrets.create(secret_name("other"), Secret("v"))
        listed = {ref.name for ref in secrets.list(prefix=secret_name("pfx."))}
        assert listed == names
        everything = {ref.name for ref in secrets.list()}
        assert names | {secret_name("other")} <= everything

    # -- deletion ----------------------------------------------------------------------------

    def test_delete_with_recovery_window(
        self, secrets: SecretStore, secret_name: NameFactory
    ) -> None:
        name = secret_name("del")
        secrets.create(name, Secret("v"))
        secrets.delete(name, recovery_days=secrets.recovery_days_range[1])
        with pytest.raises(NotFound):
            secrets.get_value(name)
        assert name not in {ref.name for ref in secrets.list(prefix=name)}
        assert secrets.describe(name).pending_deletion
        with pytest.raises(Conflict):  # the name stays reserved during the window
            secrets.create(name, Secret("again"))

    def test_delete_rejects_bad_recovery_window(
        self, secrets: SecretStore, secret_name: NameFactory
    ) -> None:
        name = secret_name("window")
        secrets.create(name, Secret("v"))
        low, high = secrets.recovery_days_range
        for days in (low - 1, high + 1):
            with pytest.raises(ValidationError, match=str(low)):
                secrets.delete(name, recovery_days=days)
        secrets.get_value(name)  # still there

    def test_force_delete(self, secrets: SecretStore, secret_name: NameFactory) -> None:
        name = secret_name("force")
        secrets.create(name, Secret("v"))
        if not secrets.supports("force_delete"):
            with pytest.raises(ValidationError, match="force_delete"):
                secrets.delete(name, force=True)
            return
        secrets.delete(name, force=True)
        with pytest.raises(NotFound):
            secrets.describe(name)

    # -- limits and validation ---------------------------------------------------------------

    def test_size_limit_is_checked_before_sending(
        self, secrets: SecretStore, secret_name: NameFactory
    ) -> None:
        name, limit = secret_name("size"), secrets.max_value_size
        secrets.create(name, Secret(b"\x01" * limit))
        assert len(secrets.get_value(name).value) == limit
        with pytest.raises(ValidationError, match=f"at most {limit} bytes"):
            secrets.put_value(name, Secret("x" * (limit + 1)))
        with pytest.raises(ValidationError, match="max_value_size"):
            secrets.create(secret_name("size2"), Secret(b"\x01" * (limit + 1)))

    def test_invalid_names_and_version_ids(
        self, secrets: SecretStore, secret_name: NameFactory
    ) -> None:
        with pytest.raises(ValidationError):
            secrets.create("has spaces and !", Secret("v"))
        with pytest.raises(ValidationError):
            secrets.create(secret_name("vid"), Secret("v"), version_id="bad id/with slash")

    def test_not_found_cases(self, secrets: SecretStore, secret_name: NameFactory) -> None:
        missing = secret_name("missing")
        for call in (
            lambda: secrets.get_value(missing),
            lambda: secrets.describe(missing),
            lambda: secrets.put_value(missing, Secret("v")),
            lambda: secrets.update_metadata(missing, {"a": "b"}),
            lambda: secrets.delete(missing),
        ):
            with pytest.raises(NotFound):
                call()
        name = secret_name("nostage")
        secrets.create(name, Secret("v"))
        with pytest.raises(NotFound):
            secrets.get_value(name, stage="previous")

    # -- batch and pruning -------------------------------------------------------------------

    def test_batch_get_values(self, secrets: SecretStore, secret_name: NameFactory) -> None:
        names = [secret_name(f"batch{i}") for i in range(5)]
        for i, name in enumerate(names):
            secrets.create(name, Secret(f"value-{i}") if i % 2 else Secret(bytes([i]) * 3))
        got = secrets.batch_get_values([*names, secret_name("absent")])
        assert set(got) == set(names)
        assert got[names[1]].value.reveal() == "value-1"
        assert got[names[2]].value.reveal() == b"\x02\x02\x02"
        assert all("current" in v.stages for v in got.values())
        assert secrets.batch_get_values([]) == {}

    def test_prune_and_version_deletion(
        self, secrets: SecretStore, secret_name: NameFactory
    ) -> None:
        name = secret_name("prune")
        ids = [vid() for _ in range(6)]
        secrets.create(name, Secret("0"), version_id=ids[0])
        for i, version_id in enumerate(ids[1:], start=1):
            secrets.put_value(name, Secret(str(i)), version_id=version_id)
        if not secrets.supports("version_deletion"):
            assert secrets.prune_versions(name, max_active=2) == []
            with pytest.raises(ValidationError, match="version_deletion"):
                secrets.schedule_version_deletion(name, ids[0])
            return
        with pytest.raises(Conflict):
            secrets.schedule_version_deletion(name, ids[-1])  # current
        pruned = secrets.prune_versions(name, max_active=3)
        assert pruned == ids[:3]  # oldest deprecated first
        active = [v.version_id for v in secrets.list_versions(name) if v.is_active]
        assert set(active) == set(ids[3:])
        assert secrets.get_value(name).value.reveal() == "5"

    # -- change feed -------------------------------------------------------------------------

    def test_change_feed_reports_writes(
        self, secrets: SecretStore, secret_name: NameFactory
    ) -> None:
        since = datetime.now(UTC) - timedelta(minutes=1)
        name, untouched = secret_name("feed"), secret_name("feed-untouched")
        created = secrets.create(name, Secret("0"))
        if not secrets.supports("change_feed"):
            with pytest.raises(ValidationError, match="change_feed"):
                secrets.changed_since(since)
            return
        secrets.put_value(name, Secret("1"))
        feed = secrets.changed_since(since, datetime.now(UTC) + timedelta(minutes=1))
        mine = feed.about(name)
        assert [c.operation for c in mine][-2:] == ["CreateSecret", "UpdateSecret"]
        assert all(c.secret_id == created.secret.secret_id for c in mine)
        assert feed.about(untouched) == []
        assert feed.since <= since
        assert all(since - timedelta(minutes=1) <= c.time for c in mine)
        if secrets.principal_id is not None:
            assert {c.principal_id for c in mine} == {secrets.principal_id}
        with pytest.raises(ValidationError):
            secrets.changed_since(since.replace(tzinfo=None))

    # -- no leaks ----------------------------------------------------------------------------

    def test_values_never_leak_into_reprs_or_errors(
        self, secrets: SecretStore, secret_name: NameFactory
    ) -> None:
        canary = f"CANARY-{uuid.uuid4().hex}"
        name, first = secret_name("leak"), vid()
        shown: list[object] = [secrets]
        shown.append(secrets.create(name, Secret(canary), version_id=first))
        shown.append(secrets.put_value(name, Secret(canary.encode()), metadata={"m": "v"}))
        shown.extend([secrets.get_value(name), secrets.describe(name)])
        shown.extend([secrets.list_versions(name), secrets.batch_get_values([name])])
        shown.extend(secrets.list(prefix=name))
        errors: list[BaseException] = []
        for call in self._failing_calls(secrets, name, first, canary):
            with pytest.raises(SkybridgeError) as caught:
                call()
            errors.append(caught.value)
        texts = [repr(x) for x in shown] + [str(x) for x in shown]
        texts += [f"{e!s} {e!r} {e.__cause__!r} {e.__context__!r}" for e in errors]
        leaked = [t for t in texts if canary in t or canary[:20] in t]
        assert not leaked

    def test_values_never_reach_a_log_call(
        self, secrets: SecretStore, secret_name: NameFactory, log_canary: LogWatch
    ) -> None:
        for i, value in enumerate(log_canary.canaries):  # 1-7 characters, and a long one
            self._handle_value(secrets, secret_name(f"logs{i}"), value)
        log_canary.assert_no_leaks()

    @staticmethod
    def _handle_value(secrets: SecretStore, name: str, value: str) -> None:
        first = vid()
        secrets.create(name, Secret(value), version_id=first, metadata={"m": "v"})
        secrets.put_value(name, Secret(value.encode()))
        secret_id = secrets.upsert_value(name, Secret(value + "2")).secret.secret_id
        for version in (secrets.get_value(name), secrets.get_value(secret_id, version_id=first)):
            assert value in str(version.value.reveal())
        secrets.get_value(name, stage="previous")
        secrets.batch_get_values([name, secret_id])
        secrets.describe_many([name])
        list(secrets.list(prefix=name))
        too_big = Secret(value * (secrets.max_value_size // len(value) + 1))
        failing: list[Callable[[], SecretVersion]] = [
            lambda: secrets.put_value(name, Secret(value + "x"), version_id=first),
            lambda: secrets.create(name, Secret(value)),
            lambda: secrets.put_value(name, too_big),
            lambda: secrets.put_value(name + "-missing", Secret(value)),
            lambda: secrets.create("bad name!", Secret(value)),
        ]
        for call in failing:
            with pytest.raises(SkybridgeError):
                call()
        secrets.delete(name, recovery_days=secrets.recovery_days_range[1])

    @staticmethod
    def _failing_calls(
        secrets: SecretStore, name: str, first: str, canary: str
    ) -> Iterator[Callable[[], SecretVersion | None]]:
        yield lambda: secrets.put_value(name, Secret(canary + "x"), version_id=first)
        yield lambda: secrets.create(name, Secret(canary))
        yield lambda: secrets.put_value(name, Secret(canary * 10000))
        yield lambda: secrets.put_value(name + "-missing", Secret(canary))
        yield lambda: secrets.create("bad name!", Secret(canary))
