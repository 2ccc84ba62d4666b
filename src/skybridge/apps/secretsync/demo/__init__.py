"""``skybridge up --demo``: a local-to-local mapping table that syncs live.

:func:`seed_demo` writes ``<demo_dir>/secretsync.toml`` (three mappings from
``local://<demo_dir>/source-secrets`` to ``local://<demo_dir>/target-secrets``), creates the
demo source secrets with random values, syncs them once and leaves a marker file. While the
service runs, :class:`LiveDemo` (started by the routes' lifespan when the marker is there)
rotates one source secret every ``SKYBRIDGE__SECRETSYNC__DEMO_ROTATE_EVERY`` seconds (30 by
default), publishes the change to ``secretsync.events`` and runs the events pipeline, so the
dashboard shows versions moving. Values are random demo strings.
"""

from __future__ import annotations

import itertools
import json
import threading
from pathlib import Path
from secrets import token_hex, token_urlsafe
from typing import TYPE_CHECKING

from skybridge.apps.secretsync.loading import load_table
from skybridge.apps.secretsync.pipeline import build_pipeline, publish_change
from skybridge.apps.secretsync.service import TABLE_FILE, load_config, open_service
from skybridge.backends import streams
from skybridge.backends.secrets.local import LocalSecretStore
from skybridge.core.errors import NotFound
from skybridge.core.observability import get_logger
from skybridge.core.secret import Secret

if TYPE_CHECKING:
    from skybridge.apps.secretsync.pipeline import SecretSyncPipeline
    from skybridge.core.config import Settings

log = get_logger(__name__)
MARKER = "secretsync-demo.json"
SOURCE_DIR = "source-secrets"
TARGET_DIR = "target-secrets"
TEMPLATE = Path(__file__).parent / "secretsync.toml"
SECRETS = ("demo/db-password", "demo/api-key", "demo/webhook")


def demo_value(secret: str) -> str:
    """A fresh random value for one of the demo secrets."""
    if secret == SECRETS[0]:
        doc = {"username": "orders_app", "password": token_urlsafe(18), "host": "db.demo.local"}
        return json.dumps(doc)
    if secret == SECRETS[2]:
        return json.dumps({"url": "https://hooks.demo.local/T0", "token": token_hex(16)})
    return f"demo-key-{token_urlsafe(24)}"


def seed_demo(settings: Settings) -> None:
    """Write the demo table and source secrets, sync once, mark the folder as a live demo.

    Idempotent: existing demo secrets keep their values; the sync changes nothing then.
    """
    root = Path(settings.data_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    table_path = root / TABLE_FILE
    table_path.write_text(TEMPLATE.read_text().replace("{root}", str(root)))
    with LocalSecretStore(root / SOURCE_DIR) as source:
        for secret in SECRETS:
            try:
                source.describe(secret)
            except NotFound:
                source.create(secret, Secret(demo_value(secret)))
    with open_service(settings, table=load_table(table_path)) as service:
        service.engine.reconcile()
    (root / MARKER).write_text(json.dumps({"table": str(table_path)}))


def is_demo(settings: Settings) -> bool:
    return (Path(settings.data_dir) / MARKER).is_file()


class LiveDemo:
    """Rotates demo secrets and runs the events pipeline in threads until :meth:`stop`."""

    def __init__(self, settings: Settings, *, every: float | None = None) -> None:
        self.settings = settings
        self.every = every if every is not None else load_config().demo_rotate_every
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.pipeline: SecretSyncPipeline | None = None
        self.rotations = 0

    def start(self) -> None:
        self.pipeline = build_pipeline(self.settings, schedule=True, poll_timeout=0.25)
        for name, target in (("pipeline", self._run_pipeline), ("rotator", self._rotate)):
            thread = threading.Thread(target=target, name=f"secretsync-demo-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run_pipeline(self) -> None:
        assert self.pipeline is not None
        try:
            self.pipeline.run()
        except Exception as exc:  # the demo must never take the service down
            log.warning("secretsync.demo_pipeline_stopped", error=type(exc).__name__)

    def _rotate(self) -> None:
        root = Path(self.settings.data_dir).resolve()
        with open_service(self.settings, table=load_table(root / TABLE_FILE)) as service:
            url, topic = service.streams_url, service.events_topic
        with (
            LocalSecretStore(root / SOURCE_DIR) as source,
            streams.connect(url, setting="secretsync.streams") as backend,
        ):
            for secret in itertools.cycle(SECRETS):
                if self._stop.wait(self.every):
                    return
                try:
                    version = source.put_value(secret, Secret(demo_value(secret)))
                    publish_change(backend, topic, secret, version.version_id)
                    self.rotations += 1
                except Exception as exc:  # keep rotating; the next tick may work
                    log.warning("secretsync.demo_rotation_failed", error=type(exc).__name__)

    def stop(self) -> None:
        self._stop.set()
        if self.pipeline is not None:
            self.pipeline.stop()
        for thread in self._threads:
            thread.join(timeout=10)
