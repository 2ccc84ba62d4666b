"""``skybridge up --demo``: a local-to-local mapping table that syncs live.

:func:`seed_demo` writes ``<data_dir>/secretsync.toml`` (three mappings from
``local://<data_dir>/source-secrets`` to ``local://<data_dir>/target-secrets``), creates the
demo source secrets with random values and syncs them once, so the plain CLI in the same
directory (``skybridge secrets status``) sees what the dashboard shows. While the service runs,
the demo service :func:`rotate_secrets` rotates one source secret every ``[secretsync]
demo_rotate_every`` seconds (30 by default) and publishes the change to ``secretsync.events``;
the app's events pipeline (run by ``skybridge up``) syncs it, so versions move on the dashboard.
Values are random demo strings.
"""

from __future__ import annotations

import itertools
import json
import threading
import tomllib
from pathlib import Path
from secrets import token_hex, token_urlsafe
from typing import Any

from skybridge.apps.secretsync.loading import load_table
from skybridge.apps.secretsync.pipeline import ensure_topics, publish_change
from skybridge.apps.secretsync.service import TABLE_FILE, Context, open_service
from skybridge.backends import secrets, streams
from skybridge.backends.secrets import SecretStore
from skybridge.core.errors import NotFound, SkybridgeError
from skybridge.core.observability import get_logger
from skybridge.core.private_files import private_dir
from skybridge.core.secret import Secret

log = get_logger(__name__)
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


def source_store(root: Path) -> SecretStore:
    """The demo's source secret store (the table's ``demo-source`` backend)."""
    return secrets.connect(f"local://{root / SOURCE_DIR}", setting="secretsync.demo-source")


def seed_demo(ctx: Context) -> None:
    """Write the demo table and source secrets and sync once.

    Idempotent: existing demo secrets keep their values; the sync changes nothing then.
    """
    root = private_dir(ctx.data_dir.resolve())
    table_path = root / TABLE_FILE
    text = TEMPLATE.read_text().replace("{root}", str(root))
    if not table_path.is_file():
        table_path.write_text(text)
    elif table_path.read_text() != text:
        if _demo_written(table_path.read_text()):  # an older demo's, or another folder's
            table_path.write_text(text)
        else:
            log.warning(
                "secretsync.demo_table_kept",
                table=str(table_path),
                reason="it holds mappings or backends the demo did not write",
            )
    with source_store(root) as source:
        for secret in SECRETS:
            try:
                source.describe(secret)
            except NotFound:
                source.create(secret, Secret(demo_value(secret)))
    with open_service(ctx, table=load_table(table_path)) as service:
        service.engine.reconcile()


def _demo_written(text: str) -> bool:
    """Whether ``text`` is a mapping table as a demo wrote it: the demo's mappings and
    backends by name, nothing more (a table someone added to is theirs, and is kept)."""
    try:
        found = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False
    demo = tomllib.loads(TEMPLATE.read_text())

    def names(doc: dict[str, Any]) -> tuple[set[str], set[str]]:
        mappings = doc.get("mappings")
        listed = mappings if isinstance(mappings, list) else []
        backends = doc.get("backends")
        return (
            {str(m.get("name")) for m in listed if isinstance(m, dict)},
            set(backends) if isinstance(backends, dict) else set(),
        )

    return names(found) == names(demo) and found.get("owner") == demo.get("owner")


def rotate_secrets(ctx: Context, stop: threading.Event) -> None:
    """Demo service: rotate the demo source secrets in turn and announce each change."""
    root = ctx.data_dir.resolve()
    topic = ctx.config.events_topic
    with (
        source_store(root) as source,
        streams.connect(ctx.backend_url("streams"), setting="backends.streams") as backend,
    ):
        ensure_topics(backend, topic)
        for secret in itertools.cycle(SECRETS):
            if stop.wait(ctx.config.demo_rotate_every):
                return
            try:
                version = source.put_value(secret, Secret(demo_value(secret)))
                publish_change(backend, topic, secret, version.version_id)
            except SkybridgeError as exc:  # keep rotating; the next tick may work
                log.warning("secretsync.demo_rotation_failed", error=type(exc).__name__)
