"""Notifications publish, state reset, and the ``python -m skybridge.testing.oci`` command."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import oci
import pytest

from skybridge.testing.oci import OciEmulator

pytestmark = pytest.mark.oci
NO_RETRY = oci.retry.NoneRetryStrategy()


def ons_client(emu: OciEmulator) -> oci.ons.NotificationDataPlaneClient:
    return oci.ons.NotificationDataPlaneClient(
        emu.sdk_config(), service_endpoint=emu.endpoint, retry_strategy=NO_RETRY
    )


def test_publish_records_messages(oci_emulator: OciEmulator) -> None:
    topic = oci_emulator.create_topic("alerts")
    assert topic.startswith("ocid1.onstopic.oc1.")
    client = ons_client(oci_emulator)
    first = client.publish_message(
        topic, oci.ons.models.MessageDetails(title="sync failed", body='{"n": 1}')
    ).data
    client.publish_message(
        topic, oci.ons.models.MessageDetails(body="plain"), message_type="RAW_TEXT"
    )
    messages = oci_emulator.published(topic)
    assert [(m.title, m.body, m.message_type) for m in messages] == [
        ("sync failed", '{"n": 1}', "JSON"),
        (None, "plain", "RAW_TEXT"),
    ]
    assert messages[0].message_id == first.message_id
    assert oci_emulator.published(oci_emulator.create_topic("quiet")) == []


def test_publish_to_unknown_topic_is_404(oci_emulator: OciEmulator) -> None:
    with pytest.raises(oci.exceptions.ServiceError) as caught:
        ons_client(oci_emulator).publish_message(
            "ocid1.onstopic.oc1..missing", oci.ons.models.MessageDetails(body="x")
        )
    assert (caught.value.status, caught.value.code) == (404, "NotAuthorizedOrNotFound")


def test_oversized_message_is_400(oci_emulator: OciEmulator) -> None:
    topic = oci_emulator.create_topic("big")
    with pytest.raises(oci.exceptions.ServiceError) as caught:
        ons_client(oci_emulator).publish_message(
            topic, oci.ons.models.MessageDetails(body="x" * (64 * 1024 + 1))
        )
    assert caught.value.status == 400
    assert oci_emulator.published(topic) == []


def test_reset_forgets_state_but_keeps_credentials() -> None:
    with OciEmulator() as emu:
        topic = emu.create_topic("t")
        emu.create_bucket("keep-me")
        emu.faults.inject("*", 500, times=None)
        cfg = emu.sdk_config()
        emu.reset()
        assert emu.faults.pending == 0
        client = oci.object_storage.ObjectStorageClient(
            cfg, service_endpoint=emu.endpoint, retry_strategy=NO_RETRY
        )
        with pytest.raises(oci.exceptions.ServiceError) as caught:
            client.get_bucket(emu.namespace, "keep-me")
        assert caught.value.status == 404
        assert emu.calls == {"GetBucket": 1}
        with pytest.raises(KeyError):
            emu.published(topic)


def test_command_line_serves_and_writes_config(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "skybridge.testing.oci", "--port", "0"]
    with subprocess.Popen(
        [*command, "--config-dir", str(tmp_path)], stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            lines = dict(proc.stdout.readline().strip().split("=", 1) for _ in range(3))
            config = oci.config.from_file(lines["config"])
            assert (tmp_path / "key.pem").stat().st_mode & 0o077 == 0
            client = oci.object_storage.ObjectStorageClient(
                config, service_endpoint=lines["endpoint"], retry_strategy=NO_RETRY
            )
            assert client.get_namespace().data == lines["namespace"]
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(10)
    assert code == 0


def test_get_topic_through_control_plane_client(oci_emulator: OciEmulator) -> None:
    topic = oci_emulator.create_topic("ops")
    control = oci.ons.NotificationControlPlaneClient(
        oci_emulator.sdk_config(), service_endpoint=oci_emulator.endpoint, retry_strategy=NO_RETRY
    )
    found = control.get_topic(topic).data
    assert (found.topic_id, found.name, found.lifecycle_state) == (topic, "ops", "ACTIVE")
    with pytest.raises(oci.exceptions.ServiceError) as caught:
        control.get_topic("ocid1.onstopic.oc1..missing")
    assert caught.value.status == 404
