"""``oci-ons://<topic-ocid>?region=..&endpoint=..``: OCI Notifications ``PublishMessage``.

Credentials, in order: the ``config=`` option (an oci config dict), ``?auth=instance_principal``
or ``?auth=resource_principal``, else the profile ``?profile=`` (default ``DEFAULT``) of
``?config_file=`` (default ``~/.oci/config``). The SDK's own retries are off so
:mod:`skybridge.core.retry` sees every 429 and 5xx.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Self

import oci

from skybridge.backends.cloud.oci import (
    build_oci_client,
    is_transient,
    resolve_oci_credentials,
    retry_after,
    translate_client_side_error,
)
from skybridge.backends.notify.base import Message, Notifier
from skybridge.core.errors import ConfigError, SkybridgeError, TerminalError, TransientError
from skybridge.core.urls import BackendURL

_MAX_BODY_BYTES = 64 * 1024  # documented per-message limit
_MAX_TITLE = 255
_SETTING = "backends.notify"


class OciOnsNotifier(Notifier):
    """Publishes each message to an OCI Notifications topic.

    Args:
        topic_id: The topic's OCID.
        region: Overrides the region of the credentials.
        endpoint: Another service endpoint (the skybridge OCI emulator in tests).
        auth: ``config`` (API key), ``instance_principal`` or ``resource_principal``.
        config: An oci config dict (``user``, ``tenancy``, ``fingerprint``, ``key_content``...).
        profile: Profile name in the OCI config file.
        config_file: Path of the OCI config file.
        timeout: Connect and read timeout in seconds.
    """

    scheme = "oci-ons"
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self,
        topic_id: str,
        *,
        region: str | None = None,
        endpoint: str | None = None,
        auth: str = "config",
        config: dict[str, Any] | None = None,
        profile: str | None = None,
        config_file: str | None = None,
        timeout: float = 10.0,
        **base: Any,
    ) -> None:
        super().__init__(**base)
        if not topic_id.startswith("ocid1.onstopic."):
            raise ConfigError(
                f"'{topic_id}' is not a Notifications topic OCID",
                setting=_SETTING,
                hint="write oci-ons://ocid1.onstopic.oc1.<region>.<id>",
            )
        self.topic_id = topic_id
        params = {"auth": auth, "profile": profile, "config_file": config_file, "region": region}
        credentials = resolve_oci_credentials(params, config, setting=_SETTING)
        clients = (oci.ons.NotificationDataPlaneClient, oci.ons.NotificationControlPlaneClient)
        self._client, self._control = (
            build_oci_client(
                cls, credentials, setting=_SETTING, endpoint=endpoint, timeout=(timeout, timeout)
            )
            for cls in clients
        )

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        base = cls.policy_options(url, options)
        params = url.params
        for name in ("region", "endpoint", "auth", "profile", "config_file"):
            if name in params:
                options[name] = params[name]
        if "timeout" in params:
            options["timeout"] = float(params["timeout"])
        return cls(url.rest, **base, **options)

    def describe(self) -> str:
        return f"oci-ons://{self.topic_id}"

    def ping(self) -> None:
        """Read the topic (control plane GetTopic)."""
        self._call(lambda: self._control.get_topic(self.topic_id))

    def _deliver(self, message: Message) -> str | None:
        body = message.plain_text().encode("utf-8")[:_MAX_BODY_BYTES].decode("utf-8", "ignore")
        details = oci.ons.models.MessageDetails(title=message.subject()[:_MAX_TITLE], body=body)
        response = self._call(
            lambda: self._client.publish_message(self.topic_id, details, message_type="RAW_TEXT")
        )
        return str(response.data.message_id)

    def _call(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except oci.exceptions.ServiceError as exc:
            raise self._translate(exc) from None
        except Exception as exc:
            unreachable = "OCI Notifications unreachable"
            error = translate_client_side_error(exc, unreachable=unreachable, setting=_SETTING)
            if error is not None:
                raise error from None
            if isinstance(exc, OSError):
                raise TransientError(f"{unreachable}: {type(exc).__name__}") from None
            raise

    def _translate(self, exc: Any) -> SkybridgeError:
        status, code = int(exc.status), str(exc.code)
        text = f"OCI Notifications {status} {code} on {self.topic_id}: {exc.message}"
        if is_transient(exc):
            return TransientError(text, retry_after=retry_after(exc.headers))
        hints = {
            401: "the request signature was refused: check the API key or principal",
            404: "the topic does not exist, or the principal may not publish to it",
        }
        return TerminalError(text, hint=hints.get(status))
