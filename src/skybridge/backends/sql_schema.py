"""Schema versions of skybridge's tables in a SQL database (``skybridge_schema``).

Tables skybridge keeps in ``backends.sql`` or ``[server] database`` (API tokens, anomaly
state, datasync's ledger...) share a database with others, so their version is a row per
component in ``skybridge_schema`` rather than the file stamp embedded SQLite stores use
(:mod:`skybridge.core.sqlite_setup`). The rule is the same: a component's tables of an older
version (0: made before versions existed) are upgraded by their owner before the row moves;
a newer version is refused with a :class:`~skybridge.core.errors.ConfigError` naming it.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable

from sqlalchemy import Column, Connection, Engine, Integer, MetaData, String, Table, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from skybridge.core.errors import ConfigError

versions_metadata = MetaData()
versions_table = Table(
    "skybridge_schema",
    versions_metadata,
    Column("component", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
)


#: SQLSTATE of a statement the role lacks the privilege for (PostgreSQL).
_NO_PRIVILEGE = "42501"
#: Tries of DDL that another process may be running at the same time (see :func:`settled`).
_DDL_TRIES = 5
#: What losing such a race says (SQLite, PostgreSQL, Oracle's ORA-00955); other failures, such
#: as a missing privilege, are not tried again.
_RACED = re.compile(
    r"already exists|duplicate|unique|locked|busy|concurrently updated|ORA-00955", re.IGNORECASE
)


def no_privilege(exc: DBAPIError) -> bool:
    """Whether ``exc`` says the role lacks a privilege for the statement (PostgreSQL)."""
    return getattr(exc.orig, "sqlstate", None) == _NO_PRIVILEGE


def settled(create: Callable[[], None]) -> None:
    """Run idempotent DDL (``create_all(checkfirst=True)``, ``CREATE ... IF NOT EXISTS``)
    that processes opening a fresh database at once all run: the loser of a race fails
    ("already exists"; on PostgreSQL also a unique violation in ``pg_type``, or "tuple
    concurrently updated" for two ``CREATE OR REPLACE`` of one function), and running it
    again finds the tables made. Tried up to a few times, a random pause between."""
    for attempt in range(_DDL_TRIES):
        try:
            create()
            return
        except DBAPIError as exc:
            if attempt == _DDL_TRIES - 1 or not _RACED.search(str(exc.orig or exc)):
                raise
            time.sleep(random.uniform(0.02, 0.1) * (attempt + 1))


def _read(engine: Engine, component: str) -> int | None:
    with engine.connect() as conn:
        return _select(conn, component)


def _select(conn: Connection, component: str) -> int | None:
    query = select(versions_table.c.version).where(versions_table.c.component == component)
    found = conn.execute(query).scalar()
    return None if found is None else int(found)


def version_in(conn: Connection, component: str) -> int | None:
    """``component``'s recorded version, read in ``conn``'s transaction without creating
    anything (so that a check made under the component's own lock sees what the holder of the
    lock before committed): ``None`` when none is recorded, the versions table is not there,
    or the role may not read it (as :func:`recorded_version`; in a savepoint, so that the
    transaction goes on)."""
    if not conn.dialect.has_table(conn, versions_table.name):
        return None
    if conn.dialect.name == "sqlite":  # no privileges to miss
        return _select(conn, component)
    try:
        with conn.begin_nested():
            return _select(conn, component)
    except DBAPIError as exc:
        if not no_privilege(exc):
            raise
        return None


def refuse_newer(found: int | None, component: str, version: int, *, where: str) -> None:
    """Refuse ``component``'s tables recorded at version ``found`` when it is newer than
    ``version``, the newest this skybridge knows.

    Raises:
        ConfigError: ``found`` > ``version`` (``where`` names the database for the message).
    """
    if found is not None and found > version:
        raise ConfigError(
            f"{where} holds {component} tables of a newer skybridge (schema version {found}; "
            f"this version reads up to {version})",
            hint="upgrade skybridge to the version that wrote them, or use another database",
        )


def component_version(engine: Engine, component: str) -> int:
    """The recorded version of ``component``'s tables (0: none recorded)."""
    settled(lambda: versions_metadata.create_all(engine, checkfirst=True))
    return _read(engine, component) or 0


def recorded_version(engine: Engine, component: str) -> int | None:
    """``component``'s recorded version, read without creating anything: ``None`` when the
    versions table is not there (or cannot be read)."""
    try:
        return _read(engine, component)
    except DBAPIError:
        return None


def versioned(
    engine: Engine,
    component: str,
    version: int,
    create: Callable[[int], None],
    *,
    where: str,
) -> None:
    """Create or upgrade ``component``'s tables with ``create(found)`` (idempotent: it runs
    again when another process creating them at the same time made it fail, see
    :func:`settled`; ``found`` is the version they had, 0 for none recorded), then record
    ``version``.

    Raises:
        ConfigError: the database holds ``component``'s tables of a newer version (``where``
            names the database for the message).
    """
    found = component_version(engine, component)
    refuse_newer(found, component, version, where=where)
    settled(lambda: create(found))
    if found == version:
        return
    with engine.begin() as conn:
        if found == 0:
            try:
                with conn.begin_nested():
                    conn.execute(
                        versions_table.insert().values(component=component, version=version)
                    )
                return
            except IntegrityError:
                pass  # another process recorded it meanwhile
        conn.execute(
            update(versions_table)
            .where(versions_table.c.component == component, versions_table.c.version < version)
            .values(version=version)
        )
