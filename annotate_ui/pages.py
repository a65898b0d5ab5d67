"""The HTML pages (Jinja2, autoescaped). Each has a JSON twin in :mod:`rainset.annotate_ui.api`.

Forms post back here with the session's CSRF token in a hidden ``csrf_token`` field; the
labelling screen's script uses the JSON API with the ``X-CSRF-Token`` header instead.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from rainset.browse import ORDERS
from rainset.errors import REJECT_REASONS, AuthError, DedupeError, InvalidInputError, LabelError
from rainset.labels.agreement import agreement_report, review_queue
from rainset.labels.consensus import current_labels
from rainset.labels.queue import QUEUE_ORDERS, peek_next, progress, release_claims
from rainset.labels.record import adjudicate, my_labels
from rainset.labels.taxonomy import ATTRIBUTES
from rainset.labels.users import add_user, authenticate, disable_user, session_epoch, set_email, user_rows
from rainset.suggestions import current_suggestions

from rainset.annotate_ui.api import (
    MAX_AGE_S,
    REVIEWERS,
    browse_page,
    correct,
    me_of,
    queues_of,
    rejects_of,
    set_session_cookie,
    sign_out_user,
)
from rainset.annotate_ui.captures import capture_view
from rainset.annotate_ui.deps import (
    PageUser,
    Principal,
    SessionDep,
    SettingsDep,
    allow,
    check_same_site,
    reads,
    sign_in_refused,
    signs_out,
    writes,
)
from rainset.annotate_ui.groups import ACTIONS, group_detail, group_page
from rainset.annotate_ui.suggestions import queue_order, remember_order

PAGE_TWINS = {
    "/label": "/api/label",
    "/captures/{capture_id}": "/api/captures/{capture_id}",
    "/review": "/api/review",
    "/agreement": "/api/agreement",
    "/browse": "/api/captures",
    "/groups": "/api/groups",
    "/groups/{key}": "/api/groups/{key}",
    "/admin/users": "/api/users",
    "/admin/queues": "/api/queues",
    "/admin/rejects": "/api/rejects",
}

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


def render(request: Request, name: str, principal: Principal | None, status_code: int = 200,
           **context: Any) -> Response:
    templates = request.app.state.templates
    return templates.TemplateResponse(request, name, {"principal": principal, **context}, status_code=status_code)


def _safe_next(target: str | None) -> str:
    """Only local paths: never another site (open redirect)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/label"


@router.get("/")
def home() -> Response:
    return RedirectResponse("/label", status_code=303)


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:  # noqa: A002 - the query parameter's name
    return render(request, "login.html", None, next=_safe_next(next), error=None)


@router.post("/login", dependencies=[Depends(check_same_site)])
@reads
def login(request: Request, session: SessionDep, token: Annotated[str, Form(max_length=512)],
          next: Annotated[str, Form(max_length=512)] = "/label") -> Response:  # noqa: A002
    try:
        user = authenticate(session, token)
    except AuthError as exc:
        refused = sign_in_refused(request, str(exc))
        page = render(request, "login.html", None, status_code=refused.status_code, next=_safe_next(next),
                      error=str(refused.detail))
        page.headers.update(refused.headers or {})
        return page
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_session_cookie(response, request, user, session_epoch(session, user.id))
    return response


@router.post("/logout")
@signs_out
def logout(request: Request, principal: PageUser, session: SessionDep) -> Response:
    response = RedirectResponse("/login", status_code=303)
    sign_out_user(response, request, session, principal.user)
    return response


@router.get("/label")
@reads
def label_page(request: Request, principal: PageUser, session: SessionDep, settings: SettingsDep,
               order: Annotated[str | None, Query(max_length=16)] = None) -> Response:
    user, chosen = principal.user, queue_order(request, order)
    current = peek_next(session, user, k=settings.k, after=None, order=chosen)
    files = capture_view(session, current.capture_id).files if current else ()
    me = me_of(principal, settings)
    response = render(request, "label.html", principal, me=me, attribute_keys=me.attribute_keys, current=current,
                      files=files, progress=progress(session, user, k=settings.k), order=chosen,
                      orders=QUEUE_ORDERS)
    if order:
        remember_order(response, request, chosen)
    return response


@router.get("/captures/{capture_id}")
@reads
def capture_page(capture_id: str, request: Request, principal: PageUser, session: SessionDep) -> Response:
    view = capture_view(session, capture_id)
    mine = my_labels(session, principal.user, [capture_id]).get(capture_id)
    return render(request, "capture.html", principal, capture=view, my_label=mine,
                  suggestion=current_suggestions(session, [capture_id]).get(capture_id))


@router.get("/review")
@reads
def review_page(request: Request, principal: PageUser, session: SessionDep, settings: SettingsDep) -> Response:
    allow(principal, *REVIEWERS)
    return render(request, "review.html", principal, items=review_queue(session), taxonomy=settings.taxonomy,
                  attributes=ATTRIBUTES, done=request.query_params.get("done"))


@router.post("/review/{capture_id}")
@writes
def review_decide(capture_id: str, principal: PageUser, session: SessionDep, settings: SettingsDep,
                  rain_type: Annotated[str, Form(max_length=64)],
                  attributes: Annotated[list[str], Form()] = []) -> Response:  # noqa: B006 - FastAPI default
    reviewer = allow(principal, *REVIEWERS)
    capture_view(session, capture_id)
    adjudicate(session, reviewer, capture_id, rain_type, attributes, taxonomy=settings.taxonomy,
               taxonomy_version=settings.taxonomy_version)
    return RedirectResponse(f"/review?done={capture_id}", status_code=303)


@router.get("/agreement")
@reads
def agreement_page(request: Request, principal: PageUser, session: SessionDep) -> Response:
    allow(principal, *REVIEWERS)
    return render(request, "agreement.html", principal, report=agreement_report(session),
                  labelled=len(current_labels(session)))


def browse_link(form: dict[str, Any], where: str, offset: int = 0) -> str:
    """A browse URL keeping the form's order, page size and version."""
    return "/browse?" + urlencode({"where": where, "order": form["order"], "limit": form["limit"], "offset": offset,
                                   "version": form["version"]})


def narrowed(where: str, clause: str) -> str:
    """``where`` and ``clause`` (a facet's filter), or just ``clause`` without a filter."""
    return f"({where}) and {clause}" if where.strip() else clause


@router.get("/browse")
@reads
def browse_view(request: Request, principal: PageUser, session: SessionDep,
                where: Annotated[str | None, Query(max_length=10_000)] = None,
                order: Annotated[str, Query(max_length=32)] = "-capture_time",
                limit: Annotated[int, Query()] = 48, offset: Annotated[int, Query()] = 0,
                version: Annotated[str | None, Query(max_length=128)] = None) -> Response:
    form = {"where": where or "", "order": order, "limit": limit, "version": version or ""}
    try:
        page = browse_page(request, session, principal, where, order, limit, offset, version)
    except InvalidInputError as exc:  # the form again, with the reason beside it
        return render(request, "browse.html", principal, status_code=400, page=None, error=str(exc), form=form,
                      orders=ORDERS, link=browse_link, narrowed=narrowed)
    return render(request, "browse.html", principal, page=page, error=None, form=form, orders=ORDERS,
                  link=browse_link, narrowed=narrowed)


@router.get("/groups")
@reads
def groups_view(request: Request, principal: PageUser, session: SessionDep,
                kind: Annotated[str, Query(max_length=16)] = "cluster",
                limit: Annotated[int, Query()] = 24, offset: Annotated[int, Query()] = 0) -> Response:
    allow(principal, *REVIEWERS)
    page = group_page(session, kind, limit, offset)
    return render(request, "groups.html", principal, page=page,
                  link=lambda off: "/groups?" + urlencode({"kind": kind, "limit": limit, "offset": off}))


@router.get("/groups/{key}")
@reads
def group_view(key: str, request: Request, principal: PageUser, session: SessionDep) -> Response:
    allow(principal, *REVIEWERS)
    return render(request, "group.html", principal, group=group_detail(session, key), error=None,
                  done=request.query_params.get("done"))


@router.post("/groups/{key}/{action}")
@writes
def group_correct(key: str, action: str, request: Request, principal: PageUser, session: SessionDep,
                  capture: Annotated[list[str], Form(max_length=1000)] = []) -> Response:  # noqa: B006 - FastAPI default
    if action not in ACTIONS:
        raise HTTPException(404, f"no correction {action!r}; expected one of {', '.join(ACTIONS)}")
    try:
        done = correct(request, session, principal, key, action, capture)
    except (InvalidInputError, DedupeError) as exc:  # the cluster again, with the reason beside it
        session.rollback()
        return render(request, "group.html", principal, status_code=400, group=group_detail(session, key),
                      error=str(exc), done=None)
    target = f"/groups/{done.group}" if done.group else "/groups"
    return RedirectResponse(f"{target}?done={done.correction.id}", status_code=303)


@router.get("/admin/users")
@reads
def users_page(request: Request, principal: PageUser, session: SessionDep) -> Response:
    allow(principal, "admin")
    return render(request, "users.html", principal, users=user_rows(session), created=None, error=None,
                  changed=request.query_params.get("email_set"))


@router.post("/admin/users")
@writes
def users_add(request: Request, principal: PageUser, session: SessionDep,
              name: Annotated[str, Form(max_length=64)], role: Annotated[str, Form(max_length=16)],
              email: Annotated[str, Form(max_length=320)] = "") -> Response:
    allow(principal, "admin")
    try:
        created = add_user(session, name, role, email.strip() or None)
    except LabelError as exc:
        session.rollback()
        return render(request, "users.html", principal, status_code=400, users=user_rows(session), created=None,
                      error=str(exc), changed=None)
    session.commit()
    return render(request, "users.html", principal, users=user_rows(session), created=created, error=None,
                  changed=None)


@router.post("/admin/users/{name}/email")
@writes
def users_email(name: str, request: Request, principal: PageUser, session: SessionDep,
                email: Annotated[str, Form(max_length=320)] = "") -> Response:
    allow(principal, "admin")
    try:
        set_email(session, name, email.strip() or None)
    except LabelError as exc:  # the list again, with the reason beside it
        session.rollback()
        return render(request, "users.html", principal, status_code=400, users=user_rows(session), created=None,
                      error=str(exc), changed=None)
    return RedirectResponse("/admin/users?" + urlencode({"email_set": name}), status_code=303)


@router.post("/admin/users/{name}/disable")
@writes
def users_disable(name: str, request: Request, principal: PageUser, session: SessionDep) -> Response:
    allow(principal, "admin")
    if name != principal.user.name:
        disable_user(session, name)
        request.app.state.identities.clear()
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/admin/rejects")
@reads
def rejects_view(request: Request, principal: PageUser, session: SessionDep,
                 reason: Annotated[str | None, Query(max_length=32)] = None,
                 limit: Annotated[int, Query()] = 50, offset: Annotated[int, Query()] = 0) -> Response:
    page = rejects_of(session, principal, reason, limit, offset)

    def link(off: int) -> str:
        return "/admin/rejects?" + urlencode({**({"reason": page.reason} if page.reason else {}), "limit": limit,
                                              "offset": off})

    return render(request, "rejects.html", principal, page=page, reasons=REJECT_REASONS, link=link)


@router.get("/admin/queues")
@reads
def queues_page(request: Request, principal: PageUser, session: SessionDep, settings: SettingsDep) -> Response:
    allow(principal, "admin")
    return render(request, "queues.html", principal, queues=queues_of(session, settings),
                  released=request.query_params.get("released"))


@router.post("/admin/queues/release")
@writes
def queues_release(principal: PageUser, session: SessionDep, user: Annotated[str, Form(max_length=64)] = "",
                   older_than_min: Annotated[float | None, Form(ge=0, le=MAX_AGE_S / 60,
                                                                allow_inf_nan=False)] = None) -> Response:
    allow(principal, "admin")
    n = release_claims(session, user=user or None, older_than_s=None if older_than_min is None else older_than_min * 60)
    return RedirectResponse(f"/admin/queues?released={n}", status_code=303)
