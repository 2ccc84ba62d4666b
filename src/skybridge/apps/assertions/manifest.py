"""The assertions app: ``CREATE ASSERTION`` enforced incrementally on PostgreSQL and SQLite."""

from skybridge.apps.kit.manifest import AppSpec

_PKG = "skybridge.apps.assertions"

APP = AppSpec(
    name="assertions",
    title="Assertions",
    description="SQL assertions (CREATE ASSERTION) enforced on PostgreSQL and SQLite.",
    config=f"{_PKG}.config:AssertionsConfig",
    backends={"sql": None},
    cli=f"{_PKG}.cli:assert_app",
    cli_name="assert",
    router=f"{_PKG}.router:build_router",
    page=f"{_PKG}.page:render_page",
    page_action=f"{_PKG}.page:handle_action",
    demo=f"{_PKG}.shared:seed_demo",
    scopes={
        "assertions:read": "read",
        "assertions:check": "operate",
        "assertions:apply": "admin",
    },
    page_scopes={"check": "assertions:check"},
    demo_try=["skybridge assert list", "skybridge assert check"],
)
