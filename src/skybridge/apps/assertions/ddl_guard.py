"""PostgreSQL event trigger refusing DDL that removes a table or column an assertion reads.

It runs at ``ddl_command_end`` of ALTER TABLE / DROP TABLE and checks that every dependency in
``skybridge_assertions`` still resolves; a dropped or renamed table or column aborts the DDL.
Event triggers need superuser; without it :func:`install` leaves the guard out (logged).
"""

from __future__ import annotations

GUARD_SQL = [
    """CREATE OR REPLACE FUNCTION skybridge_assertion_ddl_guard() RETURNS event_trigger
LANGUAGE plpgsql AS $sba$
DECLARE r record;
BEGIN
  IF to_regclass('skybridge_assertions') IS NULL THEN RETURN; END IF;
  FOR r IN
    SELECT a.name, d."table" AS tbl, d."column" AS col
    FROM skybridge_assertions AS a,
         jsonb_to_recordset(a.dependencies::jsonb) AS d("table" text, "column" text)
    WHERE to_regclass(d."table") IS NULL
       OR (d."column" <> '*' AND NOT EXISTS (
            SELECT 1 FROM pg_attribute
            WHERE attrelid = to_regclass(d."table") AND attname = d."column" AND NOT attisdropped))
  LOOP
    RAISE EXCEPTION 'cannot drop or alter %: assertion "%" depends on it',
      CASE WHEN r.col = '*' THEN r.tbl ELSE r.tbl || '.' || r.col END, r.name
      USING ERRCODE = '2BP01', HINT = 'DROP ASSERTION ' || r.name || ' first';
  END LOOP;
END
$sba$""",
    """DO $sba$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'skybridge_assertion_ddl_guard')
     AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    CREATE EVENT TRIGGER skybridge_assertion_ddl_guard ON ddl_command_end
      WHEN TAG IN ('ALTER TABLE', 'DROP TABLE')
      EXECUTE FUNCTION skybridge_assertion_ddl_guard();
  END IF;
END $sba$""",
]
