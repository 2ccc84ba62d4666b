"""Target and staging tables of the synced tables, as SQLAlchemy metadata for any dialect.

A target table has the declared columns, its primary key, and three columns datasync keeps:
``sb_deleted`` (a tombstone, so an older upsert can never revive a deleted row),
``sb_origin_at`` (when the change happened at the source) and ``sb_synced_at`` (when it was
committed here; the two give the cross-cloud latency). A staging table ``<table>_staging``
holds a batch's rows next to other batches', tagged ``sb_batch``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    false,
)
from sqlalchemy.types import TypeEngine

from skybridge.apps.datasync.changes import DELETED, ORIGIN_AT, SYNCED_AT
from skybridge.apps.datasync.config import NUMERIC_PRECISION, NUMERIC_SCALE, ColumnType, TableSpec
from skybridge.backends.sql_schema import versioned
from skybridge.core.urls import mask_url

#: The version of the columns datasync keeps in target and staging tables (``sb_*``).
SCHEMA_VERSION = 1
BATCH = "sb_batch"
STAGING_SUFFIX = "_staging"


class DecimalText(TypeDecorator[Decimal]):
    """Exact decimals on SQLite, which has no decimal type (stored as their text)."""

    impl = String(80)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


def sql_type(kind: ColumnType) -> TypeEngine[Any]:
    """The SQLAlchemy type of a column type (the dialect renders it)."""
    if kind is ColumnType.NUMERIC:
        numeric = Numeric(NUMERIC_PRECISION, NUMERIC_SCALE, asdecimal=True)
        return numeric.with_variant(DecimalText(), "sqlite")
    types: dict[ColumnType, TypeEngine[Any]] = {
        ColumnType.INTEGER: BigInteger().with_variant(Integer(), "sqlite"),
        ColumnType.BIGINT: BigInteger().with_variant(Integer(), "sqlite"),
        ColumnType.FLOAT: Float(),
        # Oracle: CLOB cannot be compared or merged like text; VARCHAR2(4000) can.
        ColumnType.TEXT: Text().with_variant(String(4000), "oracle"),
        ColumnType.BOOLEAN: flag(),
        ColumnType.TIMESTAMP: DateTime(),
    }
    return types[kind]


def flag() -> TypeEngine[Any]:
    """A boolean column; ``NUMBER(1)`` on Oracle before 23ai, which has no BOOLEAN."""
    return Boolean().with_variant(SmallInteger(), "oracle")


def _columns(spec: TableSpec) -> list[Column[Any]]:
    # autoincrement=False: a synced key is the source's, never generated here.
    return [
        Column(name, sql_type(kind), autoincrement=False) for name, kind in spec.columns.items()
    ]


def target_table(name: str, spec: TableSpec, metadata: MetaData) -> Table:
    """The target table ``name`` (declared columns, key, tombstone and sync times)."""
    return Table(
        name,
        metadata,
        *_columns(spec),
        Column(DELETED, flag(), nullable=False, server_default=false()),
        Column(ORIGIN_AT, Float()),
        Column(SYNCED_AT, Float()),
        PrimaryKeyConstraint(*spec.key, name=f"{name}_pk"),
    )


def staging_table(name: str, spec: TableSpec, metadata: MetaData) -> Table:
    """``<name>_staging``: a batch's rows before they are merged into ``name``."""
    staging = name + STAGING_SUFFIX
    return Table(
        staging,
        metadata,
        Column(BATCH, String(128), nullable=False),
        *_columns(spec),
        Column(DELETED, flag(), nullable=False, server_default=false()),
        Column(ORIGIN_AT, Float()),
        Index(f"{staging}_batch", BATCH),
    )


class Schema:
    """The target and staging tables of every synced table."""

    def __init__(self, tables: Mapping[str, TableSpec]) -> None:
        self.specs = dict(tables)
        self.metadata = MetaData()
        self.targets = {n: target_table(n, s, self.metadata) for n, s in tables.items()}
        self.staging = {n: staging_table(n, s, self.metadata) for n, s in tables.items()}

    def create(self, engine: Engine) -> list[str]:
        """Create the tables that do not exist yet; their names.

        Raises:
            ConfigError: the database holds datasync tables of a newer skybridge (the columns
                datasync keeps, ``sb_*``, are of schema version :data:`SCHEMA_VERSION`).
        """
        from sqlalchemy import inspect

        existing = set(inspect(engine).get_table_names())
        versioned(
            engine,
            "datasync",
            SCHEMA_VERSION,
            lambda _found: self.metadata.create_all(engine, checkfirst=True),
            where=f"the datasync target {mask_url(str(engine.url))}",
        )
        return sorted(t.name for t in self.metadata.sorted_tables if t.name not in existing)


def postgres_types(spec: TableSpec) -> dict[str, str]:
    """PostgreSQL type names of every column an upsert writes (for typed binds)."""
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    types = {name: sql_type(kind).compile(dialect=dialect) for name, kind in spec.columns.items()}
    return types | {
        DELETED: "BOOLEAN",
        ORIGIN_AT: "DOUBLE PRECISION",
        SYNCED_AT: "DOUBLE PRECISION",
    }
