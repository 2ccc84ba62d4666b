"""The token store lives in the service's own database (``[server] database``), never in the
database user SQL reaches (``backends.sql``).

Tokens kept in ``backends.sql`` by earlier versions are moved once: copied into the service
database when it has none, then their table is dropped from ``backends.sql`` (a notice is
logged), so no SQL an app runs for users can read a token hash again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, MetaData, Table, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from skybridge.auth.tokens import TokenStore, tokens_table
from skybridge.backends.sql import create_sql_engine
from skybridge.core.config import Settings
from skybridge.core.errors import Conflict
from skybridge.core.observability import error_summary, get_logger

log = get_logger(__name__)


def service_engine(settings: Settings) -> Engine:
    """An engine on the service's own database; the caller disposes it."""
    return create_sql_engine(
        settings.server.database, setting="server.database", data_dir=settings.data_dir
    )


def move_legacy_tokens(settings: Settings, target: Engine) -> int:
    """Move tokens an earlier version kept in ``backends.sql`` into ``target``; return how many."""
    if settings.backends.sql == settings.server.database:
        return 0
    source = create_sql_engine(
        settings.backends.sql, setting="backends.sql", data_dir=settings.data_dir
    )
    try:
        try:
            if not inspect(source).has_table(tokens_table.name):
                return 0
        except SQLAlchemyError as exc:
            # The users' database being down must not keep the service or `skybridge token`
            # from starting: tokens live in server.database. The move is tried again next time.
            log.warning(
                "tokens.legacy_check_skipped",
                setting="backends.sql",
                error=error_summary(exc),
                reason="backends.sql could not be read; tokens an earlier version kept there "
                "are moved once it can",
            )
            return 0
        TokenStore(target).list()  # creates the table (and its newest columns) there
        legacy = Table(tokens_table.name, MetaData(), autoload_with=source)
        with source.connect() as conn:
            rows = [dict(row._mapping) for row in conn.execute(select(legacy))]
        with target.begin() as conn:
            names = set(conn.execute(select(tokens_table.c.name)).scalars())
            hashes = set(conn.execute(select(tokens_table.c.hash)).scalars())
            rows = [r for r in rows if r["hash"] not in hashes]  # moved already
            renamed = []
            for row in rows:
                del row["id"]
                if row["name"] in names:  # another token took the name since: keep both
                    old = row["name"]
                    row["name"] = _free_name(old, names)
                    renamed.append(f"{old} -> {row['name']}")
                names.add(row["name"])
            if rows:
                conn.execute(tokens_table.insert(), rows)
        legacy.drop(source)
    finally:
        source.dispose()
    log.warning(
        "tokens.moved",
        count=len(rows),
        renamed=renamed,
        to="server.database",
        reason="API tokens no longer live in the database user SQL reaches (backends.sql)",
    )
    return len(rows)


def _free_name(name: str, taken: set[str]) -> str:
    """``name`` with a ``-moved`` suffix (numbered if need be) no token has."""
    for n in range(1, 1000):
        suffix = "-moved" if n == 1 else f"-moved-{n}"
        candidate = name[: 64 - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
    raise Conflict(f"no free name for the moved token '{name}'")


def token_store(settings: Settings, engine: Engine) -> TokenStore:
    """The token store on ``engine`` (the service database), legacy tokens moved in first."""
    move_legacy_tokens(settings, engine)
    return TokenStore(engine, admin_token=settings.server.admin_token)


@contextmanager
def open_token_store(settings: Settings) -> Iterator[TokenStore]:
    """:func:`token_store` on a fresh engine, disposed afterwards."""
    engine = service_engine(settings)
    try:
        yield token_store(settings, engine)
    finally:
        engine.dispose()
