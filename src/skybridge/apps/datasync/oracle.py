"""Oracle: the version-guarded ``MERGE`` statements and the ``DBMS_CLOUD.COPY_DATA`` load,
built as sqlglot syntax trees (never by pasting strings), and their PostgreSQL equivalents.

No Oracle server runs in tests, so :func:`postgres_equivalent` turns an Oracle MERGE into
PostgreSQL (15+) MERGE that means the same, and the tests execute that. Plain transpiling is
not enough: sqlglot drops Oracle's ``UPDATE SET ... WHERE`` (the version guard) when writing
PostgreSQL, with only a warning, so the guard is moved into ``WHEN MATCHED AND ...`` first and
anything else sqlglot cannot carry over raises.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlglot
from sqlglot import ErrorLevel, exp

from skybridge.apps.datasync.changes import DELETED, ORIGIN_AT, SYNCED_AT
from skybridge.apps.datasync.config import TableSpec
from skybridge.apps.datasync.schema import BATCH, STAGING_SUFFIX
from skybridge.apps.datasync.statements import SYNC_COLUMNS, written_columns


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table)


def _source_binds(spec: TableSpec) -> exp.Expression:
    """``(SELECT :c AS c, ... FROM dual) s``: one row from bind variables."""
    binds = [exp.alias_(exp.Placeholder(this=c), c) for c in written_columns(spec)]
    return exp.select(*binds).from_("dual").subquery("s")


def _source_staging(name: str, spec: TableSpec) -> exp.Expression:
    """The newest version of each key of batch ``:batch_id`` in ``<name>_staging``."""
    kept = [*spec.columns, DELETED, ORIGIN_AT]
    rank = exp.Window(
        this=exp.RowNumber(),
        partition_by=[_col(k) for k in spec.key],
        order=exp.Order(expressions=[exp.Ordered(this=_col(spec.version), desc=True)]),
    )
    inner = (
        exp.select(*[_col(c) for c in kept], exp.alias_(rank, "sb_rank"))
        .from_(name + STAGING_SUFFIX)
        .where(exp.EQ(this=_col(BATCH), expression=exp.Placeholder(this="batch_id")))
    )
    synced = exp.alias_(exp.Placeholder(this="synced_at"), SYNCED_AT)
    outer = exp.select(*[_col(c) for c in kept], synced).from_(inner.subquery("ranked"))
    return outer.where(exp.EQ(this=_col("sb_rank"), expression=exp.Literal.number(1))).subquery("s")


def _merge(name: str, spec: TableSpec, source: exp.Expression) -> exp.Merge:
    on = exp.and_(*[exp.EQ(this=_col(k, "t"), expression=_col(k, "s")) for k in spec.key])
    sets = [
        exp.EQ(this=_col(c, "t"), expression=_col(c, "s")) for c in [*spec.values, *SYNC_COLUMNS]
    ]
    newer = exp.GT(this=_col(spec.version, "s"), expression=_col(spec.version, "t"))
    update = exp.Update(expressions=sets, where=exp.Where(this=newer))
    columns = written_columns(spec)
    insert = exp.Insert(
        this=exp.Tuple(expressions=[_col(c) for c in columns]),
        expression=exp.Tuple(expressions=[_col(c, "s") for c in columns]),
    )
    whens = exp.Whens(
        expressions=[
            exp.When(matched=True, source=False, then=update),
            exp.When(matched=False, source=False, then=insert),
        ]
    )
    target = exp.alias_(exp.to_table(name), "t", table=True)
    return exp.Merge(this=target, using=source, on=exp.Paren(this=on), whens=whens)


def upsert_sql(name: str, spec: TableSpec) -> str:
    """``MERGE INTO name USING (SELECT :c ... FROM dual) ... WHERE s.version > t.version``,
    executed once per row (python-oracledb ``executemany``)."""
    return _merge(name, spec, _source_binds(spec)).sql("oracle", unsupported_level=ErrorLevel.RAISE)


def merge_staging_sql(name: str, spec: TableSpec) -> str:
    """MERGE of batch ``:batch_id`` of ``<name>_staging`` into ``name`` (newest per key)."""
    merge = _merge(name, spec, _source_staging(name, spec))
    return merge.sql("oracle", unsupported_level=ErrorLevel.RAISE)


def copy_data_sql(name: str, credential: str, uris: list[str]) -> str:
    """The PL/SQL block loading CSV files into ``<name>_staging`` with DBMS_CLOUD.COPY_DATA."""

    def literal(text: str) -> str:
        return exp.Literal.string(text).sql("oracle")

    fmt = "JSON_OBJECT('type' VALUE 'csv', 'skipheaders' VALUE '1', 'timestampformat' VALUE 'AUTO')"
    args = [
        f"table_name => {literal((name + STAGING_SUFFIX).upper())}",
        f"credential_name => {literal(credential)}",
        f"file_uri_list => {literal(','.join(uris))}",
        f"format => {fmt}",
    ]
    return "BEGIN\n  DBMS_CLOUD.COPY_DATA(\n    " + ",\n    ".join(args) + "\n  );\nEND;"


def postgres_equivalent(oracle_sql: str, casts: Mapping[str, str] | None = None) -> str:
    """The PostgreSQL MERGE that means what ``oracle_sql`` (one of this module's MERGEs) means.

    ``FROM dual`` is dropped and Oracle's ``WHEN MATCHED THEN UPDATE ... WHERE c`` becomes
    ``WHEN MATCHED AND c THEN UPDATE``; binds become ``%(name)s``, cast to ``casts[name]``
    where given (PostgreSQL, unlike Oracle's driver, sends a NULL bind untyped).

    Raises:
        sqlglot.errors.UnsupportedError: something else would not carry over.
    """
    tree = sqlglot.parse_one(oracle_sql, read="oracle")
    for table in list(tree.find_all(exp.Table)):
        if table.name.lower() == "dual":
            from_ = table.find_ancestor(exp.From)
            if from_ is not None:
                from_.pop()
    for bind in list(tree.find_all(exp.Placeholder)):
        if casts and bind.name in casts:
            bind.replace(exp.cast(bind.copy(), exp.DataType.build(casts[bind.name], "postgres")))
    for when in tree.find_all(exp.When):
        then = when.args.get("then")
        if isinstance(then, exp.Update) and then.args.get("where") is not None:
            when.set("condition", then.args["where"].this)
            then.set("where", None)
    return tree.sql("postgres", unsupported_level=ErrorLevel.RAISE)
