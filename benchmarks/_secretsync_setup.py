"""Rig for benchmarks/secretsync.py: servers that count calls, seeded secrets, engines.

Everything runs in one process: the moto server (AWS Secrets Manager) and two OCI emulators.
Ours syncs to one emulator (its own tenancy, so its Audit log holds only its own calls and the
application reads the benchmark simulates); the anchors sync the same AWS secrets to the other
one, so their reads and writes never show in ours' change feed and ours' writes never in
theirs. Calls are counted at the servers: moto through a WSGI wrapper (the operation is the
``X-Amz-Target`` header), the emulators by their own dispatcher. A write is every operation
outside a read allowlist.

moto's ``ListSecrets`` describes every secret of the region on every page and then slices out
the page, so listing N secrets costs it N/100 x N descriptions: at 5,000 secrets seconds of CPU
in this process, a cost of the emulator, not of the service. :func:`_paged_list_secrets`
replaces it here with the same filter, order and page tokens, describing only the page's
secrets (the OCI emulator's lookups are indexed for the same reason).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.secretsmanager import models as moto_secrets
from werkzeug.serving import make_server

from skybridge.apps.secretsync import SecretSync, table_from_dict
from skybridge.backends import kv
from skybridge.core.clock import SYSTEM_CLOCK, Clock, ManualClock
from skybridge.core.retry import RetryPolicy
from skybridge.testing.oci import OciEmulator
from skybridge.testing.pytest_plugin import AWS_TEST_ENV
from skybridge.testing.servers import free_port, wait_for_port

OWNER = "bench-secretsync"
REGION = "us-east-1"
RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, deadline=10.0)
THREADS = 8
#: Operations that only read; every other operation counts as a write.
AWS_READS = frozenset(
    {"GetSecretValue", "BatchGetSecretValue", "DescribeSecret", "ListSecrets",
     "ListSecretVersionIds", "GetResourcePolicy", "GetRandomPassword"}
)  # fmt: skip
OCI_READS = frozenset(
    {"GetSecret", "ListSecrets", "ListSecretVersions", "GetSecretVersion", "GetSecretBundle",
     "GetSecretBundleByName", "ListSecretBundleVersions", "ListEvents"}
)  # fmt: skip


@dataclass
class Calls:
    """API calls by operation, per cloud, over one measured block, counted at the servers."""

    aws: Counter[str] = field(default_factory=Counter)
    oci: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.aws.values()) + sum(self.oci.values())

    @property
    def writes(self) -> int:
        aws = sum(n for op, n in self.aws.items() if op not in AWS_READS)
        return aws + sum(n for op, n in self.oci.items() if op not in OCI_READS)

    def brief(self) -> str:
        parts = [f"aws.{k}={v}" for k, v in sorted(self.aws.items())]
        parts += [f"oci.{k}={v}" for k, v in sorted(self.oci.items())]
        return " ".join(parts) or "none"


def _paged_list_secrets(
    self: Any,
    filters: list[dict[str, Any]],
    max_results: int = moto_secrets.MAX_RESULTS_DEFAULT,
    next_token: str | None = None,
    include_planned_deletion: bool = False,
) -> tuple[list[dict[str, Any]], str | None]:
    """moto's ``list_secrets`` with the same results, describing only the returned page."""
    matching = [
        secret
        for secret in self.secrets.values()
        if not (getattr(secret, "deleted_date", None) and not include_planned_deletion)
        and moto_secrets._matches(secret, filters)
    ]
    start = int(next_token or 0)
    end = start + int(max_results or moto_secrets.MAX_RESULTS_DEFAULT)
    page = [secret.to_dict() for secret in matching[start:end]]
    return page, str(end) if end < len(matching) else None


moto_secrets.SecretsManagerBackend.list_secrets = _paged_list_secrets


class CountingMoto(ThreadedMotoServer):
    """The moto server with every Secrets Manager request counted by operation."""

    def __init__(self) -> None:
        super().__init__(ip_address="127.0.0.1", port=free_port(), verbose=False)
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)

        def counted(environ: dict[str, Any], start_response: Any) -> Any:
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            if target.startswith("secretsmanager."):
                with self._lock:
                    self.calls[target.split(".", 1)[1]] += 1
            return app(environ, start_response)

        self._server = make_server(
            self._ip_address, self._port, counted, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"


class Servers:
    """Moto, ours' OCI emulator (on ``clock``) and the anchors' OCI emulator."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        os.environ.update(AWS_TEST_ENV)  # fake credentials: moto accepts anything
        os.environ.pop("AWS_ENDPOINT_URL", None)
        self.moto = CountingMoto()
        self.moto.start()
        wait_for_port(self.moto._port)
        # moto keeps its state per process, not per server: start every size from empty
        httpx.post(f"{self.moto.url}/moto-api/reset").raise_for_status()
        self.clock = clock
        self.ours = OciEmulator(clock=clock).start()
        self.theirs = OciEmulator().start()
        self.vaults = {id(e): e.create_vault() for e in (self.ours, self.theirs)}

    def close(self) -> None:
        self.ours.stop()
        self.theirs.stop()
        self.moto.stop()

    def vault(self, emu: OciEmulator) -> tuple[str, str]:
        """``(vault_id, key_id)`` of ``emu``'s vault."""
        return self.vaults[id(emu)]

    def boto3(self) -> Any:
        return boto3.client("secretsmanager", region_name=REGION, endpoint_url=self.moto.url)

    def oci_url(self, emu: OciEmulator) -> str:
        vault_id, key_id = self.vault(emu)
        return (
            f"oci-vault://{vault_id}?key={key_id}"
            f"&compartment={emu.compartment_id}&endpoint={emu.endpoint}"
        )

    @contextmanager
    def counting(self, emu: OciEmulator) -> Iterator[Calls]:
        """Calls made inside the block, to moto and to ``emu``, as the servers saw them."""
        aws0, oci0 = Counter(self.moto.calls), Counter(emu.calls)
        calls = Calls()
        try:
            yield calls
        finally:
            calls.aws = Counter(self.moto.calls) - aws0
            calls.oci = Counter(emu.calls) - oci0

    def engine(self, names: list[str], emu: OciEmulator, clock: Clock = SYSTEM_CLOCK) -> SecretSync:
        """A secretsync engine mapping AWS secret ``n`` to OCI secret ``n`` on ``emu``."""
        table = table_from_dict(
            {
                "owner": OWNER,
                "backends": {
                    "aws": f"aws-sm://{REGION}?endpoint_url={self.moto.url}",
                    "oci": self.oci_url(emu),
                },
                "mappings": [
                    {"name": n, "source": {"backend": "aws", "secret": n},
                     "target": {"backend": "oci", "secret": n}}
                    for n in names
                ],
            }
        )  # fmt: skip
        return SecretSync(
            table,
            state=kv.connect("sqlite://", setting=None),
            backend_options={"oci": {"config": emu.sdk_config()}},
            retry=RETRY,
            clock=clock,
            actor="bench",
        )


def parallel(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(fn, items))


def create_sources(servers: Servers, size: int) -> list[str]:
    """``size`` AWS secrets (direct SDK calls, one at a time: moto's creates are not safe
    in parallel); their names."""
    run = uuid.uuid4().hex[:6]
    names = [f"bench-{run}-{i:05d}" for i in range(size)]
    client = servers.boto3()
    for name in names:
        client.create_secret(Name=name, SecretString=f'{{"user":"app","password":"{name}"}}')
    return names


def seed_targets(sync: SecretSync, names: list[str]) -> None:
    """Write every target with the engine's own writer (fed by ``BatchGetSecretValue``), in
    threads: the targets carry the metadata and version names a real sync leaves, and the
    engine's state records them as in sync."""
    aws, target = sync.backends.get("aws"), sync.backends.get("oci")
    by_name = {m.name: m for m in sync.mappings}

    def sync_chunk(chunk: list[str]) -> None:
        values = aws.batch_get_values(chunk)
        for name in chunk:
            outcome = sync.writer.write(by_name[name], target, values[name], reason="seed")
            assert outcome.action == "created", outcome

    parallel(sync_chunk, [names[i : i + 20] for i in range(0, len(names), 20)])


def manual_clock() -> ManualClock:
    """A clock for ours' tenancy that the benchmark moves through a simulated day."""
    return ManualClock(time.time())
