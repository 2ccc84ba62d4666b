"""Open the database an assertion command works on, and tell connection failures from bad SQL.

Assertions run on PostgreSQL and SQLite only, so any other URL is refused up front with the
supported forms. A SQLite file given on the command line must be in an existing folder (a
typo must not create directories), and a command that only reads must find the file itself:
a mistyped path is refused, not read as a new empty database (which a CI check would pass).
The first connection is made here, so a database that cannot be reached is reported as such,
naming the URL and where it was set, instead of being blamed on the SQL later.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from skybridge.backends.sql import create_sql_engine, normalise_url
from skybridge.core.errors import ConfigError, SkybridgeError, TransientError

SUPPORTED = ("postgresql", "sqlite")
#: The setting whose SQLite folder may be created: the configured database in skybridge's home.
CONFIGURED = "backends.sql"
_EXAMPLES = "postgresql://user@host:5432/dbname or sqlite:///path/to/file.db"
#: SQLSTATEs that mean "this URL is wrong" (authentication, unknown database).
_BAD_URL_STATES = ("28000", "28P01", "3D000")
_BAD_URL_TEXT = (
    "could not translate host name",
    "failed to resolve host",
    "Name or service not known",
    "unable to open database file",
    "password authentication failed",
    "does not exist",
)
_UNREACHABLE_STATES = ("57P01", "57P02", "57P03", "53300")


def parse_database_url(url: str, setting: str) -> URL:
    """``url`` parsed, or a :class:`ConfigError` when it is not PostgreSQL or SQLite."""
    try:
        parsed = make_url(normalise_url(url, setting=setting))
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(f"bad database URL: {exc}", setting=setting, hint=_EXAMPLES) from None
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED:
        raise ConfigError(
            f"unsupported database {backend!r}: assertions run on PostgreSQL and SQLite only",
            setting=setting,
            hint=f"use {_EXAMPLES}",
        )
    return parsed


def _check_folder(parsed: URL, setting: str) -> None:
    path = sqlite_path(parsed)
    if path is None:
        return
    folder = path.parent
    if setting != CONFIGURED and not folder.is_dir():
        raise ConfigError(
            f"folder {folder} does not exist (SQLite database {path})",
            setting=setting,
            hint="create the folder first, or give a path in an existing folder",
        )


def sqlite_path(parsed: URL) -> Path | None:
    """The file of a SQLite database kept in a plain file; ``None`` for any other database
    (PostgreSQL, in memory, a ``file:`` URI)."""
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or path in (None, "", ":memory:"):
        return None
    if parsed.query.get("uri"):
        return None
    return Path(path)


def _check_file(parsed: URL, setting: str, data_dir: Path | None) -> None:
    """Refuse a missing SQLite file, except skybridge's own database (the configured
    ``backends.sql`` in ``data_dir``), which any command makes on first use."""
    path = sqlite_path(parsed)
    if path is None or path.exists():
        return
    own = data_dir is not None and path.parent.resolve().is_relative_to(data_dir.resolve())
    if setting == CONFIGURED and own:
        return
    shown = str(path) if path.is_absolute() else f"{path} (in {Path.cwd()})"
    raise ConfigError(
        f"SQLite database {shown} does not exist (only apply creates one)",
        setting=setting,
        hint=f"check the path in {setting}, or create the database first: "
        "skybridge assert apply FILE.sql --db URL",
    )


def open_database(
    url: str, setting: str = CONFIGURED, data_dir: Path | None = None, *, create: bool = True
) -> Engine:
    """An engine on ``url`` whose first connection worked; the caller disposes of it.

    ``data_dir`` is skybridge's data folder: only a SQLite file there has its folder checked
    for other users' access (see ``create_sql_engine``), not one the user named elsewhere.
    Without ``create`` a SQLite file that does not exist is a :class:`ConfigError` (but
    skybridge's own, the configured one in ``data_dir``), and none is made.
    """
    parsed = parse_database_url(url, setting)
    _check_folder(parsed, setting)
    if not create:
        _check_file(parsed, setting, data_dir)
    engine = create_sql_engine(url, setting=setting, data_dir=data_dir)
    try:
        with engine.connect():
            pass
    except DBAPIError as exc:
        engine.dispose()
        shown = parsed.set(drivername=url.partition("://")[0])  # as the user wrote it
        raise connection_error(exc, setting, shown) or exc from None
    return engine


def _is_connection_failure(exc: BaseException) -> bool:
    native = getattr(exc, "orig", None) or exc
    state = getattr(native, "sqlstate", None)
    if state is not None:
        return state[:2] in ("08", "28") or state in (*_BAD_URL_STATES, *_UNREACHABLE_STATES)
    name = type(native).__name__
    text = str(native)
    return (
        name == "OperationalError" and ("connection" in text.lower() or "resolve host" in text)
    ) or ("unable to open database file" in text)


def connection_error(
    exc: BaseException, setting: str | None, url: URL | None = None
) -> SkybridgeError | None:
    """The error for a failure to reach the database, or ``None`` when ``exc`` is not one."""
    if not _is_connection_failure(exc):
        return None
    native = getattr(exc, "orig", None) or exc
    text = str(native).strip()
    reason = " ".join(text.split("\n")[0].split()) if text else type(native).__name__
    where = f" at {url.render_as_string(hide_password=True)}" if url is not None else ""
    state = getattr(native, "sqlstate", None)
    if state in _BAD_URL_STATES or any(s in text for s in _BAD_URL_TEXT):
        return ConfigError(
            f"cannot connect to the database{where}: {reason}",
            setting=setting,
            hint="check the host, port, database name, user and password in the URL",
        )
    return TransientError(
        f"the database{where} is unreachable: {reason}",
        hint=f"check that the database is running and that {setting or 'the URL'} names "
        "the right host and port, then retry",
    )
