"""The demo of ``skybridge up --demo`` (``make run``): index the bundled handbook, answer one
question.

The manifest marks it ``demo_background``: it runs in the background once the service is up,
because loading the embedding model takes seconds to tens of seconds and every other app's demo
should not wait for it; the page shows the handbook and the answer as soon as they are ready.
Idempotent: unchanged documents are not re-embedded, and the demo question is answered (and
stored for the dashboard) only once.
"""

from __future__ import annotations

from importlib.resources import files

from skybridge.apps.rag.answers import ask
from skybridge.apps.rag.ingest import ingest
from skybridge.apps.rag.service import Context, open_rag

DEMO_QUESTION = "How quickly must a page be acknowledged?"


def demo_folder() -> str:
    return str(files("skybridge.apps.rag") / "handbook")


def demo_answer_key(collection: str) -> str:
    return f"rag/{collection}/demo_answer"


def seed(ctx: Context) -> None:
    """Index the demo handbook and store the demo question's answer."""
    with open_rag(ctx) as rag:
        ingest(rag, demo_folder(), metadata={"team": "platform"})
        key = demo_answer_key(rag.collection)
        if rag.kv.get(key) is None:
            result = ask(rag, DEMO_QUESTION, record=False)
            rag.kv.put_json(key, {"question": DEMO_QUESTION, **result.to_dict()})
