"""smtp:// and smtps:// against a real local SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from skybridge.backends import notify
from skybridge.backends.notify import Notification, Notifier
from skybridge.core.errors import ConfigError, TerminalError
from skybridge.testing.canary import LogWatch, canary_values, watch_logs
from skybridge.testing.contracts.notify import NotifierContract
from skybridge.testing.servers import free_port

USER, PASSWORD = "alerts", "s3cret-Pa55word"

# aiosmtpd warns on each connection that AUTH without TLS is unsafe; a loopback test server is
# exactly where that is fine.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


class Inbox:
    """aiosmtpd handler: keeps accepted mail, can refuse the next RCPT or DATA."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.rcpt_reply: str | None = None
        self.data_reply: str | None = None

    async def handle_RCPT(  # noqa: N802 - aiosmtpd hook name
        self, server: Any, session: Any, envelope: Any, address: str, _: Any
    ) -> str:
        if self.rcpt_reply:  # refuses every recipient until reset
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.data_reply:
            reply, self.data_reply = self.data_reply, None
            return reply
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


def check_login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


def start(inbox: Inbox, **kwargs: Any) -> Controller:
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[tuple[Controller, Inbox]]:
    inbox = Inbox()
    controller = start(inbox, authenticator=check_login, auth_required=True, auth_require_tls=False)
    yield controller, inbox
    controller.stop()


@pytest.fixture
def inbox(smtp_server: tuple[Controller, Inbox]) -> Inbox:
    smtp_server[1].reset()
    return smtp_server[1]


def smtp_url(controller: Controller, password: str = PASSWORD, **params: str) -> str:
    query = "&".join(
        f"{k}={v}"
        for k, v in {
            "from": "sky@example.com",
            "to": "ops@example.com,oncall@example.com",
            **params,
        }.items()
    )
    return f"smtp://{USER}:{password}@127.0.0.1:{controller.port}?{query}"


def as_text(message: EmailMessage) -> str:
    plain = message.get_body(("plain",))
    assert plain is not None
    subject = f"Subject: {message['Subject']}"
    severity = f"X-Severity: {message['X-Skybridge-Severity']}"
    return "\n".join([subject, severity, plain.get_content()])


class TestSmtp(NotifierContract):
    @pytest.fixture
    def notify(
        self, smtp_server: tuple[Controller, Inbox], inbox: Inbox
    ) -> Callable[..., Notifier]:
        def build(clock: object = None, **params: str) -> Notifier:
            return notify.connect(smtp_url(smtp_server[0], **params), clock=clock)

        return build

    @pytest.fixture
    def delivered(self, inbox: Inbox) -> Callable[[], list[str]]:
        return lambda: [as_text(m) for m in inbox.messages]

    @pytest.fixture
    def failing_notify(
        self, smtp_server: tuple[Controller, Inbox], inbox: Inbox
    ) -> Callable[[str], tuple[Notifier, float | None]]:
        def build(kind: str) -> tuple[Notifier, float | None]:
            if kind == "unavailable":
                url = f"smtp://{USER}:{PASSWORD}@127.0.0.1:{free_port()}?to=a@example.com&timeout=2"
                return notify.connect(url), None
            if kind == "throttled":
                inbox.data_reply = "451 4.7.1 Try again later"
            else:
                inbox.rcpt_reply = "550 5.1.1 No such user"
            return notify.connect(smtp_url(smtp_server[0])), None

        return build

    @pytest.fixture
    def credential(self) -> str:
        return PASSWORD

    @pytest.fixture
    def log_canary(self) -> Iterator[LogWatch]:
        # aiosmtpd (the receiving server, part of the test) logs every line it receives.
        with watch_logs(canary_values(), ignore=["mail.log"]) as watch:
            yield watch


def test_message_has_plain_and_html_parts(
    smtp_server: tuple[Controller, Inbox], inbox: Inbox
) -> None:
    notifier = notify.connect(smtp_url(smtp_server[0]))
    delivery = notifier.send(
        Notification(
            title="assertion failed",
            body="orders <-> payments differ",
            severity="critical",
            dedup_key="a1",
            fields={"rows": 3},
        )
    )
    (message,) = inbox.messages
    assert inbox.envelopes == [("sky@example.com", ["ops@example.com", "oncall@example.com"])]
    assert message["Subject"] == "[CRITICAL] assertion failed"
    assert message["From"] == "sky@example.com"
    assert message["To"] == "ops@example.com, oncall@example.com"
    assert message["X-Skybridge-Dedup-Key"] == "a1"
    assert message["Message-ID"] == delivery.message_id
    html = message.get_body(("html",))
    assert html is not None
    assert "orders &lt;-&gt; payments differ" in html.get_content()
    assert "<td>3</td>" in html.get_content()


def test_wrong_password_is_terminal(smtp_server: tuple[Controller, Inbox], inbox: Inbox) -> None:
    notifier = notify.connect(smtp_url(smtp_server[0], password="wrong-Passw0rd"))
    with pytest.raises(TerminalError) as info:
        notifier.send(Notification(title="x"))
    assert "refused the login of 'alerts'" in str(info.value)
    assert "wrong-Passw0rd" not in str(info.value)
    assert inbox.messages == []


def test_ping_logs_in(smtp_server: tuple[Controller, Inbox]) -> None:
    notify.connect(smtp_url(smtp_server[0])).ping()
    with pytest.raises(TerminalError):
        notify.connect(smtp_url(smtp_server[0], password="nope-nope")).ping()


def test_no_recipients_is_config_error() -> None:
    with pytest.raises(ConfigError, match="no recipients"):
        notify.connect("smtp://127.0.0.1:25?from=a@example.com")


def test_default_ports_and_repr() -> None:
    plain = notify.connect("smtp://mail.example.com?to=a@example.com")
    tls = notify.connect("smtp://u:pw-Secret1@mail.example.com?to=a@example.com&starttls=true")
    implicit = notify.connect("smtps://u:pw-Secret1@mail.example.com?to=a@example.com")
    assert repr(plain) == "SmtpNotifier(smtp://mail.example.com:25?to=a@example.com)"
    assert repr(tls) == "SmtpNotifier(smtp://u:***@mail.example.com:587?to=a@example.com)"
    assert repr(implicit) == "SmtpNotifier(smtps://u:***@mail.example.com:465?to=a@example.com)"


# --- TLS: STARTTLS and implicit TLS with a throwaway certificate for 127.0.0.1 -----------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("smtp-tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _contexts(certificate: tuple[Path, Path]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(*certificate)
    client = ssl.create_default_context(cafile=str(certificate[0]))
    return server, client


def test_starttls_delivers_and_untrusted_cert_is_terminal(certificate: tuple[Path, Path]) -> None:
    server_ctx, client_ctx = _contexts(certificate)
    inbox = Inbox()
    controller = start(
        inbox,
        tls_context=server_ctx,
        require_starttls=True,
        authenticator=check_login,
        auth_required=True,
    )
    try:
        url = f"smtp://{USER}:{PASSWORD}@127.0.0.1:{controller.port}?to=a@example.com&starttls=true"
        notify.connect(url, ssl_context=client_ctx).send(Notification(title="over tls"))
        assert inbox.messages[0]["Subject"] == "[INFO] over tls"
        with pytest.raises(TerminalError, match="CERTIFICATE_VERIFY_FAILED"):
            notify.connect(url).send(Notification(title="untrusted"))
    finally:
        controller.stop()


def test_smtps_implicit_tls(certificate: tuple[Path, Path]) -> None:
    server_ctx, client_ctx = _contexts(certificate)
    inbox = Inbox()
    controller = start(inbox, ssl_context=server_ctx)
    try:
        url = f"smtps://127.0.0.1:{controller.port}?to=a@example.com&from=sky@example.com"
        notify.connect(url, ssl_context=client_ctx).send(Notification(title="implicit"))
        assert inbox.messages[0]["Subject"] == "[INFO] implicit"
    finally:
        controller.stop()


def test_partly_refused_recipients_still_deliver(
    smtp_server: tuple[Controller, Inbox], inbox: Inbox
) -> None:
    class PickyInbox(Inbox):
        async def handle_RCPT(  # noqa: N802 - aiosmtpd hook name
            self, server: Any, session: Any, envelope: Any, address: str, _: Any
        ) -> str:
            if address.startswith("oncall"):
                return "550 5.1.1 No such user"
            envelope.rcpt_tos.append(address)
            return "250 OK"

    picky = PickyInbox()
    controller = start(picky)
    try:
        url = f"smtp://127.0.0.1:{controller.port}?to=ops@example.com,oncall@example.com"
        assert notify.connect(url).send(Notification(title="partly")).sent
        assert picky.envelopes[0][1] == ["ops@example.com"]
    finally:
        controller.stop()
