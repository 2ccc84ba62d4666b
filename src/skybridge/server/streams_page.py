"""The Streams page (``/streams``): topics, consumer groups and their lag, dead letters.

Showing it needs ``streams:read``; the replay buttons POST to ``/streams/replay`` (CSRF-checked,
``streams:replay``). It reads the configured ``backends.streams`` on every load (see
:mod:`skybridge.runtime.inventory`). Dead letters are shown by their error and where they came
from, never by their value: the newest :data:`LETTERS_SHOWN` of each topic, newest first.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import RedirectResponse

from skybridge.backends import streams as stream_backends
from skybridge.core.clock import when
from skybridge.core.errors import SkybridgeError
from skybridge.core.locations import hide_in, hide_locations
from skybridge.core.observability import get_logger
from skybridge.core.secret import scrub
from skybridge.core.urls import mask_url
from skybridge.core.words import counted
from skybridge.runtime.deadletter import DeadLetter, DeadLetters
from skybridge.runtime.inventory import StreamsInventory, inventory
from skybridge.server.charts import STREAMS_CHARTS
from skybridge.server.pages import render
from skybridge.server.security import check_csrf, need, require_session
from skybridge.server.session import Session
from skybridge.server.state import ServiceState, locations_hidden, service_state

log = get_logger(__name__)
ui = APIRouter(include_in_schema=False)
State = Annotated[ServiceState, Depends(service_state)]
LoggedIn = Annotated[Session, Depends(require_session)]
FormField = Annotated[str, Form()]
#: Longest error text shown for a dead letter.
ERROR_SHOWN = 300
#: Dead letters shown per topic (the newest); the CLI lists them all.
LETTERS_SHOWN = 50


def _url(state: ServiceState) -> str:
    return state.settings.backends.named().get("streams", "")


def _letter_row(letter: DeadLetter) -> dict[str, Any]:
    error = scrub(letter.error)
    return {
        "id": letter.id,
        "source": letter.source if letter.offset >= 0 else "—",
        "error_type": letter.error_type,
        "error": error if len(error) <= ERROR_SHOWN else error[:ERROR_SHOWN] + "…",
        "pipeline": letter.pipeline,
        "failed": when(letter.failed_at, seconds=True),
        "replayed": letter.replayed,
    }


def _view(found: StreamsInventory) -> dict[str, Any]:
    return {
        "topics": found.topics,
        "groups": sorted(found.groups, key=lambda g: (g.group, g.topic)),
        "dead_letters": [
            {
                "topic": t.topic,
                "waiting": t.waiting,
                "total": len(t.letters),
                "letters": [_letter_row(x) for x in reversed(t.letters[-LETTERS_SHOWN:])],
            }
            for t in found.dead_letters
        ],
    }


def _read(state: ServiceState) -> dict[str, Any]:
    empty: dict[str, Any] = {"topics": [], "groups": [], "dead_letters": [], "error": None}
    try:
        with stream_backends.connect(_url(state), setting="backends.streams") as backend:
            return empty | _view(inventory(backend))
    except SkybridgeError as exc:
        return empty | {"error": str(exc), "hint": exc.hint}


def _page(
    request: Request, session: Session, state: ServiceState, status: int = 200, **extra: Any
) -> Response:
    context: dict[str, Any] = {"hint": None, "notice": None, "replay_error": None}
    read = extra.pop("read", None)
    context |= (read if read is not None else _read(state)) | extra
    url = mask_url(_url(state))
    hidden = locations_hidden(request)
    if hidden is not None:  # where the log lives on the host, in its URL and failures' text
        url = hide_locations(url, hidden)
        context = hide_in(context, hidden)
    return render(
        request,
        "streams.html",
        session=session,
        active="streams",
        status_code=status,
        charts=True,
        stream_charts=STREAMS_CHARTS,
        backend_url=url,
        **context,
    )


#: What a replay notice adds: a letter whose cause is not fixed fails again.
AGAIN = (
    " A letter whose cause is not fixed fails again and comes back as a new dead letter; "
    "its error says what to fix."
)


@ui.get("/streams")
def streams_page(
    request: Request,
    session: LoggedIn,
    state: State,
    replayed: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
    topic: Annotated[str, Query(max_length=300)] = "",
) -> Response:
    need(request, "streams:read")
    page = _read(state)
    notice = None
    if replayed is not None and any(t["topic"] == topic for t in page["dead_letters"]):
        notice = (
            f"Replayed {counted(replayed, 'dead letter')} to '{topic}'." + AGAIN
            if replayed
            else f"'{topic}' had no dead letters waiting."
        )
    return _page(request, session, state, notice=notice, read=page)


@ui.get("/streams/replay")
def replay_page() -> Response:
    """The replay form's address, opened or reloaded: back to the page it belongs to."""
    return RedirectResponse("/streams", status_code=303)


@ui.post("/streams/replay")
def replay(
    request: Request,
    session: LoggedIn,
    state: State,
    topic: FormField = "",
    letter: FormField = "",
    csrf: FormField = "",
) -> Response:
    """Republish one dead letter (``letter``: its id) or every waiting one of ``topic``."""
    check_csrf(session, csrf)
    need(request, "streams:replay")
    if not topic:
        return _page(request, session, state, 400, replay_error="name the topic to replay")
    try:
        with stream_backends.connect(_url(state), setting="backends.streams") as backend:
            replayed = DeadLetters(backend, topic).replay([letter] if letter else None)
    except SkybridgeError as exc:
        return _page(request, session, state, 400, replay_error=str(exc))
    log.info("streams.replayed", topic=topic, letters=len(replayed), by=session.principal.name)
    # Post, redirect, get: reloading the page shows it again instead of replaying again.
    query = urlencode({"replayed": len(replayed), "topic": topic})
    return RedirectResponse(f"/streams?{query}", status_code=303)
