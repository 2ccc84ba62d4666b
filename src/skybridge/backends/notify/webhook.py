"""``webhook+https://host/path``: Slack-compatible JSON (``text`` + ``blocks``) over HTTP(S).

The body works for Slack incoming webhooks and for generic receivers, which can read ``text``
or the skybridge fields under ``skybridge``. A Slack webhook's path is its credential, so the
notifier shows only scheme and host in reprs, errors and logs.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any, ClassVar, Self

import httpx

from skybridge.backends.notify.base import Message, Notifier
from skybridge.core.errors import ConfigError, TerminalError, TransientError
from skybridge.core.secret import Secret
from skybridge.core.urls import BackendURL

_EMOJI = {"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"}
_OWN_PARAMS = frozenset({"dedup_window", "rate", "timeout"})
_MAX_FIELDS = 10  # Slack allows ten fields per section block


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Read a ``Retry-After`` header: delay seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def slack_payload(message: Message) -> dict[str, Any]:
    """The JSON body: Slack ``text`` fallback and ``blocks``, plus the raw fields."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": message.subject()[:150]}},
    ]
    if message.body:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": message.body[:3000]}})
    if message.fields:
        fields = [
            {"type": "mrkdwn", "text": f"*{k}*\n{v}"[:2000]}
            for k, v in list(message.fields.items())[:_MAX_FIELDS]
        ]
        blocks.append({"type": "section", "fields": fields})
    context = f"{_EMOJI[message.severity.value]} {message.context_line()}"
    if message.link:
        context += f" | <{message.link}|open>"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    text = message.subject() + (f"\n{message.body}" if message.body else "")
    return {"text": text, "blocks": blocks, "skybridge": message.as_dict()}


class WebhookNotifier(Notifier):
    """Posts each message as JSON to a webhook URL.

    Args:
        url: The full ``https://`` (or ``http://``) webhook URL.
        timeout: Seconds for connect, write and read.
    """

    url_credentials = True

    scheme = "webhook"
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, url: str, *, timeout: float = 10.0, **base: Any) -> None:
        super().__init__(**base)
        parsed = httpx.URL(url)
        if parsed.scheme not in {"http", "https"} or not parsed.host:
            raise ConfigError("webhook URL needs http(s) and a host", setting="backends.notify")
        self._url = Secret(url)
        self._shown = f"{parsed.scheme}://{parsed.netloc.decode('ascii', 'replace')}"
        self._path = parsed.path
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        base = cls.policy_options(url, options)
        scheme = url.scheme.removeprefix("webhook+")
        query = {
            k: v for k, v in url.params.items() if k not in {"dedup_window", "rate", "timeout"}
        }
        target = f"{scheme}://{url.raw.split('://', 1)[1].split('?', 1)[0]}"
        if query:
            target += f"?{httpx.QueryParams(query)}"
        timeout = float(url.params.get("timeout", options.pop("timeout", 10.0)))
        return cls(target, timeout=timeout, **base, **options)

    def describe(self) -> str:
        return f"webhook+{self._shown}/***"

    def ping(self) -> None:
        """Check the receiver answers HTTP at all (a webhook cannot be probed without posting)."""
        try:
            self._client.head(self._shown)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None

    def close(self) -> None:
        self._client.close()

    def _deliver(self, message: Message) -> str | None:
        try:
            response = self._client.post(self._url.reveal(), json=slack_payload(message))
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        self._check(response)
        request_id: str | None = response.headers.get("x-request-id")
        return request_id

    def _transport_error(self, exc: httpx.HTTPError) -> TransientError:
        return TransientError(f"webhook {self._shown} unreachable: {type(exc).__name__}")

    def _check(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 300:
            return
        # Receivers may echo the request path, which is the credential: never repeat it.
        detail = response.text[:200].strip().replace(self._path, "/***")
        text = f"webhook {self._shown} answered {status}" + (f": {detail}" if detail else "")
        if status in {408, 425, 429} or status >= 500:
            after = retry_after_seconds(response.headers.get("retry-after"))
            raise TransientError(text, retry_after=after)
        hint = (
            "check the webhook URL; it may be wrong or revoked"
            if status in {403, 404, 410}
            else None
        )
        raise TerminalError(text, hint=hint)
