"""``OciEmulator``: the local OCI API (Vault, Secrets, Object Storage, Notifications, Compute,
Usage, Data Science model deployments) for tests."""

from __future__ import annotations

import secrets
import string
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

from skybridge.core.clock import SYSTEM_CLOCK, Clock
from skybridge.testing.oci.audit import AuditEvent, AuditLog
from skybridge.testing.oci.compute import ComputeInstances, EmulatedInstance
from skybridge.testing.oci.datascience import ModelDeployments, Predictor
from skybridge.testing.oci.faults import Faults
from skybridge.testing.oci.ids import tenancy_ocid, user_ocid
from skybridge.testing.oci.multipart_api import MultipartApi
from skybridge.testing.oci.notifications import Notifications, PublishedMessage
from skybridge.testing.oci.objectstorage import Bucket, ObjectStore
from skybridge.testing.oci.objectstorage_api import ObjectStorageApi
from skybridge.testing.oci.routing import Router
from skybridge.testing.oci.secrets_api import SecretsApi
from skybridge.testing.oci.server import Dispatcher, HttpServer
from skybridge.testing.oci.signing import ApiKey, SignatureVerifier
from skybridge.testing.oci.usage import UsageItem, UsageRecords
from skybridge.testing.oci.vault import VaultStore
from skybridge.testing.oci.vault_api import VaultApi


def _namespace() -> str:
    return "emu" + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(9))


class OciEmulator:
    """A local OCI API server that the unchanged ``oci`` SDK talks to through ``service_endpoint``.

    Example::

        with OciEmulator() as emu:
            cfg = emu.sdk_config()
            vaults = oci.vault.VaultsClient(cfg, service_endpoint=emu.endpoint)

    Args:
        port: TCP port on ``host``; 0 picks a free one.
        host: interface to listen on.
        region: region name in the SDK config and in OCIDs.
        namespace: Object Storage namespace (random when not given).
        api_key: PEM private key to trust (a fresh 2048-bit key when not given).
        clock: time source for timestamps and deletion schedules (tests can pass a ManualClock).
        verify_signatures: check every request's signature (401 NotAuthenticated when wrong).
    """

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        region: str = "us-ashburn-1",
        namespace: str | None = None,
        api_key: str | bytes | None = None,
        clock: Clock = SYSTEM_CLOCK,
        verify_signatures: bool = True,
    ) -> None:
        self.host = host
        self.region = region
        self.namespace = namespace or _namespace()
        self.clock = clock
        self.tenancy_id = tenancy_ocid()
        self.user_id = user_ocid()
        self.api_key = ApiKey.from_pem(api_key) if api_key else ApiKey.generate()
        self._wrong_key: ApiKey | None = None
        self.faults = Faults()
        self._audit_delay = 0.0
        self._verifier = SignatureVerifier({self.key_id: self.api_key.public_key})
        self._dispatcher = Dispatcher(
            Router(), self._verifier if verify_signatures else None, self.faults
        )
        self._build_state()
        self._server = HttpServer(host, port, self._dispatcher)
        self._started = False

    def _build_state(self) -> None:
        self.vault = VaultStore(self.clock, self.region)
        self.objects = ObjectStore(self.namespace, self.clock, self.region)
        self.notifications = Notifications(self.clock, self.region)
        self.models = ModelDeployments(self.region)
        self.audit = AuditLog(self.clock, self._audit_delay)
        self.compute = ComputeInstances(self.clock, self.region)
        self.usage = UsageRecords()
        router = Router()
        VaultApi(self.vault, self.audit).register(router)
        SecretsApi(self.vault, self.audit).register(router)
        object_api = ObjectStorageApi(self.objects)
        object_api.register(router)
        MultipartApi(object_api).register(router)
        self.notifications.register(router)
        self.models.register(router)
        self.audit.register(router)
        self.compute.register(router)
        self.usage.register(router)
        self._dispatcher.router = router

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> OciEmulator:
        """Start serving on a background thread (idempotent)."""
        if not self._started:
            self._server.start()
            self._started = True
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._started:
            self._server.stop()
            self._started = False

    def __enter__(self) -> OciEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``: pass as ``service_endpoint`` to every OCI client."""
        return f"http://{self.host}:{self.port}"

    # -- credentials -----------------------------------------------------------------------
    @property
    def key_id(self) -> str:
        return f"{self.tenancy_id}/{self.user_id}/{self.api_key.fingerprint}"

    @property
    def compartment_id(self) -> str:
        """The root compartment (the tenancy OCID), used by helpers when none is given."""
        return self.tenancy_id

    def sdk_config(self, *, wrong_key: bool = False) -> dict[str, Any]:
        """An ``oci`` config dict the emulator trusts (``oci.config.validate_config`` passes).

        Args:
            wrong_key: sign with a different private key under the same user and fingerprint,
                so every request fails with 401 NotAuthenticated.
        """
        key = self.api_key
        if wrong_key:
            self._wrong_key = self._wrong_key or ApiKey.generate()
            key = self._wrong_key
        return {
            "user": self.user_id,
            "tenancy": self.tenancy_id,
            "fingerprint": self.api_key.fingerprint,
            "key_content": key.private_pem,
            "key_file": None,  # lets oci.signer.Signer.from_config(cfg) work too
            "region": self.region,
        }

    def add_user(self) -> dict[str, Any]:
        """Trust a second user with its own API key; returns its ``oci`` config dict.

        Requests signed with it are attributed to that user (``data.identity.principalId`` in
        Audit), as edits made in the console or by another tool would be.
        """
        key, user = ApiKey.generate(), user_ocid()
        self._verifier.trusted[f"{self.tenancy_id}/{user}/{key.fingerprint}"] = key.public_key
        return {
            "user": user,
            "tenancy": self.tenancy_id,
            "fingerprint": key.fingerprint,
            "key_content": key.private_pem,
            "key_file": None,
            "region": self.region,
        }

    def write_config(self, directory: str | Path, profile: str = "DEFAULT") -> Path:
        """Write ``config`` and ``key.pem`` (mode 600) for the OCI CLI / SDK; returns the config."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        key_file = folder / "key.pem"
        key_file.write_text(self.api_key.private_pem)
        key_file.chmod(0o600)
        lines = [
            f"[{profile}]",
            f"user={self.user_id}",
            f"tenancy={self.tenancy_id}",
            f"fingerprint={self.api_key.fingerprint}",
            f"key_file={key_file}",
            f"region={self.region}",
            "",
        ]
        config = folder / "config"
        config.write_text("\n".join(lines))
        config.chmod(0o600)
        return config

    # -- state helpers ---------------------------------------------------------------------
    def create_vault(self, compartment_id: str | None = None) -> tuple[str, str]:
        """Create a vault with one key; returns ``(vault_id, key_id)`` for CreateSecret."""
        with self._dispatcher.state_lock:
            return self.vault.create_vault(compartment_id or self.compartment_id)

    def create_bucket(self, name: str, compartment_id: str | None = None) -> Bucket:
        """Create a bucket directly (same as CreateBucket through the API)."""
        with self._dispatcher.state_lock:
            return self.objects.create_bucket(name, compartment_id or self.compartment_id, {})

    def object_storage_client(self, *buckets: str) -> Any:
        """An ``oci`` SDK Object Storage client on the emulator, with ``buckets`` created
        unless they are there (through the API, as a test's own client would)."""
        import oci

        client = oci.object_storage.ObjectStorageClient(
            self.sdk_config(), service_endpoint=self.endpoint
        )
        for name in buckets:
            details = oci.object_storage.models.CreateBucketDetails(
                name=name, compartment_id=self.compartment_id
            )
            try:
                client.create_bucket(self.namespace, details)
            except oci.exceptions.ServiceError as exc:
                if exc.status != 409:  # there already
                    raise
        return client

    def create_topic(self, name: str) -> str:
        """Create a Notifications topic; returns its OCID for PublishMessage."""
        with self._dispatcher.state_lock:
            return self.notifications.create_topic(name)

    def deploy_model(self, predictor: Predictor) -> str:
        """Deploy ``predictor`` (request JSON in, answer JSON out); returns the deployment OCID
        that ``POST /<ocid>/predict`` reaches."""
        with self._dispatcher.state_lock:
            return self.models.deploy(predictor)

    def published(self, topic_id: str) -> list[PublishedMessage]:
        """Messages published to ``topic_id`` so far, oldest first (KeyError if unknown)."""
        with self._dispatcher.state_lock:
            return list(self.notifications.messages[topic_id])

    def launch_instance(
        self,
        name: str,
        shape: str = "VM.Standard.E4.Flex",
        *,
        compartment_id: str | None = None,
        freeform_tags: dict[str, str] | None = None,
        defined_tags: dict[str, dict[str, Any]] | None = None,
    ) -> EmulatedInstance:
        """A RUNNING Compute instance (there is no LaunchInstance route; tests set up state)."""
        with self._dispatcher.state_lock:
            return self.compute.launch(
                compartment_id or self.compartment_id, name, shape, freeform_tags, defined_tags
            )

    def instance(self, instance_id: str) -> EmulatedInstance:
        """An instance's current state (KeyError if unknown)."""
        with self._dispatcher.state_lock:
            return self.compute.instances[instance_id]

    def add_usage(self, item: UsageItem) -> None:
        """Record a cost item that RequestSummarizedUsages will summarise."""
        with self._dispatcher.state_lock:
            self.usage.add(item)

    # -- audit -----------------------------------------------------------------------------
    @property
    def audit_delay(self) -> float:
        """Seconds (on the emulator clock) before an audit event is listed by ListEvents."""
        return self._audit_delay

    @audit_delay.setter
    def audit_delay(self, seconds: float) -> None:
        self._audit_delay = float(seconds)
        self.audit.delay = float(seconds)

    def simulate_reads(self, vault_id: str, names: list[str], user_id: str | None = None) -> None:
        """Audit events for ``user_id`` (default: another user) reading each named secret's
        bundle, recorded now on the emulator clock without HTTP calls: the read traffic of the
        applications that use the secrets, for tests of readers of a busy Audit log.

        Raises:
            KeyError: a name no live secret of ``vault_id`` holds.
        """
        with self._dispatcher.state_lock:
            secrets = []
            for name in names:
                secret = self.vault.by_name(vault_id, name)
                if secret is None:
                    raise KeyError(name)
                secrets.append(secret)
            self.audit.record_reads(secrets, user_id or user_ocid(), self.tenancy_id)

    def audit_events(self) -> list[AuditEvent]:
        """Every audit event recorded so far (listed or not yet), oldest first."""
        with self._dispatcher.state_lock:
            return list(self.audit.events)

    # -- accounting ------------------------------------------------------------------------
    @property
    def calls(self) -> Counter[str]:
        """Requests received per OCI operation name (every attempt, failed ones included)."""
        return self._dispatcher.calls

    def reset_calls(self) -> None:
        with self._dispatcher.calls_lock:
            self._dispatcher.calls.clear()

    def reset(self) -> None:
        """Forget every vault, secret, bucket, topic, fault and call count (keys and port stay)."""
        with self._dispatcher.state_lock:
            self._build_state()
        self.faults.clear()
        self.reset_calls()
