"""The features app: streaming features into an online store, offline log, inference API."""

from skybridge.apps.kit.manifest import AppSpec

_PKG = "skybridge.apps.features"

APP = AppSpec(
    name="features",
    title="Features",
    description="Streaming features into an online store, an offline log with point-in-time "
    "training sets, and predictions from a model endpoint.",
    config=f"{_PKG}.config:FeaturesConfig",
    backends={
        "kv": None,
        "streams": None,
        "objects": None,
        "models": "local://{data_dir}/features/model.joblib?output=proba",
    },
    backend_settings={"online": "kv"},
    cli=f"{_PKG}.cli:features_app",
    router=f"{_PKG}.router:build_router",
    page=f"{_PKG}.page:render_page",
    page_action=f"{_PKG}.page:handle_action",
    pipelines={"online": f"{_PKG}.worker:build_pipeline"},
    jobs={"compact": f"{_PKG}.maintenance:compact_job"},
    demo=f"{_PKG}.demo:seed_demo",
    demo_services={"events": f"{_PKG}.demo:produce_events"},
    handlers={
        "aws-lambda": f"{_PKG}.handlers:lambda_handler",
        "oci-functions": f"{_PKG}.handlers:oci_handler",
    },
    scopes={
        "features:read": "read",
        "features:predict": "read",
        "features:feedback": "operate",
        "features:train": "operate",
    },
    page_scopes={"lookup": "features:read", "predict": "features:predict"},
    demo_try=["skybridge features get user-01"],
)
