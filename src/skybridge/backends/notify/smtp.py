"""``smtp://user:pass@host:587?from=..&to=a@x,b@y&starttls=true`` and ``smtps://`` (implicit TLS).

Each message is an email with a plain-text part and a simple HTML alternative. SMTP replies map
onto the error tree by their class: 4xx and dropped connections are transient, 5xx and refused
logins are terminal.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, ClassVar, Self

from skybridge.backends.notify.base import Message, Notifier
from skybridge.core.errors import ConfigError, SkybridgeError, TerminalError, TransientError
from skybridge.core.observability import get_logger
from skybridge.core.secret import Secret
from skybridge.core.urls import BackendURL

log = get_logger(__name__)


class SmtpNotifier(Notifier):
    """Sends each message as an email.

    Args:
        host: SMTP server.
        port: Its port (default 25, 587 with STARTTLS, 465 for ``smtps``).
        sender: The ``From`` address.
        recipients: The ``To`` addresses.
        username: Login name, if the server needs one.
        password: Login password.
        tls: ``"none"``, ``"starttls"`` or ``"implicit"`` (``smtps://``).
        timeout: Socket timeout in seconds.
        ssl_context: Context for TLS (default: system trust store, hostname checked).
    """

    url_credentials = True

    scheme = "smtp"
    capabilities: ClassVar[frozenset[str]] = frozenset({"html"})

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        recipients: list[str],
        username: str | None = None,
        password: Secret[str] | None = None,
        tls: str = "none",
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        **base: Any,
    ) -> None:
        super().__init__(**base)
        if not recipients:
            raise ConfigError(
                "smtp notifier has no recipients",
                setting="backends.notify",
                hint="add ?to=ops@example.com,oncall@example.com to the URL",
            )
        self.host, self.port, self.tls, self.timeout = host, port, tls, timeout
        self.sender, self.recipients = sender, recipients
        self.username, self._password = username, password
        self._ssl_context = ssl_context

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        base = cls.policy_options(url, options)
        implicit = url.scheme == "smtps"
        starttls = url.flag("starttls")
        tls = "implicit" if implicit else "starttls" if starttls else "none"
        port = url.port or (465 if implicit else 587 if starttls else 25)
        recipients = [a.strip() for a in url.params.get("to", "").split(",") if a.strip()]
        return cls(
            url.host or "localhost",
            port,
            sender=url.params.get("from") or url.username or "skybridge@localhost",
            recipients=recipients,
            username=url.username,
            password=Secret(url.password) if url.password else None,
            tls=tls,
            timeout=float(url.params.get("timeout", options.pop("timeout", 30.0))),
            **base,
            **options,
        )

    def describe(self) -> str:
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        user = f"{self.username}:***@" if self._password else ""
        return f"{scheme}://{user}{self.host}:{self.port}?to={','.join(self.recipients)}"

    def ping(self) -> None:
        """Connect, negotiate TLS and log in, without sending anything."""
        self._with_session(lambda s: s.noop())

    def _deliver(self, message: Message) -> str | None:
        email = self._compose(message)
        refused: dict[str, Any] = {}
        self._with_session(lambda s: refused.update(s.send_message(email)))
        if refused:
            # Some recipients got it; the rest are named so someone can fix the address list.
            log.warning("smtp recipients refused", host=self.host, refused=sorted(refused))
        return str(email["Message-ID"])

    def _compose(self, message: Message) -> EmailMessage:
        email = EmailMessage()
        email["Subject"] = message.subject()
        email["From"] = self.sender
        email["To"] = ", ".join(self.recipients)
        email["Date"] = formatdate(self.clock.now(), localtime=False)
        email["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        email["X-Skybridge-Severity"] = message.severity.value
        if message.dedup_key:
            email["X-Skybridge-Dedup-Key"] = message.dedup_key
        email.set_content(message.plain_text())
        email.add_alternative(message.html(), subtype="html")
        return email

    def _open(self) -> smtplib.SMTP:
        context = self._ssl_context or ssl.create_default_context()
        if self.tls == "implicit":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        session = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.tls == "starttls":
            session.starttls(context=context)
        return session

    def _with_session(self, action: Callable[[smtplib.SMTP], object]) -> None:
        try:
            with self._open() as session:
                if self.username and self._password:
                    session.login(self.username, self._password.reveal())
                action(session)
        except SkybridgeError:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            raise self._translate(exc) from None

    def _translate(self, exc: Exception) -> SkybridgeError:
        where = f"smtp server {self.host}:{self.port}"
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return TerminalError(
                f"{where} refused the login of '{self.username}' ({exc.smtp_code})",
                hint="check the user and password in the notify URL",
            )
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            codes = [code for code, _ in exc.recipients.values()]
            refused = ", ".join(sorted(exc.recipients))
            text = f"{where} refused recipients {refused} ({codes})"
            if all(400 <= c < 500 for c in codes):
                return TransientError(text)
            return TerminalError(text)
        if isinstance(exc, smtplib.SMTPResponseException):
            reply = (
                exc.smtp_error.decode("utf-8", "replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            text = f"{where} answered {exc.smtp_code}: {reply[:200]}"
            if 400 <= exc.smtp_code < 500:
                return TransientError(text)
            return TerminalError(text)
        if isinstance(exc, smtplib.SMTPNotSupportedError | ssl.SSLCertVerificationError):
            return TerminalError(f"{where}: {exc}")
        return TransientError(f"{where} unreachable: {type(exc).__name__}: {exc}")
