"""The dashboard: login/logout, Overview, Backends, Tokens and one page per installed app.

Forms are protected twice against cross-site requests: cookies are ``SameSite=Strict`` and every
form carries a CSRF token bound to the session (the login form to a signed pre-login cookie).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from skybridge.apps.kit.manifest import QUERY_VALUE_MAX, AppSpec
from skybridge.apps.kit.web import ACTOR_FIELD, AppPage, Confirmation
from skybridge.auth.scopes import ROLES
from skybridge.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from skybridge.core.locations import hide_in
from skybridge.core.observability import get_logger
from skybridge.server.charts import OVERVIEW_CHARTS
from skybridge.server.health import probe_shown
from skybridge.server.pages import render, render_app_page
from skybridge.server.security import allowed, check_csrf, current_session, need, require_session
from skybridge.server.session import (
    LOGIN_COOKIE,
    LOGIN_MAX_AGE,
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    Session,
    safe_equal,
)
from skybridge.server.state import ServiceState, locations_hidden, service_state

log = get_logger(__name__)
ui = APIRouter(include_in_schema=False)
State = Annotated[ServiceState, Depends(service_state)]
LoggedIn = Annotated[Session, Depends(require_session)]
FormField = Annotated[str, Form()]
#: The form field a confirmation page adds to the form it posts again.
CONFIRMED = "confirmed"


def _set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def _local_path(target: str) -> str:
    """``target`` if it is a path on this site (``/ui/costs?x=1``), else ``/``: a login link
    must not send anyone to another site (``//evil.example``, ``/\\evil``, ``https://...``)."""
    if (
        not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or any(c in target for c in "\\\r\n\t")
        or len(target) > 2000
        or target.startswith(("/login", "/logout"))
    ):
        return "/"
    return target


_SIGNED_OUT = {"revoked": "Your token was revoked, so you were signed out. Sign in with another."}


def _login_page(
    request: Request,
    state: ServiceState,
    error: str | None,
    status: int,
    next_page: str = "/",
    notice: str | None = None,
) -> Response:
    nonce = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        session=None,
        active="login",
        csrf=nonce,
        error=error,
        notice=notice,
        next_page=_local_path(next_page),
        status_code=status,
    )
    _set_cookie(
        request, response, LOGIN_COOKIE, state.signer.dumps("login", {"n": nonce}), LOGIN_MAX_AGE
    )
    return response


@ui.get("/login")
def login_form(
    request: Request,
    state: State,
    next_page: Annotated[str, Query(alias="next")] = "/",
    signed_out: str = "",
) -> Response:
    if current_session(request) is not None:
        return RedirectResponse(_local_path(next_page), status_code=303)
    return _login_page(request, state, None, 200, next_page, _SIGNED_OUT.get(signed_out))


@ui.post("/login")
def login(
    request: Request,
    state: State,
    token: FormField = "",
    csrf: FormField = "",
    next_page: Annotated[str, Form(alias="next")] = "/",
) -> Response:
    expected = state.signer.loads("login", request.cookies.get(LOGIN_COOKIE), max_age=LOGIN_MAX_AGE)
    if not expected or not safe_equal(str(expected.get("n", "")), csrf):
        expired = "The login form expired. Please try again."
        return _login_page(request, state, expired, 400, next_page)
    principal = state.tokens.verify(token.strip())
    if principal is None:
        log.info("dashboard.login_failed", client=request.client.host if request.client else None)
        unknown = "That token is unknown or has been revoked."
        return _login_page(request, state, unknown, 401, next_page)
    token_hash = state.tokens.active_hash(principal)
    fingerprint = state.signer.fingerprint(token_hash) if token_hash else None
    session = Session.start(principal, fingerprint)
    response = RedirectResponse(_local_path(next_page), status_code=303)
    cookie = state.signer.dumps("session", session.to_payload())
    _set_cookie(request, response, SESSION_COOKIE, cookie, SESSION_MAX_AGE)
    response.delete_cookie(LOGIN_COOKIE, path="/", httponly=True, samesite="strict")
    log.info("dashboard.login", principal=principal.name)
    return response


@ui.post("/logout")
def logout(request: Request, csrf: FormField = "") -> Response:
    """Delete the session cookie in this browser.

    Sessions are stateless, so a copy of the cookie stays valid until it expires (12 h after
    login); revoke the token to end all of its sessions everywhere.
    """
    session = current_session(request)
    if session is not None:
        check_csrf(session, csrf)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@ui.get("/")
def overview(request: Request, session: LoggedIn, state: State) -> Response:
    need(request, "service:read")
    tokens = state.tokens.list()
    return render(
        request,
        "overview.html",
        session=session,
        active="overview",
        backends=probe_shown(state.settings, apps=state.apps, hidden=locations_hidden(request)),
        apps=state.apps,
        active_tokens=sum(1 for t in tokens if t.active),
        overview_charts=OVERVIEW_CHARTS,
        charts=True,
    )


@ui.get("/backends")
def backends(request: Request, session: LoggedIn, state: State) -> Response:
    need(request, "service:read")
    return render(
        request,
        "backends.html",
        session=session,
        active="backends",
        backends=probe_shown(state.settings, apps=state.apps, hidden=locations_hidden(request)),
    )


#: Revoked tokens shown on the tokens page (the newest); ``skybridge token list`` lists all.
REVOKED_SHOWN = 20


def _tokens_page(
    request: Request, session: Session, state: ServiceState, **extra: object
) -> Response:
    context: dict[str, object] = {"created": None, "error": None, "notice": None, **extra}
    status = 400 if context["error"] else 200
    every = state.tokens.list()
    revoked = [t for t in every if not t.active]
    shown_revoked = {t.id for t in revoked[-REVOKED_SHOWN:]}  # the newest revoked ones
    return render(
        request,
        "tokens.html",
        session=session,
        active="tokens",
        tokens=[t for t in every if t.active or t.id in shown_revoked],
        hidden_revoked=len(revoked) - len(shown_revoked),
        roles=ROLES,
        status_code=status,
        **context,
    )


@ui.get("/tokens")
def tokens(request: Request, session: LoggedIn, state: State, revoked: str = "") -> Response:
    need(request, "tokens:manage")
    notice = None
    if revoked and any(t.name == revoked and not t.active for t in state.tokens.list()):
        notice = f"Token '{revoked}' was revoked. Requests using it are now refused."
    return _tokens_page(request, session, state, notice=notice)


@ui.post("/tokens")
def create_token(
    request: Request,
    session: LoggedIn,
    state: State,
    name: FormField = "",
    role: FormField = "read",
    csrf: FormField = "",
) -> Response:
    check_csrf(session, csrf)
    need(request, "tokens:manage")
    try:
        grant = state.scopes.check_grant([role], session.principal.grant)
        info, token = state.tokens.create(name.strip(), grant)
    except (ValidationError, PermissionDenied, Conflict) as exc:
        return _tokens_page(request, session, state, error=str(exc))
    log.info("token.created", name=info.name, by=session.principal.name)
    return _tokens_page(request, session, state, created={"info": info, "token": token.reveal()})


def _confirm_page(
    request: Request,
    session: Session,
    *,
    active: str,
    heading: str,
    question: str,
    action_url: str,
    cancel_url: str,
    fields: Mapping[str, str],
    confirm_label: str = "Confirm",
    detail: str | None = None,
) -> Response:
    """Ask before a form changes something that cannot be taken back: the same form again,
    with ``confirmed=yes``, or a way back (pages run no scripts, so no dialog box)."""
    return render(
        request,
        "confirm.html",
        session=session,
        active=active,
        heading=heading,
        question=question,
        detail=detail,
        action_url=action_url,
        cancel_url=cancel_url,
        fields={k: v for k, v in fields.items() if k not in ("csrf", CONFIRMED)},
        confirm_label=confirm_label,
    )


@ui.post("/tokens/{name}/revoke")
def revoke_token(
    request: Request,
    name: str,
    session: LoggedIn,
    state: State,
    csrf: FormField = "",
    confirmed: FormField = "",
) -> Response:
    check_csrf(session, csrf)
    need(request, "tokens:manage")
    token = next((t for t in state.tokens.list() if t.name == name and t.active), None)
    if token is None:
        return _tokens_page(request, session, state, error=f"no active token named '{name}'")
    try:
        state.scopes.check_revoke(name, token.scopes, session.principal.grant)
    except PermissionDenied as exc:
        return _tokens_page(request, session, state, error=str(exc))
    own = session.principal.token_id == token.id
    if confirmed != "yes":
        return _confirm_page(
            request,
            session,
            active="tokens",
            heading="Revoke a token",
            question=f"Revoke the token {name!r}? Every request that uses it is refused from "
            "now on; a revoked token cannot be restored.",
            detail="It is the token you are signed in with: you will be signed out."
            if own
            else None,
            action_url=f"/tokens/{quote(name)}/revoke",
            cancel_url="/tokens",
            fields={},
            confirm_label="Revoke",
        )
    try:
        state.tokens.revoke(name)
    except NotFound as exc:
        return _tokens_page(request, session, state, error=str(exc))
    log.info("token.revoked", name=name, by=session.principal.name)
    if own:
        return RedirectResponse("/login?signed_out=revoked", status_code=303)
    return RedirectResponse(f"/tokens?revoked={quote(name)}", status_code=303)


def _app_spec(state: ServiceState, app_name: str) -> AppSpec:
    spec = next((a for a in state.apps if a.name == app_name and a.page is not None), None)
    if spec is None:
        raise HTTPException(404, f"no dashboard page for an app called '{app_name}'")
    return spec


def _without_locations(page: AppPage, data_dir: Path) -> AppPage:
    """``page`` with its failure text (``error``, ``hint``, and rows' ``last_error``,
    ``detail`` and ``error``: often a failure's text, naming files) without where files live
    on the host, for a session without ``service:locations``."""
    return replace(page, context=hide_in(dict(page.context), data_dir))


def _app_response(
    request: Request, session: Session, spec: AppSpec, content: str | AppPage
) -> Response:
    hidden = locations_hidden(request)
    if isinstance(content, AppPage) and hidden is not None:
        content = _without_locations(content, hidden)
    html = render_app_page(content, csrf=session.csrf, can=partial(allowed, request))
    charts = isinstance(content, AppPage) and content.has_charts()
    return render(
        request,
        "app.html",
        session=session,
        active=f"app:{spec.name}",
        app=spec,
        content=html,
        charts=charts,
    )


@ui.get("/ui/{app_name}")
def app_page(request: Request, app_name: str, session: LoggedIn, state: State) -> Response:
    """An app's page. A plain function, so all of it runs in a worker thread: importing the
    app's page module on first use, the page's own reads, and compiling and rendering its
    template (tens to hundreds of milliseconds together for some pages), none of which may hold
    up the event loop that ``/healthz`` shares."""
    spec = _app_spec(state, app_name)
    need(request, spec.page_scope)
    page = spec.load("page")
    if spec.page_query:
        content = page(state.context(spec), _page_query(request, spec.page_query))
    else:
        content = page(state.context(spec))
    return _app_response(request, session, spec, content)


def _page_query(request: Request, names: Sequence[str]) -> dict[str, str]:
    """The GET parameters an app page reads (``AppSpec.page_query``), checked: one value each,
    at most ``QUERY_VALUE_MAX`` characters, no control characters (else 422)."""
    query: dict[str, str] = {}
    for name in names:
        values = request.query_params.getlist(name)
        if not values:
            continue
        value = values[-1]
        if len(value) > QUERY_VALUE_MAX or any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise HTTPException(
                422,
                f"query parameter {name!r} must be at most {QUERY_VALUE_MAX} characters of "
                "printable text",
            )
        query[name] = value
    return query


@ui.post("/ui/{app_name}")
async def app_page_action(
    request: Request, app_name: str, session: LoggedIn, state: State
) -> Response:
    """A form posted by an app's page: CSRF checked here, then handed to ``page_action``.

    A coroutine only to read the form; everything after it runs in a worker thread."""
    spec = _app_spec(state, app_name)
    if spec.page_action is None:
        raise HTTPException(405, f"the '{app_name}' page has no forms")
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    form.pop(ACTOR_FIELD, None)  # set by the service, not the browser
    check_csrf(session, form.pop("csrf", ""))
    scope = spec.page_scopes.get(form.get("action", ""))
    if scope is None:
        known = ", ".join(sorted(spec.page_scopes)) or "none"
        raise HTTPException(400, f"unknown action {form.get('action', '')!r}; use one of {known}")
    need(request, scope)
    return await run_in_threadpool(_page_action, request, session, spec, state, form)


def _page_action(
    request: Request, session: Session, spec: AppSpec, state: ServiceState, form: dict[str, str]
) -> Response:
    """The confirmation asked for, or the action done and the page it leads to (in a worker
    thread: the app's code, and compiling and rendering its template, stay off the event
    loop)."""
    if spec.page_confirm is not None and form.get(CONFIRMED) != "yes":
        asked = spec.load("page_confirm")(state.context(spec), form)
        if asked:
            confirmation = asked if isinstance(asked, Confirmation) else Confirmation(asked)
            return _confirm_page(
                request,
                session,
                active=f"app:{spec.name}",
                heading=spec.title,
                question=confirmation.question,
                action_url=f"/ui/{spec.name}",
                cancel_url=f"/ui/{spec.name}",
                fields={**form, **confirmation.fields},
            )
    form[ACTOR_FIELD] = session.principal.name  # never what the browser sent
    content = spec.load("page_action")(state.context(spec), form)
    return _app_response(request, session, spec, content)
