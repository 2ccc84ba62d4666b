"""SQLAlchemy engine factory for ``sqlite``, ``postgresql+psycopg`` and ``oracle+oracledb`` URLs."""

from __future__ import annotations

import re
import sqlite3
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from skybridge.core.errors import ConfigError, MissingDependency, TransientError, ValidationError
from skybridge.core.private_files import private_sqlite
from skybridge.core.sqlite_setup import open_error, set_up
from skybridge.core.urls import mask_url

_DRIVERS = {
    # plain dialect -> the driver skybridge uses and the extra that installs it
    "sqlite": ("sqlite", None),
    "postgresql": ("postgresql+psycopg", "postgres"),
    "postgres": ("postgresql+psycopg", "postgres"),
    "oracle": ("oracle+oracledb", "oracle"),
}
_EXTRAS = {"psycopg": "postgres", "oracledb": "oracle"}
#: The databases skybridge's SQL (its own tables, the apps' dialect code) is written for.
_SUPPORTED = frozenset({"sqlite", "postgresql", "oracle"})
# PostgreSQL roles that reach the server's files or run programs as its OS user.
_SERVER_ROLES = {
    "pg_execute_server_program": "run shell commands as the database's OS user (COPY PROGRAM)",
    "pg_read_server_files": "read any file the database's OS user can read",
    "pg_write_server_files": "write any file the database's OS user can write",
}
_ROLE_QUERY = text(
    "SELECT current_user AS name, rolsuper AS superuser, "
    + ", ".join(f"pg_has_role(current_user, '{r}', 'MEMBER') AS {r}" for r in _SERVER_ROLES)
    + " FROM pg_roles WHERE rolname = current_user"
)
# Userinfo that ``mask_url`` cannot see: a scheme urllib rejects, a password holding '/', or
# a URL written without its scheme.
_USERINFO = re.compile(r"^([^:/?#]*://[^:@/?#]*:)[^?]*@")
_BARE_USERINFO = re.compile(r"^([^:@/?#]*:)[^?]*@")


def _masked(url: str) -> str:
    pattern = _USERINFO if "://" in url else _BARE_USERINFO
    return pattern.sub(r"\1***@", mask_url(url))


def normalise_url(url: str, *, setting: str = "backends.sql") -> str:
    """Pick skybridge's driver when a URL names only the dialect (``postgresql://`` -> psycopg)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(
            f"'{_masked(url)}' is not a database URL",
            setting=setting,
            hint="for example sqlite:///.skybridge/skybridge.db",
        )
    if scheme in _DRIVERS:
        scheme = _DRIVERS[scheme][0]
    return f"{scheme}://{rest}"


def create_sql_engine(
    url: str, *, setting: str = "backends.sql", data_dir: Path | None = None, **kwargs: Any
) -> Engine:
    """Create an engine; SQLite files get WAL mode and foreign keys on.

    A SQLite file and its missing folders are created private to the owner (0600 in 0700); an
    existing file readable by others is tightened.

    Args:
        url: The database URL.
        setting: Where the URL was set, for errors.
        data_dir: skybridge's data folder, when the caller knows it. An existing folder open
            to other users gets a warning only when it is this folder or inside it: any other
            SQLite file was named by the user (``--db sqlite:///sla.db``), in a folder of
            theirs (a project folder) that is not skybridge's to judge.
        **kwargs: Passed to :func:`sqlalchemy.create_engine`.
    """
    url = normalise_url(url, setting=setting)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(f"bad database URL '{_masked(url)}': {exc}", setting=setting) from None
    if parsed.get_backend_name() not in _SUPPORTED:
        raise ConfigError(
            f"skybridge does not run on '{parsed.get_backend_name()}' databases ('{_masked(url)}')",
            setting=setting,
            hint="use sqlite://, postgresql:// (psycopg) or oracle:// (oracledb)",
        )
    if _is_sqlite_file(parsed):
        assert parsed.database is not None
        path = Path(parsed.database)
        private_sqlite(path, own_folder=_in_data_dir(path, data_dir))
    try:
        engine = create_engine(parsed, **kwargs)
    except NoSuchModuleError:
        raise ConfigError(
            f"unknown database dialect or driver '{parsed.drivername}' in '{_masked(url)}'",
            setting=setting,
            hint="use sqlite://, postgresql:// (psycopg) or oracle:// (oracledb)",
        ) from None
    except ModuleNotFoundError as exc:
        package = (exc.name or parsed.drivername).split(".")[0]
        raise MissingDependency(
            package, _EXTRAS.get(package, "all"), feature=f"{setting} ({parsed.drivername})"
        ) from exc
    if engine.dialect.name == "sqlite":
        where = parsed.database or ":memory:"
        event.listen(engine, "connect", partial(_sqlite_pragmas, where=where, setting=setting))
    return engine


def _in_data_dir(path: Path, data_dir: Path | None) -> bool:
    """Whether SQLite file ``path`` is one of skybridge's own, in ``data_dir`` or below it."""
    if data_dir is None:
        return False
    return path.parent.resolve().is_relative_to(data_dir.resolve())


def _is_sqlite_file(url: URL) -> bool:
    """A SQLite database in a plain file (not in memory, not a ``file:`` URI)."""
    return (
        url.get_backend_name() == "sqlite"
        and url.database not in (None, "", ":memory:")
        and not url.query.get("uri")
    )


#: What SQLite says when its file or folder cannot be written, and what to do about it.
_UNWRITABLE = {
    "readonly database": "make {folder} and the files in it writable by this user",
    "unable to open database file": "make {folder} writable by this user",
    "disk I/O error": "check that {folder} is on a working disk with free space",
    "database or disk is full": "free space on the disk that holds {folder}",
}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, where: str, setting: str) -> None:
    """WAL mode, foreign keys and a busy timeout on every new connection; a database that
    cannot be written (a read-only data folder, a full disk) is a :class:`ConfigError` naming
    the file, not a driver traceback."""
    pragmas = ["PRAGMA busy_timeout=10000", "PRAGMA journal_mode=WAL", "PRAGMA foreign_keys=ON"]
    try:
        set_up(dbapi_connection, pragmas, timeout=10.0)
    except sqlite3.OperationalError as exc:
        text = str(exc)
        hint = next((h for key, h in _UNWRITABLE.items() if key in text), None)
        if hint is None:
            raise
        folder = str(Path(where).parent)
        raise ConfigError(
            f"{where}: {text}", setting=setting, hint=hint.format(folder=folder)
        ) from None
    except sqlite3.DatabaseError as exc:  # not a database (any more): damaged
        raise open_error(where, f"the SQLite database of {setting}", exc) from None


def sql_role_warnings(engine: Engine) -> list[str]:
    """What the configured database role may do that user SQL must not (PostgreSQL only).

    The apps run user SQL (assertions) through this role, so a superuser, or a member of
    ``pg_execute_server_program`` / ``pg_read_server_files`` / ``pg_write_server_files``,
    lets that SQL run shell commands or reach the server's files. Other databases give ``[]``.

    Returns:
        One sentence per finding, naming the role and saying how to fix it.

    Raises:
        TransientError: the database could not be asked.
    """
    if engine.dialect.name != "postgresql":
        return []
    try:
        with engine.connect() as conn:
            row = conn.execute(_ROLE_QUERY).mappings().one()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise TransientError(f"cannot read the database role's privileges: {reason}") from None
    name = row["name"]
    if row["superuser"]:
        return [
            f"the database role '{name}' is a superuser: SQL run through it can execute shell "
            "commands and read or write server files; connect as a role without SUPERUSER"
        ]
    return [
        f"the database role '{name}' is a member of {role}, so SQL run through it can {risk}; "
        f'REVOKE {role} FROM "{name}"'
        for role, risk in _SERVER_ROLES.items()
        if row[role]
    ]


def translate_sql_error(exc: SQLAlchemyError, what: str) -> Exception:
    """A database error as skybridge's: a lost connection or an operational failure (refused
    connection, server gone, ``database is locked``) is transient, the rest (a constraint, a
    bad value) is not. Only the driver message's first line is kept: later lines quote the
    statement and its row values."""
    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return TransientError(f"{what}: the database connection was lost ({reason})")
    if isinstance(exc, DBAPIError) and type(exc).__name__ == "OperationalError":
        return TransientError(f"{what}: {reason}")
    return ValidationError(f"{what}: {reason}")
