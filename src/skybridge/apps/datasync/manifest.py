"""The datasync app: idempotent AWS <-> OCI data sync, stream and batch, into SQL targets."""

from skybridge.apps.kit.manifest import AppSpec

_PKG = "skybridge.apps.datasync"

APP = AppSpec(
    name="datasync",
    title="Data sync",
    description="Sync rows AWS → OCI: stream upserts and batch MERGE with version guards.",
    config=f"{_PKG}.config:DataSyncConfig",
    backends={"sql": None, "streams": None, "kv": None, "objects": None},
    backend_settings={
        "target": "sql",
        "source": "sql",
        "aws_objects": "objects",
        "oci_objects": "objects",
    },
    cli=f"{_PKG}.cli:datasync_app",
    router=f"{_PKG}.router:build_router",
    page=f"{_PKG}.page:render_page",
    page_action=f"{_PKG}.page:handle_action",
    pipelines={"apply": f"{_PKG}.background:apply_pipeline"},
    jobs={"batches": f"{_PKG}.background:batch_job"},
    demo=f"{_PKG}.demo:seed_demo",
    demo_services={"changes": f"{_PKG}.demo:produce_changes"},
    handlers={
        "aws-lambda-step": f"{_PKG}.handlers:step_handler",
        "aws-lambda-publish": f"{_PKG}.handlers:publish_handler",
        "oci-functions-merge": f"{_PKG}.handlers:oci_merge_handler",
    },
    scopes={
        "datasync:read": "read",
        "datasync:publish": "operate",
        "datasync:run": "operate",
        "datasync:replay": "operate",
        "datasync:schema": "admin",
    },
    page_scopes={"batch": "datasync:run", "replay": "datasync:replay"},
    demo_try=["skybridge datasync status"],
)
