"""The recommend app: ALS item vectors, per-event user fold-in, filtered top-K with diversity."""

from skybridge.apps.kit.manifest import AppSpec

_PKG = "skybridge.apps.recommend"

APP = AppSpec(
    name="recommend",
    title="Recommend",
    description="Real-time recommendations: item vectors from ALS, user vectors folded in on "
    "every event, filtered top-K with diversity, feedback metrics and scheduled retraining.",
    config=f"{_PKG}.config:RecommendConfig",
    backends={
        "kv": None,
        "streams": None,
        "vectors": "embedded://{data_dir}/vectors",
        "llm": "extractive://",
    },
    cli=f"{_PKG}.cli:recommend_app",
    router=f"{_PKG}.router:build_router",
    page=f"{_PKG}.page:render_page",
    page_action=f"{_PKG}.page:handle_action",
    pipelines={"events": f"{_PKG}.pipeline:build_pipeline"},
    jobs={"retrain": f"{_PKG}.jobs:scheduled_retrain"},
    demo=f"{_PKG}.demo:seed",
    handlers={
        "oci-functions": f"{_PKG}.handlers:oci_handler",
        "aws-lambda": f"{_PKG}.handlers:lambda_handler",
    },
    scopes={
        "recommend:read": "read",
        "recommend:feedback": "operate",
        "recommend:generate": "operate",
        "recommend:train": "admin",
    },
    page_query=("user",),
    page_scopes={"show": "recommend:read"},
    demo_try=["skybridge recommend recommend U01", "skybridge recommend report"],
)
