"""TokenStore, session signing and the session secret file."""

from __future__ import annotations

import stat
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from skybridge.auth.tokens import Principal, TokenStore, hash_token
from skybridge.backends.sql import create_sql_engine
from skybridge.core.clock import ManualClock
from skybridge.core.config import Settings
from skybridge.core.errors import ConfigError, Conflict, NotFound, ValidationError
from skybridge.server import session as session_module
from skybridge.server.session import Session, Signer, load_session_secret


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock) -> TokenStore:
    engine = create_sql_engine(f"sqlite:///{tmp_path}/tokens.db")
    return TokenStore(engine, admin_token=SecretStr("the-admin-token-value"), clock=clock)


def test_create_returns_a_256_bit_token_and_stores_its_hash(store: TokenStore) -> None:
    info, token = store.create("ci")
    value = token.reveal()
    assert value.startswith("sbk_")
    assert len(value) == 4 + 43
    assert info.prefix == value[:12]
    assert repr(token) == "Secret('***')"
    assert store.verify(value) is not None
    assert store.verify(value[:-1] + ("A" if value[-1] != "A" else "B")) is None
    assert hash_token(value) == token.sha256()


def test_tokens_are_distinct(store: TokenStore) -> None:
    values = {store.create(f"t{i}")[1].reveal() for i in range(20)}
    assert len(values) == 20


def test_revoked_tokens_are_rejected_and_names_stay_reserved(store: TokenStore) -> None:
    _, token = store.create("ci")
    store.revoke("ci")
    assert store.verify(token.reveal()) is None
    with pytest.raises(NotFound):
        store.revoke("ci")
    with pytest.raises(Conflict):
        store.create("ci")
    store.delete("ci")
    store.create("ci")


def test_last_used_is_recorded_at_most_once_a_minute(store: TokenStore, clock: ManualClock) -> None:
    _, token = store.create("ci")
    assert store.get("ci").last_used_at is None
    store.verify(token.reveal())
    first = store.get("ci").last_used_at
    assert first is not None
    clock.advance(30)
    store.verify(token.reveal())
    assert store.get("ci").last_used_at == first
    clock.advance(31)
    store.verify(token.reveal())
    assert store.get("ci").last_used_at > first  # type: ignore[operator]


def test_admin_token_is_accepted_without_a_row(store: TokenStore) -> None:
    principal = store.verify("the-admin-token-value")
    assert principal is not None
    assert principal.kind == "admin"
    assert store.list() == []


@given(st.text(max_size=80))
def test_only_well_formed_names_are_accepted(name: str) -> None:
    import re

    well_formed = re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name) is not None
    engine = create_sql_engine("sqlite://")
    store = TokenStore(engine)
    try:
        store.create(name)
    except ValidationError:
        assert not well_formed
    else:
        assert well_formed


def test_signer_rejects_tampering_other_purposes_and_expiry() -> None:
    clock = ManualClock()
    signer = Signer(b"k" * 32, clock=clock)
    value = signer.dumps("session", {"sub": "ci"})
    assert signer.loads("session", value, max_age=60) == {"sub": "ci", "iat": int(clock.now())}
    assert signer.loads("login", value, max_age=60) is None
    assert Signer(b"x" * 32, clock=clock).loads("session", value, max_age=60) is None
    assert signer.loads("session", value + "x", max_age=60) is None
    assert signer.loads("session", "garbage", max_age=60) is None
    clock.advance(61)
    assert signer.loads("session", value, max_age=60) is None


def test_session_secret_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first = load_session_secret(settings)
    path = tmp_path / "data" / "session_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 64
    assert load_session_secret(settings) == first


def test_configured_session_secret_is_used(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, server={"session_secret": "a-configured-secret-value"})
    assert load_session_secret(settings) == b"a-configured-secret-value"
    assert not (tmp_path / "session_secret").exists()


@pytest.mark.parametrize("content", ["", "\n", "abc123"])
def test_an_empty_or_short_session_secret_file_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "session_secret"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_session_secret(Settings(data_dir=tmp_path))
    assert info.value.setting == "server.session_secret"
    assert f"delete {path}" in str(info.value)


def test_concurrent_first_starts_all_get_the_same_full_secret(tmp_path: Path) -> None:
    for attempt in range(10):
        settings = Settings(data_dir=tmp_path / f"data{attempt}")
        barrier = threading.Barrier(8)

        def load(settings: Settings = settings, barrier: threading.Barrier = barrier) -> bytes:
            barrier.wait()
            return load_session_secret(settings)

        with ThreadPoolExecutor(8) as pool:
            secrets = list(pool.map(lambda _: load(), range(8)))
        assert len(secrets[0]) == 64
        assert set(secrets) == {secrets[0]}
        assert [p.name for p in settings.data_dir.iterdir()] == ["session_secret"]


def test_concurrent_processes_all_get_the_same_full_secret(tmp_path: Path) -> None:
    code = (
        "import sys; from skybridge.core.config import Settings; "
        "from skybridge.server.session import load_session_secret; "
        "print(load_session_secret(Settings(data_dir=sys.argv[1])).decode())"
    )
    for attempt in range(3):
        data = tmp_path / f"data{attempt}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(data)], stdout=subprocess.PIPE, text=True
            )
            for _ in range(4)
        ]
        outputs = {proc.communicate(timeout=60)[0].strip() for proc in procs}
        assert all(proc.returncode == 0 for proc in procs)
        assert len(outputs) == 1
        assert len(outputs.pop()) == 64


def test_the_admin_token_name_is_reserved(store: TokenStore) -> None:
    for name in ("server.admin_token", "Server.Admin_Token"):
        with pytest.raises(ValidationError, match="reserved"):
            store.create(name)
    assert store.list() == []


def test_a_session_fingerprint_is_keyed_and_not_the_token_hash() -> None:
    digest = hash_token("sbk_some-token")
    fingerprint = Signer(b"k" * 32).fingerprint(digest)
    assert len(fingerprint) == 16
    assert fingerprint not in digest
    assert Signer(b"x" * 32).fingerprint(digest) != fingerprint
    assert Signer(b"k" * 32).fingerprint(hash_token("sbk_other")) != fingerprint


@pytest.mark.parametrize("value", ["é.abc", "abc.é", "\u2603"])
def test_signer_treats_non_ascii_values_as_invalid(value: str) -> None:
    assert Signer(b"k" * 32).loads("session", value, max_age=60) is None


def test_csrf_check_accepts_any_submitted_text() -> None:
    session = Session.start(Principal("ci", "token", 1), None)
    assert not session.csrf_ok("é")
    assert not session.csrf_ok("")
    assert session.csrf_ok(session.csrf)


def test_the_secret_file_appears_only_once_fully_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "session_secret"
    real = session_module.secrets.token_hex

    def token_hex(nbytes: int) -> str:
        assert not path.exists(), "the secret file is visible before its content is written"
        return real(nbytes)

    monkeypatch.setattr(session_module.secrets, "token_hex", token_hex)
    assert len(load_session_secret(Settings(data_dir=tmp_path))) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_tokens_table_records_its_version_and_refuses_a_newer_one(tmp_path: Path) -> None:
    from sqlalchemy import text

    from skybridge.backends.sql_schema import component_version

    engine = create_sql_engine(f"sqlite:///{tmp_path}/service.db")
    TokenStore(engine).list()
    assert component_version(engine, "api-tokens") == 1
    with engine.begin() as conn:
        conn.execute(text("UPDATE skybridge_schema SET version = 4 WHERE component = 'api-tokens'"))
    with pytest.raises(ConfigError, match="holds api-tokens tables of a newer skybridge") as caught:
        TokenStore(engine).list()
    assert "service.db" in caught.value.message
    assert "schema version 4; this version reads up to 1" in caught.value.message
