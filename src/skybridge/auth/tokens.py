"""API tokens: ``sbk_<43 url-safe chars>`` (256 random bits), stored only as a SHA-256 hash.

A salt adds nothing for 256-bit random values (no dictionary to precompute), so the hash is
plain SHA-256 and can be looked up directly. Besides the hash only a short prefix is kept, to
tell tokens apart in listings. The raw token is returned once, by :meth:`TokenStore.create`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import SecretStr
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from skybridge.auth.scopes import LEGACY_GRANT, format_grant, parse_grant
from skybridge.backends.sql_schema import versioned
from skybridge.core.clock import SYSTEM_CLOCK, Clock
from skybridge.core.errors import Conflict, NotFound, TransientError, ValidationError
from skybridge.core.observability import get_logger
from skybridge.core.secret import Secret
from skybridge.core.urls import mask_url

log = get_logger(__name__)

TOKEN_PREFIX = "sbk_"  # noqa: S105 - a marker, not a credential
ADMIN_PRINCIPAL = "server.admin_token"
ADMIN_GRANT = frozenset({"admin"})
_PREFIX_CHARS = 8  # random characters kept for display: 48 of 256 bits
#: Allowed token names, as a JSON-schema pattern (anchored; checked with ``fullmatch`` here).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_NAME = re.compile(NAME_PATTERN[1:-1])
_TOUCH_EVERY = 60.0  # seconds between last_used_at writes for one token

#: The version of the tokens table (see :mod:`skybridge.backends.sql_schema`): 1 has scopes.
SCHEMA_VERSION = 1
metadata = MetaData()
tokens_table = Table(
    "skybridge_api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    #: Roles and scopes, space-separated; NULL for tokens made before scopes (= admin).
    Column("scopes", String(2000), nullable=True),
)


def new_token() -> Secret[str]:
    """A fresh random token (``sbk_`` + 256 bits, URL-safe base64)."""
    return Secret(TOKEN_PREFIX + secrets.token_urlsafe(32))


def hash_token(token: str) -> str:
    """Hex SHA-256 of a token: what is stored and looked up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TokenInfo:
    """A stored token, without its secret."""

    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    scopes: frozenset[str] = frozenset()

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "name": self.name,
            "prefix": self.prefix,
            "created_at": iso(self.created_at),
            "last_used_at": iso(self.last_used_at),
            "revoked_at": iso(self.revoked_at),
            "active": self.active,
            "scopes": sorted(self.scopes),
        }


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a stored token or the configured admin token, and its grant
    (roles and scopes, see :mod:`skybridge.auth.scopes`)."""

    name: str
    kind: Literal["token", "admin"]
    token_id: int | None = None
    grant: frozenset[str] = frozenset()


def _utc(value: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; everything stored is UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _info(row: Any) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        created_at=_utc(row.created_at) or datetime.now(UTC),
        last_used_at=_utc(row.last_used_at),
        revoked_at=_utc(row.revoked_at),
        scopes=parse_grant(row.scopes),
    )


class TokenStore:
    """Create, list, revoke and verify API tokens in the ``skybridge_api_tokens`` table."""

    def __init__(
        self, engine: Engine, *, admin_token: SecretStr | None = None, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._engine = engine
        self._admin_hash = hash_token(admin_token.get_secret_value()) if admin_token else None
        self._clock = clock
        self._ready = False
        self._lock = threading.Lock()
        self._touched: dict[int, float] = {}

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.now(), UTC)

    def _ensure_table(self) -> None:
        if self._ready:
            return
        with self._lock:
            if not self._ready:
                self._run(
                    lambda: versioned(
                        self._engine,
                        "api-tokens",
                        SCHEMA_VERSION,
                        self._create,
                        where=f"the token database {mask_url(str(self._engine.url))}",
                    )
                )
                self._ready = True

    def _create(self, found: int) -> None:
        metadata.create_all(self._engine)
        if found < SCHEMA_VERSION:
            self._add_scopes_column()

    def _add_scopes_column(self) -> None:
        """Tables from before scopes get the column; their tokens keep full rights (admin)."""
        columns = {c["name"] for c in inspect(self._engine).get_columns(tokens_table.name)}
        if "scopes" in columns:
            return
        with self._engine.begin() as conn:
            conn.exec_driver_sql(f"ALTER TABLE {tokens_table.name} ADD COLUMN scopes VARCHAR(2000)")
            done = conn.execute(
                update(tokens_table).values(scopes=format_grant(LEGACY_GRANT))
            ).rowcount
        if done:
            log.warning(
                "tokens.migrated_to_admin",
                count=done,
                hint="tokens made before scopes keep full rights; replace them with narrower "
                "ones: skybridge token create NAME --scope read",
            )

    def _run(self, fn: Any) -> Any:
        try:
            return fn()
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            raise TransientError(f"token database unavailable: {type(exc).__name__}") from None

    def create(self, name: str, scopes: Iterable[str] = ("read",)) -> tuple[TokenInfo, Secret[str]]:
        """Store a new token called ``name`` holding ``scopes`` (roles and/or scopes, checked by
        the caller against what it may grant); returns it once (only its hash is kept)."""
        if not _NAME.fullmatch(name):
            raise ValidationError(
                f"token name {name!r} is not allowed",
                hint="use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            )
        if name.casefold() == ADMIN_PRINCIPAL.casefold():
            raise ValidationError(
                f"token name {name!r} is reserved for the configured admin token",
                hint="pick another name",
            )
        self._ensure_table()
        token = new_token()
        values = {
            "name": name,
            "prefix": token.reveal()[: len(TOKEN_PREFIX) + _PREFIX_CHARS],
            "hash": token.sha256(),
            "created_at": self._now(),
            "scopes": format_grant(scopes) or "read",
        }
        try:
            with self._engine.begin() as conn:
                self._run(lambda: conn.execute(insert(tokens_table).values(**values)))
        except IntegrityError:
            raise Conflict(
                f"a token named '{name}' already exists",
                hint="pick another name; names of revoked tokens stay reserved",
            ) from None
        return self.get(name), token

    def get(self, name: str) -> TokenInfo:
        """The token called ``name`` (active or revoked)."""
        self._ensure_table()
        query = select(tokens_table).where(tokens_table.c.name == name)
        with self._engine.connect() as conn:
            row = self._run(lambda: conn.execute(query).first())
        if row is None:
            raise NotFound(f"no token named '{name}'")
        return _info(row)

    def list(self) -> list[TokenInfo]:
        """All tokens, oldest first, revoked ones included."""
        self._ensure_table()
        query = select(tokens_table).order_by(tokens_table.c.id)
        with self._engine.connect() as conn:
            rows = self._run(lambda: conn.execute(query).all())
        return [_info(row) for row in rows]

    def revoke(self, name: str) -> TokenInfo:
        """Revoke the active token called ``name``; it is rejected from now on."""
        self._ensure_table()
        stmt = (
            update(tokens_table)
            .where(tokens_table.c.name == name, tokens_table.c.revoked_at.is_(None))
            .values(revoked_at=self._now())
        )
        with self._engine.begin() as conn:
            changed = self._run(lambda: conn.execute(stmt).rowcount)
        if not changed:
            raise NotFound(f"no active token named '{name}'")
        return self.get(name)

    def delete(self, name: str) -> None:
        """Remove the row of ``name`` entirely (used to rotate the demo token)."""
        self._ensure_table()
        with self._engine.begin() as conn:
            self._run(lambda: conn.execute(delete(tokens_table).where(tokens_table.c.name == name)))

    def active_hash(self, principal: Principal) -> str | None:
        """The hash of the token ``principal`` stands for, while it is still accepted."""
        found = self.active(principal)
        return found[0] if found is not None else None

    def active(self, principal: Principal) -> tuple[str, Principal] | None:
        """The hash of the token ``principal`` stands for and its current principal (with its
        grant), while it is still accepted.

        ``None`` once a stored token is revoked or deleted, or the admin token is unset. Sessions
        are bound to the hash, not to the row id alone: SQLite reuses the id of a deleted row.
        """
        if principal.kind == "admin":
            if self._admin_hash is None:
                return None
            return self._admin_hash, Principal(ADMIN_PRINCIPAL, "admin", grant=ADMIN_GRANT)
        if principal.kind != "token" or not isinstance(principal.token_id, int):
            return None
        self._ensure_table()
        query = select(tokens_table).where(
            tokens_table.c.id == principal.token_id, tokens_table.c.revoked_at.is_(None)
        )
        with self._engine.connect() as conn:
            row = self._run(lambda: conn.execute(query).first())
        if row is None:
            return None
        return str(row.hash), Principal(row.name, "token", row.id, parse_grant(row.scopes))

    def verify(self, token: str) -> Principal | None:
        """The principal ``token`` authenticates, or ``None`` (unknown, revoked, malformed)."""
        digest = hash_token(token)
        if self._admin_hash is not None and hmac.compare_digest(digest, self._admin_hash):
            return Principal(ADMIN_PRINCIPAL, "admin", grant=ADMIN_GRANT)
        if not token.startswith(TOKEN_PREFIX):
            return None
        self._ensure_table()
        query = select(tokens_table).where(tokens_table.c.hash == digest)
        with self._engine.connect() as conn:
            row = self._run(lambda: conn.execute(query).first())
        if row is None or not hmac.compare_digest(row.hash, digest) or row.revoked_at is not None:
            return None
        self._touch(row.id)
        return Principal(row.name, "token", row.id, parse_grant(row.scopes))

    def _touch(self, token_id: int) -> None:
        now = self._clock.now()
        if now - self._touched.get(token_id, 0.0) < _TOUCH_EVERY:
            return
        self._touched[token_id] = now
        stmt = (
            update(tokens_table)
            .where(tokens_table.c.id == token_id)
            .values(last_used_at=self._now())
        )
        with self._engine.begin() as conn:
            self._run(lambda: conn.execute(stmt))
