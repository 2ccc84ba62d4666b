"""The costs app: multi-cloud cost governance on FOCUS data."""

from skybridge.apps.kit.manifest import AppSpec

_PKG = "skybridge.apps.costs"

APP = AppSpec(
    name="costs",
    title="Costs",
    description="Multi-cloud cost governance on FOCUS data: ingest, tag policy, budgets, "
    "forecasts, anomalies and remediation with dry-run.",
    config=f"{_PKG}.config:CostsConfig",
    backends={
        "kv": None,
        "objects": None,
        "notify": None,
        "compute": "embedded://{data_dir}/compute",
    },
    backend_settings={"sources": "billing", "fleets": "compute"},
    cli=f"{_PKG}.cli:costs_app",
    router=f"{_PKG}.router:build_router",
    page=f"{_PKG}.page:render_page",
    page_action=f"{_PKG}.page:handle_action",
    page_confirm=f"{_PKG}.page:confirm_action",
    jobs={"ingest": f"{_PKG}.jobs:ingest_job", "budgets": f"{_PKG}.jobs:budget_job"},
    demo=f"{_PKG}.demo:seed_demo",
    scopes={
        "costs:read": "read",
        "costs:ingest": "operate",
        "costs:alert": "operate",
        "costs:remediate": "admin",
    },
    page_scopes={
        "plan": "costs:read",
        "ingest": "costs:ingest",
        "alert": "costs:alert",
        "remediate": "costs:remediate",
    },
    demo_try=["skybridge costs report", "skybridge costs remediate"],
)
