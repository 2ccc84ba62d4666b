"""An OCI store opened with ``credentials_from`` follows a key rotation without a restart: the
same long-lived engine reads the credentials secret again when OCI refuses its key (401), and
after :data:`CREDENTIALS_MAX_AGE_S`.

AWS Secrets Manager (moto server) holds the credentials; the OCI emulator checks every
request's signature against the API keys it trusts, and deleting a key there is taking it out
of that set.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

import pytest

from skybridge.apps.secretsync.credentialed_store import (
    CLASS_SETTINGS,
    CREDENTIALS_MAX_AGE_S,
    REREAD_AFTER_REFUSAL_S,
    CredentialedStore,
)
from skybridge.backends.secrets import SecretStore
from skybridge.core.backend import Backend
from skybridge.core.clock import ManualClock
from skybridge.core.errors import TerminalError
from skybridge.core.secret import Secret
from skybridge.testing.oci import OciEmulator

pytestmark = [pytest.mark.moto, pytest.mark.oci]


def _delete_key(emu: OciEmulator, config: dict[str, Any]) -> None:
    """The API key of ``config`` deleted in OCI: requests signed with it answer 401."""
    del emu._verifier.trusted[f"{emu.tenancy_id}/{config['user']}/{config['fingerprint']}"]


def _engine(cloud: Any, config: dict[str, Any], **options: Any) -> tuple[str, Any]:
    """The credentials secret (holding ``config``) and an engine whose OCI store reads it."""
    creds = cloud.name("oci-api-key")
    cloud.aws.create(creds, Secret(json.dumps(config)))
    backends = {
        "aws": cloud.aws_url,
        "oci": {"url": cloud.oci_url, "credentials_from": {"backend": "aws", "secret": creds}},
    }
    return creds, cloud.engine(cloud.mapping("db"), backends=backends, oci_options={}, **options)


def _credential_reads(sync: Any, creds: str) -> Counter[str]:
    """The calls the engine makes on ``creds`` in AWS, counted from now."""
    counts: Counter[str] = Counter()

    def count(model: Any, params: dict[str, Any], **_: Any) -> None:
        if params.get("SecretId") == creds:
            counts[model.name] += 1

    events = sync.backends.get("aws").client.meta.events
    events.register("before-parameter-build.secretsmanager", count)
    return counts


def test_the_same_engine_syncs_again_after_the_key_is_rotated(cloud: Any) -> None:
    old = cloud.emu.add_user()
    creds, sync = _engine(cloud, old)
    version, event = cloud.rotate("db", "v1")
    assert sync.sync_event(event)[0].target_version == version
    new = cloud.emu.add_user()
    cloud.aws.put_value(creds, Secret(json.dumps(new)))  # the operator stores the new key,
    _delete_key(cloud.emu, old)  # then deletes the old one
    version, event = cloud.rotate("db", "v2")
    assert sync.sync_event(event)[0].target_version == version  # no restart
    oci = cloud.oci(sync)
    assert oci.get_value(cloud.name("db")).value.reveal() == "v2"
    assert oci.principal_id == new["user"]  # its own writes are told apart under the new user
    assert sync.reconcile().errors == []


def test_a_refused_key_is_raised_until_the_secret_holds_a_new_one(cloud: Any) -> None:
    """... and the credentials are read again for a refusal at most once every
    :data:`REREAD_AFTER_REFUSAL_S`."""
    clock = ManualClock(time.time())
    old = cloud.emu.add_user()
    creds, sync = _engine(cloud, old, clock=clock)
    sync.sync_event(cloud.rotate("db", "v1")[1])
    oci = cloud.oci(sync)
    _delete_key(cloud.emu, old)  # deleted before the secret was updated
    reads = _credential_reads(sync, creds)
    for _ in range(3):
        with pytest.raises(TerminalError, match="401"):
            oci.get_value(cloud.name("db"))
    assert reads["GetSecretValue"] == 1  # read again once, unchanged: the refusal is raised
    cloud.aws.put_value(creds, Secret(json.dumps(cloud.emu.add_user())))
    clock.advance(REREAD_AFTER_REFUSAL_S)
    assert oci.get_value(cloud.name("db")).value.reveal() == "v1"
    assert reads["GetSecretValue"] == 2


def test_threads_refused_at_once_reopen_the_store_once(cloud: Any) -> None:
    old = cloud.emu.add_user()
    creds, sync = _engine(cloud, old)
    sync.sync_event(cloud.rotate("db", "v1")[1])
    oci = cloud.oci(sync)
    cloud.aws.put_value(creds, Secret(json.dumps(cloud.emu.add_user())))
    _delete_key(cloud.emu, old)
    reads = _credential_reads(sync, creds)
    got: list[str] = []
    start = threading.Barrier(8)

    def read() -> None:
        start.wait()
        got.append(oci.get_value(cloud.name("db")).value.reveal())

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert got == ["v1"] * 8
    assert reads["GetSecretValue"] == 1


def test_credentials_are_read_again_after_their_max_age(cloud: Any) -> None:
    """A key rotated without deleting the old one is used from the next call after the age."""
    clock = ManualClock(time.time())
    old = cloud.emu.add_user()
    creds, sync = _engine(cloud, old, clock=clock)
    oci = cloud.oci(sync)
    assert oci.principal_id == old["user"]
    new = cloud.emu.add_user()
    cloud.aws.put_value(creds, Secret(json.dumps(new)))
    clock.advance(CREDENTIALS_MAX_AGE_S - 1)
    assert oci.principal_id == old["user"]
    clock.advance(1)
    assert oci.principal_id == new["user"]
    before = len(cloud.emu.audit_events())
    sync.sync_event(cloud.rotate("db", "v1")[1])
    calls = cloud.emu.audit_events()[before:]
    assert "CreateSecret" in {call.event_name for call in calls}
    assert {call.principal_id for call in calls} == {new["user"]}


def test_the_store_has_the_class_settings_of_the_store_it_opens(cloud: Any) -> None:
    _, sync = _engine(cloud, cloud.emu.sdk_config())
    oci = cloud.oci(sync)
    assert isinstance(oci, CredentialedStore)
    assert (oci.scheme, oci.max_active_versions) == ("oci-vault", 30)
    assert oci.supports("version_deletion")
    assert oci.max_value_size == 25_000
    declared = {
        name
        for kind in (Backend, SecretStore)
        for name, note in kind.__annotations__.items()
        if str(note).startswith("ClassVar")
    }
    assert declared == set(CLASS_SETTINGS)
