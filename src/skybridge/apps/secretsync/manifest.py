"""The secretsync app: event-driven secret sync with reconcile, dead letters and an audit log."""

from skybridge.apps.kit.manifest import AppSpec

_PKG = "skybridge.apps.secretsync"

APP = AppSpec(
    name="secretsync",
    title="Secret sync",
    description="Sync secrets between stores: AWS Secrets Manager → OCI Vault, or any pair.",
    config=f"{_PKG}.config:SecretSyncConfig",
    backends={"kv": None, "secrets": None, "streams": None},
    backend_settings={"state": "kv"},
    backend_probes=f"{_PKG}.service:backend_probes",
    cli=f"{_PKG}.cli:secrets_app",
    cli_name="secrets",
    router=f"{_PKG}.router:build_router",
    page=f"{_PKG}.page:render_page",
    page_action=f"{_PKG}.page:handle_action",
    pipelines={"events": f"{_PKG}.pipeline:build_pipeline"},
    jobs={"reconcile": f"{_PKG}.schedule:reconcile_job"},
    demo=f"{_PKG}.demo:seed_demo",
    demo_services={"rotate": f"{_PKG}.demo:rotate_secrets"},
    handlers={
        "aws-lambda": f"{_PKG}.handlers:lambda_handler",
        "aws-lambda-reconcile": f"{_PKG}.handlers:reconcile_handler",
        "oci-functions": f"{_PKG}.handlers:oci_handler",
    },
    scopes={
        "secretsync:read": "read",
        "secretsync:sync": "operate",
        "secretsync:reconcile": "operate",
        "secretsync:replay": "operate",
    },
    page_query=("q", "run"),
    page_scopes={
        "plan": "secretsync:read",
        "reconcile": "secretsync:reconcile",
        "replay": "secretsync:replay",
        "find": "secretsync:read",
    },
    demo_try=["skybridge secrets status", "skybridge secrets audit"],
)
