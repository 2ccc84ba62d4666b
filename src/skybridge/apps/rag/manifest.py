"""The rag app: retrieval-augmented answers over a team's documents, with evaluation."""

from skybridge.apps.kit.manifest import AppSpec

_PKG = "skybridge.apps.rag"

APP = AppSpec(
    name="rag",
    title="RAG",
    description="Index documents (embedded or pgvector), retrieve with hybrid search and "
    "filters, answer with citations, evaluate and alert on retrieval quality.",
    config=f"{_PKG}.config:RagConfig",
    backends={
        "kv": None,
        "notify": None,
        "vectors": "embedded://{data_dir}/vectors",
        "embeddings": "local://all-MiniLM-L6-v2",
        "llm": "extractive://",
    },
    cli=f"{_PKG}.cli:rag_app",
    router=f"{_PKG}.router:build_router",
    page=f"{_PKG}.page:render_page",
    page_action=f"{_PKG}.page:handle_action",
    jobs={"eval": f"{_PKG}.jobs:scheduled_eval"},
    demo=f"{_PKG}.demo:seed",
    demo_background=True,
    handlers={
        "aws-lambda": f"{_PKG}.handlers:lambda_handler",
        "oci-functions": f"{_PKG}.handlers:oci_handler",
    },
    scopes={"rag:read": "read", "rag:ingest": "operate"},
    page_scopes={"ask": "rag:read"},
    demo_try=['skybridge rag ask "How quickly must a page be acknowledged?"'],
)
