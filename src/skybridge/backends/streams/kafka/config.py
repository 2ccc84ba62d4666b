"""``kafka://`` URLs to librdkafka settings, with the SASL password kept a :class:`Secret`.

``kafka://host:9092[,host2:9092]?security_protocol=SASL_SSL&sasl_mechanism=PLAIN&
sasl_username=..&sasl_password=..&idempotence=false`` covers Kafka, MSK and OCI Streaming's
Kafka API (OCI: username ``tenancy/user/streampool-ocid``, an auth token as password, and
``idempotence=false`` because OCI has no idempotent producer).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from skybridge.core.errors import ConfigError
from skybridge.core.secret import Secret
from skybridge.core.urls import BackendURL

#: Consumer settings, also accepted on the URL; kept out of producer and admin configs.
_CONSUMER_ONLY = (
    "fetch.min.bytes",
    "fetch.wait.max.ms",
    "fetch.max.bytes",
    "max.partition.fetch.bytes",
    "queued.min.messages",
    "queued.max.messages.kbytes",
    "fetch.queue.backoff.ms",
)

#: URL parameters copied to librdkafka settings as given (``linger_ms`` -> ``linger.ms``).
_PASSTHROUGH = (
    "security_protocol",
    "sasl_mechanism",
    "sasl_username",
    "ssl_ca_location",
    "client_id",
    "linger_ms",
    "batch_size",
    "batch_num_messages",
    "compression_type",
    "acks",
    "message_max_bytes",
    *(key.replace(".", "_") for key in _CONSUMER_ONLY),
)

#: Milliseconds the fetcher pauses when the local queue is full (``queued.min.messages`` per
#: partition). librdkafka's default of 1000 ms stalls a consumer that drains its queue in less:
#: on a local broker it caps a bare consumer at about 130k events/s, where 10 ms gives over 900k.
CONSUMER_QUEUE_BACKOFF_MS = 10


@dataclass(frozen=True)
class KafkaSettings:
    """Connection settings; ``password`` never leaves as plain text except into librdkafka."""

    bootstrap: str
    common: dict[str, str] = field(default_factory=dict)
    password: Secret[str] | None = None
    idempotence: bool = True
    session_timeout: float = 10.0
    heartbeat_interval: float = 1.0
    replication_factor: int = -1

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> KafkaSettings:
        netloc = url.rest.split("/", 1)[0]
        bootstrap = netloc.rsplit("@", 1)[-1]
        if not bootstrap:
            raise ConfigError("kafka:// needs host:port of at least one broker")
        common = {
            key.replace("_", "."): value for key, value in url.params.items() if key in _PASSTHROUGH
        }
        password = url.params.get("sasl_password") or url.password
        if url.username and "sasl.username" not in common:
            common["sasl.username"] = url.username
        extra = options.pop("config", None) or {}
        common.update({str(k): str(v) for k, v in extra.items()})
        return cls(
            bootstrap=bootstrap,
            common=common,
            password=Secret(password) if password else None,
            idempotence=url.flag("idempotence", default=options.pop("idempotence", True)),
            session_timeout=float(
                url.params.get("session_timeout", options.pop("session_timeout", 10.0))
            ),
            heartbeat_interval=float(
                url.params.get("heartbeat_interval", options.pop("heartbeat_interval", 1.0))
            ),
            replication_factor=int(url.params.get("replication_factor", -1)),
        )

    def client_config(self) -> dict[str, Any]:
        """Settings every client (producer, consumer, admin) shares."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap,
            "logger": LIBRDKAFKA_LOG,
            **self.common,
        }
        if self.password is not None:
            config["sasl.password"] = self.password.reveal()
        return config

    def producer_config(self) -> dict[str, Any]:
        config = self.client_config()
        for key in _CONSUMER_ONLY:
            config.pop(key, None)
        config.setdefault("linger.ms", "5")
        config.setdefault("acks", "all")
        # murmur2 like the Java client, so keys land on the same partition as other clients.
        config["partitioner"] = "murmur2_random"
        config["enable.idempotence"] = self.idempotence
        return config

    def consumer_config(self, group: str, start: str) -> dict[str, Any]:
        config = self.client_config()
        for key in _PRODUCER_ONLY:
            config.pop(key, None)
        config.setdefault("fetch.queue.backoff.ms", CONSUMER_QUEUE_BACKOFF_MS)
        config.update(
            {
                "group.id": group,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": start,
                "session.timeout.ms": int(self.session_timeout * 1000),
                "heartbeat.interval.ms": int(self.heartbeat_interval * 1000),
            }
        )
        return config

    def admin_config(self) -> dict[str, Any]:
        config = self.client_config()
        for key in (*_PRODUCER_ONLY, *_CONSUMER_ONLY):
            config.pop(key, None)
        return config

    def __repr__(self) -> str:
        return f"KafkaSettings(bootstrap={self.bootstrap!r}, idempotence={self.idempotence})"


_PRODUCER_ONLY = (
    "linger.ms",
    "batch.size",
    "batch.num.messages",
    "compression.type",
    "acks",
)


class LibrdkafkaLog:
    """Where librdkafka's own log lines go: DEBUG records of the ``skybridge.kafka.librdkafka``
    logger (shown with ``--log-level DEBUG``). Otherwise an unreachable broker prints dozens of
    lines while the backend already reports the failure, named, through its errors."""

    def __init__(self) -> None:
        self.logger = logging.getLogger("skybridge.kafka.librdkafka")

    def log(self, level: int, message: str, *args: Any) -> None:
        self.logger.debug(message, *args, extra={"librdkafka_level": level})


LIBRDKAFKA_LOG = LibrdkafkaLog()
