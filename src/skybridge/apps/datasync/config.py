"""The ``[datasync]`` section of skybridge.toml (or ``SKYBRIDGE__DATASYNC__<KEY>``).

::

    [datasync]
    target = "postgresql://sync@db.internal/prod"   # default backends.sql
    topic = "datasync.changes"
    pool_size = 2                                    # the article's session pool: min 2 ...
    max_overflow = 8                                 # ... max 10

    [datasync.tables.orders]
    key = ["order_id"]
    version = "version"
    columns = { order_id = "integer", customer_id = "integer", amount = "numeric",
                status = "text", version = "integer" }

    [datasync.batches.orders-daily]
    table = "orders"
    prefix = "exports/orders/"       # CSV files the AWS side exported (or query = "SELECT ...")
    every = 86400

Names of tables and columns are plain SQL identifiers (lowercase letters, digits and
underscores), so generated SQL never needs quoting and means the same on every dialect.
"""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import ConfigDict, Field, field_validator, model_validator

from skybridge.core.config import SettingsModel

TOPIC = "datasync.changes"
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,29}$")
#: A batch sync's name; its batch ids (``<name>-<window start>[-<seconds>s]``) stay within 120
#: characters.
_BATCH_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,78}$")
#: A ``numeric`` column is ``NUMERIC(38,10)``: 28 digits before the point, 10 after.
NUMERIC_PRECISION, NUMERIC_SCALE = 38, 10
#: Words reserved in PostgreSQL, SQLite or Oracle that a plain (unquoted) name cannot be.
_RESERVED_WORDS = (
    "access add all alter and any as asc audit between by char check cluster column "
    "comment compress connect create current date decimal default delete desc distinct "
    "drop else exclusive exists file float for from grant group having identified "
    "immediate in increment index initial insert integer intersect into is level like "
    "lock long maxextents minus mode modify noaudit nocompress not nowait null number of "
    "offline on online option or order pctfree prior public raw rename resource revoke "
    "row rowid rownum rows select session set share size smallint start successful "
    "synonym sysdate table then to trigger uid union unique update user validate values "
    "varchar varchar2 view whenever where with limit offset primary references foreign "
    "join natural cross case end"
)
RESERVED = frozenset(_RESERVED_WORDS.split())


def check_identifier(name: str, what: str) -> str:
    """``name`` when it is a plain identifier (``orders``, ``customer_id``), else ValueError."""
    if not _IDENTIFIER.match(name) or name.startswith("sb_"):
        raise ValueError(
            f"{what} {name!r} must be lowercase letters, digits and underscores "
            "(at most 30, starting with a letter, not sb_)"
        )
    if name in RESERVED:
        raise ValueError(f"{what} {name!r} is a reserved word in SQL; choose another name")
    return name


class ColumnType(StrEnum):
    """The column types a synced table may have (mapped to each dialect by SQLAlchemy)."""

    INTEGER = "integer"
    BIGINT = "bigint"
    NUMERIC = "numeric"
    FLOAT = "float"
    TEXT = "text"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"


class TableSpec(SettingsModel):
    """One synced table: its key, the version column that orders changes, its columns."""

    model_config = ConfigDict(extra="forbid")

    key: list[str] = Field(min_length=1, max_length=8, description="Primary-key columns")
    version: str = Field(description="Column that orders changes: a version or updated_at")
    columns: dict[str, ColumnType] = Field(min_length=1, max_length=200)

    @field_validator("columns")
    @classmethod
    def _plain_columns(cls, columns: dict[str, ColumnType]) -> dict[str, ColumnType]:
        for name in columns:
            check_identifier(name, "column")
        return columns

    @model_validator(mode="after")
    def _key_and_version_are_columns(self) -> TableSpec:
        missing = [c for c in [*self.key, self.version] if c not in self.columns]
        if missing:
            raise ValueError(f"key/version columns {missing} are not among the columns")
        if self.version in self.key:
            raise ValueError("the version column cannot be part of the key")
        if self.columns[self.version] in (ColumnType.TEXT, ColumnType.BOOLEAN):
            raise ValueError("the version column must be a number or a timestamp")
        return self

    @property
    def values(self) -> list[str]:
        """The columns that are not part of the key."""
        return [c for c in self.columns if c not in self.key]


class BatchSpec(SettingsModel):
    """A batch sync: extract (a query, or CSV files under a prefix) into ``table``."""

    model_config = ConfigDict(extra="forbid")

    table: str
    query: str | None = Field(
        default=None,
        description="SELECT on the source database; may use :window_start and :window_end",
    )
    prefix: str | None = Field(
        default=None, description="CSV files (with a header row) under this prefix of aws_objects"
    )
    every: float = Field(default=86400.0, ge=60.0, description="Seconds per batch window")

    @model_validator(mode="after")
    def _one_source(self) -> BatchSpec:
        if (self.query is None) == (self.prefix is None):
            raise ValueError("a batch needs exactly one of query= or prefix=")
        return self


ORDERS = TableSpec(
    key=["order_id"],
    version="version",
    columns={
        "order_id": ColumnType.INTEGER,
        "customer_id": ColumnType.INTEGER,
        "amount": ColumnType.NUMERIC,
        "status": ColumnType.TEXT,
        "version": ColumnType.INTEGER,
    },
)


class DataSyncConfig(SettingsModel):
    """Settings of datasync: the CLI, the service, workers and the cloud functions."""

    model_config = ConfigDict(extra="forbid")

    target: str | None = Field(
        default=None, description="SQL URL of the target database (default backends.sql)"
    )
    source: str | None = Field(
        default=None, description="SQL URL batch queries read from (default: the target)"
    )
    aws_objects: str | None = Field(
        default=None, description="Object store of the AWS side (default backends.objects, aws/)"
    )
    oci_objects: str | None = Field(
        default=None, description="Object store of the OCI side (default backends.objects, oci/)"
    )
    topic: str = Field(default=TOPIC, min_length=1, max_length=200)
    tables: dict[str, TableSpec] = Field(default_factory=lambda: {"orders": ORDERS})
    batches: dict[str, BatchSpec] = Field(default_factory=dict)
    batch_size: int = Field(default=500, ge=1, le=100_000, description="Events per batch")
    pool_size: int = Field(default=2, ge=1, le=100, description="Connections kept open")
    max_overflow: int = Field(default=8, ge=0, le=200, description="Extra under load")
    pool_timeout: float = Field(default=30.0, gt=0, description="Seconds to wait for one")
    pool_recycle: float = Field(default=1800.0, gt=0, description="Reconnect after (seconds)")
    oracle_credential: str = Field(
        default="OCI_CRED", description="DBMS_CLOUD credential for COPY_DATA on Oracle"
    )
    oracle_object_uri: str | None = Field(
        default=None,
        description="Object Storage URI of the OCI side's folder, for COPY_DATA "
        "(https://objectstorage.<region>.oraclecloud.com/n/<ns>/b/<bucket>/o/<prefix>)",
    )
    lambda_prefix: str = Field(
        default="arn:aws:lambda:us-east-1:123456789012:function:skybridge-datasync-",
        description="ARN prefix of the step Lambdas in the exported state machine",
    )
    demo_every: float = Field(default=3.0, gt=0, description="up --demo: seconds per change")

    @field_validator("tables")
    @classmethod
    def _plain_tables(cls, tables: dict[str, TableSpec]) -> dict[str, TableSpec]:
        for name in tables:
            check_identifier(name, "table")
        return tables

    @field_validator("batches")
    @classmethod
    def _plain_batch_names(cls, batches: dict[str, BatchSpec]) -> dict[str, BatchSpec]:
        for name in batches:
            if not _BATCH_NAME.match(name):
                raise ValueError(
                    f"batch sync {name[:100]!r} must be letters, digits, '.', '_' and '-' "
                    "(at most 79, starting with a letter or digit)"
                )
        return batches

    @model_validator(mode="after")
    def _batches_name_tables(self) -> DataSyncConfig:
        for name, batch in self.batches.items():
            if batch.table not in self.tables:
                raise ValueError(f"batch {name!r} names table {batch.table!r}, not in tables")
        return self
