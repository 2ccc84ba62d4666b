"""HTTP routes under ``/api/costs`` (mounted behind token auth by the service).

Reads need ``costs:read``; ingesting from the report bucket or a cost API ``costs:ingest``;
sending budget alerts ``costs:alert``; applying remediation ``costs:remediate`` (the plan itself
is a read). Errors are 422 with a message saying what to fix: a malformed body or query (names
the field), a period that ends before it starts, an unknown dimension or cost API source.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from skybridge.apps.costs.api import Context, open_costs
from skybridge.apps.kit.access import requires
from skybridge.apps.kit.errors import error_responses

Day = Annotated[date | None, Query(description="YYYY-MM-DD (UTC)")]


class IngestRequest(BaseModel):
    """Ingest from ``backends.objects`` under ``prefix``, or pull a cost API source."""

    model_config = ConfigDict(extra="forbid")

    prefix: str | None = Field(
        default=None, max_length=1024, description="Default: [costs] report_prefix"
    )
    source: str | None = Field(default=None, max_length=64, description="A [costs.sources] name")
    start: date | None = Field(default=None, description="First day of an API pull")
    end: date | None = Field(default=None, description="Last day of an API pull (inclusive)")


class RemediateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approve: StrictBool = Field(default=False, description="Apply the plan; false: a dry run")


class AlertRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: date | None = None


def build_router(ctx: Context) -> APIRouter:
    """The app's routes on ``ctx``."""
    router = APIRouter(responses=error_responses(e422="Bad period, dimension, source or body"))
    read = [requires("costs:read")]

    @router.get("/report", dependencies=read)
    def report(start: Day = None, end: Day = None) -> dict[str, Any]:
        """The multi-cloud summary: totals overall and per provider, top services, trend."""
        with open_costs(ctx) as costs:
            return costs.report(costs.period(start, end))

    @router.get("/tags", dependencies=read)
    def tags(start: Day = None, end: Day = None) -> dict[str, Any]:
        """Tag policy compliance of the period."""
        with open_costs(ctx) as costs:
            return costs.tags(costs.period(start, end)).to_dict()

    @router.get("/budgets", dependencies=read)
    def budgets(as_of: Day = None) -> list[dict[str, Any]]:
        """Every budget: month to date, forecasts, thresholds crossed."""
        with open_costs(ctx) as costs:
            return [s.to_dict() for s in costs.budgets(as_of)[0]]

    @router.get("/forecast", dependencies=read)
    def forecast(
        as_of: Day = None,
        dimension: str | None = Query(default=None, max_length=140),
        value: str | None = Query(default=None, max_length=256),
    ) -> dict[str, Any]:
        """The month-end forecast (run rate and seasonal)."""
        with open_costs(ctx) as costs:
            return costs.forecast(as_of, dimension, value).to_dict()

    @router.get("/anomalies", dependencies=read)
    def anomalies(
        start: Day = None,
        end: Day = None,
        dimension: str | None = Query(default=None, max_length=140),
    ) -> list[dict[str, Any]]:
        """Anomalous days with their dollar impact and contributors."""
        with open_costs(ctx) as costs:
            return [a.to_dict() for a in costs.anomalies(costs.period(start, end), dimension)]

    @router.get("/files", dependencies=read)
    def files() -> list[dict[str, Any]]:
        """Files and API pulls ingested so far."""
        with open_costs(ctx) as costs:
            return [f.to_dict() for f in costs.store.ledger.files()]

    @router.get("/audit", dependencies=read)
    def audit(limit: int = Query(default=100, ge=1, le=1000)) -> list[dict[str, Any]]:
        """Remediation actions applied, newest first."""
        with open_costs(ctx) as costs:
            return costs.store.ledger.audit_log(limit)

    @router.get("/remediation/plan", dependencies=read)
    def remediation_plan() -> dict[str, Any]:
        """What the remediation policies would do now (changes nothing)."""
        with open_costs(ctx) as costs:
            return costs.remediation_plan().to_dict()

    @router.post("/ingest", dependencies=[requires("costs:ingest")])
    def ingest(body: IngestRequest | None = None) -> list[dict[str, Any]]:
        """Ingest the report bucket (no body, or no ``source``), or pull a cost API source for
        ``start``..``end``.

        One result per file, its ``status`` ``ingested``, ``unchanged``, ``skipped`` or
        ``rejected``: a bucket object that cannot be ingested is rejected with a ``reason``
        naming its key, and the others are ingested all the same (the answer is still 200).
        """
        body = body or IngestRequest()
        with open_costs(ctx) as costs:
            if body.source is not None:
                start, end = _pull_period(body)
                return [r.to_dict() for r in costs.ingest_api(body.source, start, end)]
            return [r.to_dict() for r in costs.ingest_bucket(body.prefix)]

    @router.post("/budgets/alert", dependencies=[requires("costs:alert")])
    def alert(body: AlertRequest | None = None) -> dict[str, Any]:
        """Announce newly crossed budget thresholds through notify (once per incident)."""
        body = body or AlertRequest()
        with open_costs(ctx) as costs:
            statuses, sent = costs.budgets(body.as_of, alert=True)
        return {"budgets": [s.to_dict() for s in statuses], "alerts_sent": sent}

    @router.post("/remediate", dependencies=[requires("costs:remediate")])
    def remediate(body: RemediateRequest | None = None) -> dict[str, Any]:
        """Apply the remediation plan (``approve``), or return it as a dry run (no body)."""
        body = body or RemediateRequest()
        with open_costs(ctx) as costs:
            plan, outcomes = costs.remediate(approve=body.approve)
        return {
            "dry_run": not body.approve,
            "plan": plan.to_dict(),
            "outcomes": [o.to_dict() for o in outcomes],
        }

    return router


def _pull_period(body: IngestRequest) -> tuple[date, date]:
    from skybridge.core.errors import ValidationError

    if body.start is None or body.end is None:
        raise ValidationError("a cost API pull needs start and end")
    return body.start, body.end + timedelta(days=1)
