"""TokenStore, session signing and the session secret file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from skybridge.auth.tokens import TokenStore, hash_token
from skybridge.backends.sql import create_sql_engine
from skybridge.core.clock import ManualClock
from skybridge.core.config import Settings
from skybridge.core.errors import Conflict, NotFound, ValidationError
from skybridge.server.session import Signer, load_session_secret


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
