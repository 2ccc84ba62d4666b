"""HTTP routes under ``/api/assertions`` (mounted behind token auth by the service).

Everything reads and writes the configured ``backends.sql`` database only; ``compile`` needs
no database; ``apply`` takes assertion statements only (``api.apply_assertions_only``).
Errors: 400 the database rejected a statement, 404 unknown assertion, 409 a write or VALIDATE
found violating rows (with the assertion's name, rows and statement), 422 SQL that does not
parse, a nondeterministic expression, a refused statement or a malformed body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from skybridge.apps.assertions import api
from skybridge.apps.assertions.errors import AssertionViolation
from skybridge.apps.assertions.shared import database_errors, open_engine, summary
from skybridge.apps.kit.access import requires
from skybridge.apps.kit.answers import ServiceJSONResponse
from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.errors import ErrorBody
from skybridge.apps.kit.limits import BodyLimit, MiB
from skybridge.core.errors import NotFound

T = TypeVar("T")
MAX_SCRIPT = 1_000_000
# a script of MAX_SCRIPT characters is larger than that once JSON escapes its newlines and quotes
SCRIPT_BODY = Depends(BodyLimit(4 * MiB))


class Dependency(BaseModel):
    table: str
    column: str = Field(description="`*` when the assertion reads whole rows of the table")


class AssertionInfo(BaseModel):
    """One assertion of the catalog."""

    name: str
    definition: str = Field(description="The CHECK condition as canonical SQL")
    state: str = Field(examples=["DEFERRABLE INITIALLY DEFERRED ENABLE VALIDATE"])
    enabled: bool
    validated: bool
    deferrable: bool
    initially_deferred: bool
    tables: list[str] = Field(description="Tables whose writes are guarded")
    dependencies: list[Dependency]
    lock_scope: str = Field(description="`table`, `key:<columns>` or `none`")
    created_at: str | None = None
    updated_at: str | None = None


class CheckResultModel(BaseModel):
    name: str
    ok: bool
    rows: list[dict[str, Any]] = Field(description="Violating rows (empty: the assertion holds)")


class CheckReport(BaseModel):
    ok: bool
    results: list[CheckResultModel]


class Guard(BaseModel):
    table: str
    operation: Literal["INSERT", "UPDATE", "DELETE"]
    checks: list[str] = Field(description="`rows`, `keys(old|new)` or `full`")


class Explanation(BaseModel):
    """The checks generated for an assertion and the operations they guard."""

    name: str
    state: str
    enabled: bool
    validated: bool
    violation_query: str
    key: list[str] | None
    lock_scope: str
    guards: list[Guard]
    statements: list[str] = Field(description="SQL that enforces it on this database")
    warnings: list[str] = Field(
        default_factory=list, description="e.g. DDL protection is off (PostgreSQL, no superuser)"
    )


class CompileRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1, max_length=MAX_SCRIPT, description="A script")
    dialect: Literal["postgresql", "sqlite"] = "postgresql"


class CompileResponse(BaseModel):
    dialect: str
    sql: str


class ApplyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: str = Field(
        min_length=1,
        max_length=MAX_SCRIPT,
        description="CREATE/ALTER/DROP ASSERTION statements only (no DDL/DML); one transaction",
    )


class ApplyResponse(BaseModel):
    steps: list[str]
    assertions: list[str] = Field(description="Assertions in the catalog afterwards")
    warnings: list[str] = Field(
        default_factory=list, description="Things to know, e.g. DDL protection is off"
    )


class ViolationBody(ErrorBody):
    assertion: str
    rows: list[dict[str, Any]]
    statement: str | None = Field(default=None, description="The statement that violated it")
    line: int | None = Field(default=None, description="Line of the script it starts on")
    source: str | None = None


def _error(description: str, model: type[BaseModel] = ErrorBody) -> dict[str, Any]:
    return {"model": model, "description": description}


Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: _error("No assertion has this name")}
REJECTED: Responses = {
    400: _error("The database rejected a statement"),
    409: _error("Violating rows were found", ViolationBody),
    422: _error("The SQL does not parse, is not enforceable, or the body is malformed"),
}


READ = [requires("assertions:read")]
CHECK = [requires("assertions:check")]
APPLY = [requires("assertions:apply"), SCRIPT_BODY]


def violation_response(exc: AssertionViolation) -> JSONResponse:
    body = ViolationBody(
        error="AssertionViolation", message=exc.message, hint=exc.hint, **exc.details()
    )
    return ServiceJSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=409)


def build_router(context: AppContext[Any]) -> APIRouter:
    """The routes, bound to ``context.backend_url("sql")``."""
    router = APIRouter()
    url = context.backend_url("sql")
    timeout = context.config.statement_timeout

    @contextmanager
    def database() -> Iterator[Engine]:
        with open_engine(url, data_dir=context.data_dir) as engine, database_errors():
            yield engine

    def run(fn: Callable[[Engine], T]) -> T:
        with database() as engine:
            return fn(engine)

    @router.get(
        "", response_model=list[AssertionInfo], summary="List assertions", dependencies=READ
    )
    def list_assertions() -> list[dict[str, Any]]:
        return [summary(e) for e in run(api.list_assertions)]

    @router.post(
        "/check", response_model=CheckReport, summary="Check every assertion", dependencies=CHECK
    )
    def check_all() -> dict[str, Any]:
        return _report(run(lambda engine: api.check(engine, timeout=timeout)))

    @router.post(
        "/compile",
        response_model=CompileResponse,
        responses={422: REJECTED[422]},
        summary="Compile a script to SQL for migration tools (no database)",
        dependencies=[*READ, SCRIPT_BODY],
    )
    def compile_script(body: CompileRequest) -> dict[str, Any]:
        return {"dialect": body.dialect, "sql": api.compile(body.sql, body.dialect)}

    @router.post(
        "/apply",
        response_model=ApplyResponse,
        responses={**REJECTED, 404: _error("ALTER/DROP of an unknown assertion")},
        summary="Apply assertion statements to the configured backends.sql database",
        dependencies=APPLY,
    )
    def apply(body: ApplyRequest) -> Any:
        try:
            with database() as engine:
                steps = api.apply_assertions_only(body.sql, engine, timeout=timeout)
                names = [e.name for e in api.list_assertions(engine)]
        except AssertionViolation as exc:
            return violation_response(exc)
        warnings = [s.removeprefix("warning: ") for s in steps if s.startswith("warning: ")]
        return {"steps": steps, "assertions": names, "warnings": warnings}

    @router.get(
        "/{name}",
        response_model=AssertionInfo,
        responses=NOT_FOUND,
        summary="Get one",
        dependencies=READ,
    )
    def get_one(name: str) -> dict[str, Any]:
        entries = {e.name: e for e in run(api.list_assertions)}
        if name.lower() not in entries:
            raise NotFound(f"assertion {name} does not exist")
        return summary(entries[name.lower()])

    @router.post(
        "/{name}/check",
        response_model=CheckReport,
        responses=NOT_FOUND,
        summary="Check one",
        dependencies=CHECK,
    )
    def check_one(name: str) -> dict[str, Any]:
        return _report(run(lambda engine: api.check(engine, name.lower(), timeout=timeout)))

    @router.get(
        "/{name}/explain",
        response_model=Explanation,
        responses=NOT_FOUND,
        summary="Explain one",
        dependencies=READ,
    )
    def explain(name: str) -> dict[str, Any]:
        return run(lambda engine: api.explain(engine, name.lower()))

    return router


def _report(results: list[api.CheckResult]) -> dict[str, Any]:
    return {
        "ok": all(r.ok for r in results),
        "results": [{"name": r.name, "ok": r.ok, "rows": r.rows} for r in results],
    }
