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

from skybridge.backends.notify.base import Message, Notifier
from skybridge.core.errors import ConfigError, SkybridgeError, TerminalError, TransientError
from skybridge.core.urls import BackendURL

_MAX_BODY_BYTES = 64 * 1024  # documented per-message limit
_MAX_TITLE = 255
_AUTH_MODES = ("config", "instance_principal", "resource_principal")


def _client_args(
    auth: str, config: dict[str, Any] | None, profile: str | None, config_file: str | None
) -> tuple[dict[str, Any], Any]:
    """The oci config dict and signer (``None``: sign with the config's API key)."""
    try:
        if auth == "instance_principal":
            signer = oci.auth.signers.InstancePrincipalsSecurityTokenSigner()
            return {"region": signer.region}, signer
        if auth == "resource_principal":
            signer = oci.auth.signers.get_resource_principals_signer()
            return {"region": signer.region}, signer
        if config is None:
            location = config_file or oci.config.DEFAULT_LOCATION
            config = oci.config.from_file(location, profile or oci.config.DEFAULT_PROFILE)
        oci.config.validate_config(config)
        return dict(config), None
    except (oci.exceptions.ClientError, OSError, ValueError, KeyError) as exc:
        raise ConfigError(
            f"no usable OCI credentials for oci-ons ({auth}): {type(exc).__name__}: {exc}",
            setting="backends.notify",
            hint="pass config=, ?profile=NAME or ?auth=instance_principal|resource_principal",
        ) from None


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
                setting="backends.notify",
                hint="write oci-ons://ocid1.onstopic.oc1.<region>.<id>",
            )
        if auth not in _AUTH_MODES:
            raise ConfigError(
                f"oci-ons auth must be one of {', '.join(_AUTH_MODES)}", setting="backends.notify"
            )
        self.topic_id = topic_id
        cfg, signer = _client_args(auth, config, profile, config_file)
        if region:
            cfg["region"] = region
        kwargs: dict[str, Any] = {
            "retry_strategy": oci.retry.NoneRetryStrategy(),
            "timeout": (timeout, timeout),
        }
        if endpoint:
            kwargs["service_endpoint"] = endpoint
        if signer is not None:
            kwargs["signer"] = signer
        self._client = oci.ons.NotificationDataPlaneClient(cfg, **kwargs)
        self._control = oci.ons.NotificationControlPlaneClient(cfg, **kwargs)

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
        except OSError as exc:  # the SDK's request errors are OSErrors
            raise TransientError(f"OCI Notifications unreachable: {type(exc).__name__}") from None

    def _translate(self, exc: Any) -> SkybridgeError:
        status, code = int(exc.status), str(exc.code)
        text = f"OCI Notifications {status} {code} on {self.topic_id}: {exc.message}"
        if status == 429 or status >= 500:
            after = (exc.headers or {}).get("retry-after")
            return TransientError(text, retry_after=float(after) if after else None)
        hints = {
            401: "the request signature was refused: check the API key or principal",
            404: "the topic does not exist, or the principal may not publish to it",
        }
        return TerminalError(text, hint=hints.get(status))
