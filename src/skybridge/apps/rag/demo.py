"""The demo of ``skybridge up --demo`` (``make run``): index the bundled handbook, record a
retrieval baseline from its bundled questions (``handbook_eval``, BEIR layout: what
``skybridge rag eval`` reads) and answer one question.

The manifest marks it ``demo_background``: it runs in the background once the service is up,
because loading the embedding model takes seconds to tens of seconds and every other app's demo
should not wait for it; the page shows the handbook and the answer as soon as they are ready.
Idempotent: unchanged documents are not re-embedded, the baseline is recorded only when the
collection has none, and the demo question is answered (stored for the dashboard, and counted
in the rolling retrieval score like any query) only once.
"""

from __future__ import annotations

from importlib.resources import files

from skybridge.apps.rag.answers import ask
from skybridge.apps.rag.datasets import load_query_set
from skybridge.apps.rag.evaluation import evaluate
from skybridge.apps.rag.ingest import ingest
from skybridge.apps.rag.monitoring import baseline_key
from skybridge.apps.rag.service import Context, open_rag

DEMO_QUESTION = "How quickly must a page be acknowledged?"


def demo_folder() -> str:
    return str(files("skybridge.apps.rag") / "handbook")


def demo_query_set() -> str:
    """The handbook's questions with the document that answers each."""
    return str(files("skybridge.apps.rag") / "handbook_eval")


def demo_answer_key(collection: str) -> str:
    return f"rag/{collection}/demo_answer"


def seed(ctx: Context) -> None:
    """Index the demo handbook, record its baseline and store the demo question's answer."""
    with open_rag(ctx) as rag:
        ingest(rag, demo_folder(), metadata={"team": "platform"})
        if rag.kv.get(baseline_key(rag.collection)) is None:
            evaluate(rag, load_query_set(demo_query_set()), set_baseline=True)
        key = demo_answer_key(rag.collection)
        if rag.kv.get(key) is None:
            result = ask(rag, DEMO_QUESTION)
            rag.kv.put_json(key, {"question": DEMO_QUESTION, **result.to_dict()})
