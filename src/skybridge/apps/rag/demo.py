"""The demo of ``skybridge up --demo`` (``make run``): index the bundled handbook, answer one
question.

It runs as a demo service, in the background once the service is up, because loading the
embedding model takes seconds to tens of seconds and every other app's demo should not wait for
it; the page shows the handbook and the answer as soon as they are ready. Idempotent:
unchanged documents are not re-embedded, and the demo question is answered (and stored for the
dashboard) only once.
"""

from __future__ import annotations

import threading
from importlib.resources import files

from skybridge.apps.rag.answers import ask
from skybridge.apps.rag.ingest import ingest
from skybridge.apps.rag.service import Context, open_rag
from skybridge.core.errors import SkybridgeError
from skybridge.core.observability import get_logger

log = get_logger(__name__)

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


def index_handbook(ctx: Context, stop: threading.Event) -> None:
    """Demo service: :func:`seed` in a daemon thread, returning as soon as ``stop`` is set.

    Loading the model can take longer than the service may take to stop, so the work is not
    waited for: a stop halfway leaves the index consistent (each batch is one transaction and
    a document's entry flips only after its chunks are written) and the next start finishes it.
    """
    worker = threading.Thread(
        target=_seed_logged, args=(ctx,), name="rag-demo-handbook", daemon=True
    )
    worker.start()
    stop.wait()


def _seed_logged(ctx: Context) -> None:
    try:
        seed(ctx)
    except SkybridgeError as exc:
        log.warning("rag.demo_failed", reason=str(exc))
