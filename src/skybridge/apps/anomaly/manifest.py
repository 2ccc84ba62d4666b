"""The anomaly app: streaming anomaly detection with alerts, dashboards and NAB scoring."""

from skybridge.apps.kit.manifest import AppSpec

_PKG = "skybridge.apps.anomaly"

APP = AppSpec(
    name="anomaly",
    title="Anomaly detection",
    description="Streaming anomaly detection per series, with alerts, a dashboard and NAB scores.",
    config=f"{_PKG}.config:AnomalyConfig",
    backends={"kv": None, "sql": None, "streams": None, "notify": None},
    cli=f"{_PKG}.cli:anomaly_app",
    router=f"{_PKG}.router:build_router",
    page=f"{_PKG}.page:render_page",
    page_action=f"{_PKG}.page:handle_action",
    pipelines={"online": f"{_PKG}.pipeline:build_pipeline"},
    jobs={"alerts": f"{_PKG}.schedule:alert_job"},
    demo=f"{_PKG}.demo:seed",
    demo_services={"stream": f"{_PKG}.demo:stream"},
    scopes={
        "anomaly:read": "read",
        "anomaly:ingest": "operate",
        "anomaly:acknowledge": "operate",
    },
    page_scopes={
        "show": "anomaly:read",
        "acknowledge": "anomaly:acknowledge",
        "resolve": "anomaly:acknowledge",
    },
    page_query=("series", "search", "incident"),
    sql_tables=("raw_events", "anomaly_incidents", "anomaly_job_state"),
    demo_try=["skybridge anomaly status"],
)
