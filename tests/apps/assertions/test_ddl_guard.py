"""The PostgreSQL DDL guard: column type changes, and saying so when it cannot be installed."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from skybridge.apps.assertions import api
from skybridge.apps.assertions.errors import ScriptRejected
from skybridge.backends.sql import create_sql_engine

from .conftest import sla_script

pytestmark = pytest.mark.postgres
_roles = itertools.count()


@pytest.mark.parametrize("words", ["TYPE", "SET DATA TYPE"])
def test_changing_the_type_of_a_used_column_is_refused(pg_engine: Engine, words: str) -> None:
    api.apply(sla_script(), pg_engine)
    with pytest.raises(ScriptRejected) as info:
        api.apply(f"ALTER TABLE engineers ALTER COLUMN seniority {words} VARCHAR(20)", pg_engine)
    message = str(info.value)
    assert "cannot change the type of engineers.seniority" in message
    assert "from character varying(10) to character varying(20)" in message
    assert 'assertion "critical_tickets_need_senior_engineer" depends on it' in message
    with pytest.raises(ScriptRejected, match=r"type of tickets\.created_on"):  # among others
        api.apply(
            "ALTER TABLE tickets ADD COLUMN note TEXT, ALTER COLUMN created_on TYPE TIMESTAMP",
            pg_engine,
        )


def test_unused_columns_and_dropped_assertions_may_change_type(pg_engine: Engine) -> None:
    api.apply(sla_script(), pg_engine)
    api.apply("ALTER TABLE engineers ALTER COLUMN name TYPE VARCHAR(200)", pg_engine)
    api.apply("ALTER TABLE engineers ALTER COLUMN seniority TYPE VARCHAR(10)", pg_engine)  # same
    api.apply(
        "DROP ASSERTION critical_tickets_need_senior_engineer; "
        "ALTER TABLE engineers ALTER COLUMN seniority TYPE VARCHAR(20)",
        pg_engine,
    )
    explained = api.explain(pg_engine, "sla_must_have_services")
    assert explained["warnings"] == []  # superuser: the guard is on


@pytest.fixture
def app_role(
    postgres_server: Any, pg_database: Callable[[], Engine]
) -> Iterator[tuple[Engine, Engine]]:
    """(superuser engine, engine of a plain role owning that same fresh database)."""
    admin = pg_database()
    role = f"sb_app_{next(_roles)}"
    db = admin.url.database
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        conn.exec_driver_sql(f"ALTER DATABASE {db} OWNER TO {role}")
        conn.exec_driver_sql(f"ALTER SCHEMA public OWNER TO {role}")
        conn.commit()
    url = admin.url.set(username=role).render_as_string(hide_password=False)
    app = create_sql_engine(url)
    yield admin, app
    app.dispose()


def test_without_superuser_apply_and_explain_say_protection_is_off(
    app_role: tuple[Engine, Engine],
) -> None:
    _, app = app_role
    done = api.apply(sla_script(), app)
    warnings = [line for line in done if line.startswith("warning: ")]
    assert len(warnings) == 1
    assert "DDL protection is off" in warnings[0]
    assert "needs a superuser" in warnings[0]
    assert "is not one" in warnings[0]
    assert api.explain(app, "sla_must_have_services")["warnings"] == [
        warnings[0].removeprefix("warning: ")
    ]
    api.apply("ALTER TABLE engineers ALTER COLUMN seniority TYPE TEXT", app)  # not refused


def test_a_guard_installed_by_a_superuser_protects_a_plain_role(
    app_role: tuple[Engine, Engine],
) -> None:
    admin, app = app_role
    api.apply("", admin)  # installs the catalog and the guard
    with admin.connect() as conn:
        role = app.url.username
        conn.exec_driver_sql(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
        conn.commit()
    done = api.apply(sla_script(), app)
    assert not [line for line in done if line.startswith("warning: ")]
    with pytest.raises(ScriptRejected, match=r"engineers\.seniority"):
        api.apply("ALTER TABLE engineers ALTER COLUMN seniority TYPE TEXT", app)
    with admin.connect() as conn:
        conn.exec_driver_sql("ALTER EVENT TRIGGER skybridge_assertion_ddl_guard DISABLE")
        conn.commit()
    assert "is disabled" in api.explain(app, "sla_must_have_services")["warnings"][0]
