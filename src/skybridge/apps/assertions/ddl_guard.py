"""PostgreSQL event trigger refusing DDL that removes or retypes a column an assertion reads.

It runs at ``ddl_command_end`` of ALTER TABLE / DROP TABLE and checks every dependency in
``skybridge_assertions``: a dropped or renamed table or column aborts the DDL, and so does a
column whose type differs from the one recorded in ``skybridge_assertion_columns`` (written by
:data:`RECORD_TYPES_SQL` whenever the catalog changes). Comparing catalog state after the
command, rather than parsing the statement, catches ``ALTER COLUMN ... TYPE`` and
``SET DATA TYPE`` whatever the spelling, quoting or number of subcommands.

Event triggers need superuser. For anyone else :data:`GUARD_SQL` installs nothing, and
:func:`protection_warning` says so (``apply`` and ``explain`` report it).
"""

from __future__ import annotations

from sqlalchemy import Connection

GUARD_NAME = "skybridge_assertion_ddl_guard"

_DEPENDENCIES = """skybridge_assertions AS a,
         jsonb_to_recordset(a.dependencies::jsonb) AS d("table" text, "column" text)"""

_GUARD_FUNCTION = f"""CREATE OR REPLACE FUNCTION {GUARD_NAME}() RETURNS event_trigger
LANGUAGE plpgsql AS $g$
DECLARE r record;
BEGIN
  IF to_regclass('skybridge_assertions') IS NULL THEN RETURN; END IF;
  FOR r IN
    SELECT a.name, d."table" AS tbl, d."column" AS col
    FROM {_DEPENDENCIES}
    WHERE to_regclass(d."table") IS NULL
       OR (d."column" <> '*' AND NOT EXISTS (
            SELECT 1 FROM pg_attribute
            WHERE attrelid = to_regclass(d."table") AND attname = d."column" AND NOT attisdropped))
  LOOP
    RAISE EXCEPTION 'cannot drop or alter %: assertion "%" depends on it',
      CASE WHEN r.col = '*' THEN r.tbl ELSE r.tbl || '.' || r.col END, r.name
      USING ERRCODE = '2BP01', HINT = 'DROP ASSERTION ' || r.name || ' first';
  END LOOP;
  IF to_regclass('skybridge_assertion_columns') IS NULL THEN RETURN; END IF;
  FOR r IN
    SELECT a.name, c.tbl, c.col, c.type AS was, format_type(t.atttypid, t.atttypmod) AS now
    FROM {_DEPENDENCIES}
    JOIN skybridge_assertion_columns AS c ON c.tbl = d."table" AND c.col = d."column"
    JOIN pg_attribute AS t ON t.attrelid = to_regclass(c.tbl) AND t.attname = c.col
    WHERE NOT t.attisdropped AND format_type(t.atttypid, t.atttypmod) <> c.type
  LOOP
    RAISE EXCEPTION 'cannot change the type of %.% from % to %: assertion "%" depends on it',
      r.tbl, r.col, r.was, r.now, r.name
      USING ERRCODE = '2BP01',
      HINT = 'DROP ASSERTION ' || r.name || ', change the type, then create it again';
  END LOOP;
END
$g$"""

GUARD_SQL = [
    """CREATE TABLE IF NOT EXISTS skybridge_assertion_columns (
  tbl text NOT NULL, col text NOT NULL, type text NOT NULL, PRIMARY KEY (tbl, col))""",
    f"""DO $sba$ BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE $fn${_GUARD_FUNCTION}$fn$;
    IF NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = '{GUARD_NAME}') THEN
      CREATE EVENT TRIGGER {GUARD_NAME} ON ddl_command_end
        WHEN TAG IN ('ALTER TABLE', 'DROP TABLE')
        EXECUTE FUNCTION {GUARD_NAME}();
    END IF;
  END IF;
END $sba$""",
]
"""Installs the guard when the current user is a superuser (others cannot, and get a warning)."""

RECORD_TYPES_SQL = [
    "DELETE FROM skybridge_assertion_columns",
    f"""INSERT INTO skybridge_assertion_columns (tbl, col, type)
SELECT DISTINCT d."table", d."column", format_type(t.atttypid, t.atttypmod)
FROM {_DEPENDENCIES}
JOIN pg_attribute AS t ON t.attrelid = to_regclass(d."table") AND t.attname = d."column"
WHERE NOT t.attisdropped""",
]
"""Record the current type of every column the catalog's assertions read (run after changes)."""


def protection_warning(conn: Connection) -> str | None:
    """Why DDL protection is off on ``conn``'s database, or ``None`` when the guard is active."""
    row = conn.exec_driver_sql(
        "SELECT (SELECT evtenabled FROM pg_event_trigger WHERE evtname = "
        f"'{GUARD_NAME}'), current_user, "
        "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
    ).one()
    enabled, user, superuser = row
    if enabled is not None and enabled != "D":
        return None
    why = (
        f"the event trigger {GUARD_NAME} is disabled"
        if enabled == "D"
        else f"installing the event trigger {GUARD_NAME} needs a superuser"
        + ("" if superuser else f" and {user} is not one")
    )
    return (
        f"DDL protection is off: {why}, so DROP TABLE, DROP COLUMN, RENAME and "
        "ALTER COLUMN ... TYPE on what an assertion reads will not be refused; run "
        "`skybridge assert apply` once as a superuser (or ALTER EVENT TRIGGER ... ENABLE)"
    )
