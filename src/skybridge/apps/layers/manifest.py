"""The layers app: build, scan, publish, prune and roll out Lambda layers."""

from skybridge.apps.kit.manifest import AppSpec

_PKG = "skybridge.apps.layers"

APP = AppSpec(
    name="layers",
    title="Lambda layers",
    description="Build Lambda layers for any Python runtime and architecture, scan them, "
    "publish, share, prune and roll them out gradually.",
    config=f"{_PKG}.config:LayersConfig",
    backends={"kv": None, "functions": "embedded://{data_dir}/functions"},
    cli=f"{_PKG}.cli:layers_app",
    router=f"{_PKG}.router:build_router",
    page=f"{_PKG}.page:render_page",
    page_action=f"{_PKG}.page:handle_action",
    page_confirm=f"{_PKG}.page:confirm_action",
    jobs={"rollouts": f"{_PKG}.jobs:rollout_job"},
    demo=f"{_PKG}.demo:seed",
    scopes={
        "layers:read": "read",
        "layers:publish": "operate",
        "layers:prune": "operate",
        "layers:rollout": "operate",
    },
    page_scopes={
        "plan-prune": "layers:read",
        "prune": "layers:prune",
        "advance": "layers:rollout",
        "rollback": "layers:rollout",
    },
    demo_try=["skybridge layers list"],
)
