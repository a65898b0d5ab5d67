"""The JSON API: every page's twin, and what the labelling screen's script calls.

Routes are thin: they check who is asking, call ``rainset.labels`` (and the capture look-ups of
:mod:`rainset.annotate_ui.captures`), and return the library's dataclasses as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from rainset.browse import BrowsePage, browse
from rainset.errors import AuthError, ConfigError, NotInQueueError
from rainset.labels.agreement import AgreementReport, agreement_report, review_queue
from rainset.labels.consensus import CaptureLabels, LabelRecord, current_labels
from rainset.labels.queue import Progress, QueueItem, next_capture, peek_next, progress, release_claims
from rainset.labels.record import adjudicate, my_labels, record_label, undo_last
from rainset.labels.taxonomy import ATTRIBUTES
from rainset.labels.users import (
    EmailChange,
    NewUser,
    UserInfo,
    UserRow,
    add_user,
    authenticate,
    disable_user,
    end_sessions,
    list_users,
    session_epoch,
    set_email,
    user_rows,
)
from rainset.rejects import RejectPage, reject_page
from rainset.suggestions import SuggestionView, current_suggestions

from rainset.annotate_ui.captures import (
    CaptureView,
    PathCache,
    capture_view,
    may_view_full,
    original_of,
    preview_file,
)
from rainset.annotate_ui.config import AppSettings
from rainset.annotate_ui.deps import (
    ApiUser,
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
from rainset.annotate_ui.groups import CorrectionDone, GroupDetail, GroupPage, correct_group, group_detail, group_page
from rainset.annotate_ui.security import COOKIE_NAME, csrf_token, make_cookie
from rainset.annotate_ui.strictjson import StrictJSONRoute
from rainset.annotate_ui.suggestions import RecordedLabel, queue_order, recorded_label
from rainset.annotate_ui.tiles import TileGrid

REVIEWERS = ("reviewer", "admin")
PREVIEW_CACHE = "private, max-age=3600"
JPEG = {"content": {"image/jpeg": {}}, "description": "a JPEG image"}

MAX_AGE_S = 10 * 365 * 24 * 3600  # ten years: longer ages are typos (and overflow dates)

router = APIRouter(prefix="/api", route_class=StrictJSONRoute)


class TokenIn(BaseModel):
    """A user's token, as printed by ``rainset users add``."""

    token: str = Field(min_length=1, max_length=512)


class LabelIn(BaseModel):
    """One label from the labelling screen."""

    capture_id: str = Field(max_length=64)
    rain_type: str = Field(max_length=64)
    attributes: list[str] = Field(default_factory=list, max_length=16)
    duration_ms: int | None = Field(default=None, ge=0, le=24 * 3600 * 1000)
    suggestion: str | None = Field(default=None, max_length=64,
                                   description="the rain type suggested on screen when labelling (none: null)")


class DecisionIn(BaseModel):
    """A reviewer's decision on a capture."""

    rain_type: str = Field(max_length=64)
    attributes: list[str] = Field(default_factory=list, max_length=16)


class CapturesIn(BaseModel):
    """The members a cluster correction names: two for not-duplicate, one or more for split, one for representative."""

    captures: list[Annotated[str, Field(max_length=64)]] = Field(min_length=1, max_length=1000)


class UserIn(BaseModel):
    """A user to create."""

    name: str = Field(max_length=64)
    role: str = Field(max_length=16)
    email: str | None = Field(default=None, max_length=320, description="optional; Label Studio identifies the "
                                                                       "user by it")


class EmailIn(BaseModel):
    """A user's new e-mail; null clears it (interchange then uses NAME@rainset.invalid)."""

    email: str | None = Field(max_length=320)


class ReleaseIn(BaseModel):
    """Which unlabelled queue claims to free: one user's (or everyone's), older than some time."""

    user: str | None = Field(default=None, max_length=64)
    older_than_s: float | None = Field(default=None, ge=0, le=MAX_AGE_S, allow_inf_nan=False)


@dataclass(frozen=True)
class QueueRow:
    """One user's place in the queues."""

    user: UserInfo
    progress: Progress


@dataclass(frozen=True)
class Queues:
    """Twin of the queues page: the taxonomy in force, K, and every enabled user's progress."""

    taxonomy: tuple[str, ...]
    taxonomy_version: int
    annotators_per_capture: int
    users: list[QueueRow]


@dataclass(frozen=True)
class Released:
    """How many claims a release freed."""

    released: int


@dataclass(frozen=True)
class Me:
    """The signed-in user and the vocabulary of the labelling screen."""

    user: UserInfo
    via: str
    csrf_token: str | None
    taxonomy: tuple[str, ...]
    taxonomy_version: int
    attributes: tuple[str, ...]
    attribute_keys: dict[str, str]
    annotators_per_capture: int


@dataclass(frozen=True)
class LabelScreen:
    """Twin of the labelling page: who, the vocabulary, progress and the capture up next."""

    me: Me
    progress: Progress
    current: QueueItem | None
    order: str = "default"


@dataclass(frozen=True)
class NextCapture:
    """The capture claimed for the user now and their progress: labelled so far, and in all.

    ``done`` and ``total`` come from the item (``position - 1`` and ``total``); with an empty
    queue (``item`` None) from :func:`rainset.labels.queue.progress`.
    """

    item: QueueItem | None
    done: int
    total: int


@dataclass(frozen=True)
class Undone:
    """The capture whose label an undo retracted (None when there was nothing to undo)."""

    capture_id: str | None


@dataclass(frozen=True)
class CaptureDetail:
    """Twin of the capture page: the capture and the caller's own label of it."""

    capture: CaptureView
    my_label: LabelRecord | None
    suggestion: SuggestionView | None = None


RESERVED_KEYS = frozenset("uz?")


def attribute_keys(attributes: tuple[str, ...]) -> dict[str, str]:
    """The key toggling each attribute: its first letter not taken by another one or by u, z, ?."""
    keys: dict[str, str] = {}
    for name in attributes:
        free = [c for c in name.lower() if c.isalpha() and c not in RESERVED_KEYS and c not in keys.values()]
        if free:
            keys[name] = free[0]
    return keys


def me_of(principal: Principal, settings: AppSettings) -> Me:
    """The signed-in user and the labelling vocabulary of this store."""
    return Me(principal.user, principal.via, principal.csrf, settings.taxonomy, settings.taxonomy_version,
              ATTRIBUTES, attribute_keys(ATTRIBUTES), settings.k)


def set_session_cookie(response: Response, request: Request, user: UserInfo, epoch: int) -> str:
    """Sign ``user`` in on ``response`` under their session ``epoch``; returns the new session's CSRF token."""
    settings = request.app.state.settings
    value = make_cookie(request.app.state.secret, user.id, epoch)
    response.set_cookie(COOKIE_NAME, value, max_age=int(settings.session_hours * 3600), path="/",
                        secure=settings.cookie_secure, httponly=True, samesite="strict")
    return csrf_token(request.app.state.secret, value)


def clear_session_cookie(response: Response, request: Request) -> None:
    """Delete the session cookie, with the attributes it was set with."""
    response.delete_cookie(COOKIE_NAME, path="/", secure=request.app.state.settings.cookie_secure, httponly=True,
                           samesite="strict")


def sign_out_user(response: Response, request: Request, session: Session, user: UserInfo) -> None:
    """End every session of ``user`` (their epoch moves on) and delete this browser's cookie.

    On a read-only store the epoch cannot move: only this browser's cookie is deleted, and the
    user's sessions end by expiry (``--session-hours``) or when the server stops (docs/admin-guide.md).
    """
    if not request.app.state.settings.store.read_only:
        end_sessions(session, user.id)
        request.app.state.identities.clear()
    clear_session_cookie(response, request)


def check_full_view(session: Session, principal: Principal, capture_id: str) -> None:
    """An annotator sees a capture at 100 % only while it is in their queue or once they labelled it.

    Raises:
        NotInQueueError: (403) for an annotator and any other capture; reviewers and admins see all.
    """
    if principal.user.role in REVIEWERS:
        return
    if not may_view_full(session, principal.user, capture_id):
        raise NotInQueueError(f"capture {capture_id} is not in your queue: the 100 % view shows only "
                              "captures you hold or labelled")


@router.post("/session", response_model=Me, dependencies=[Depends(check_same_site)],
             summary="Sign in with a token: sets the session cookie")
@reads
def sign_in(body: TokenIn, request: Request, response: Response, session: SessionDep, settings: SettingsDep) -> Me:
    try:
        user = authenticate(session, body.token)
    except AuthError as exc:
        raise sign_in_refused(request, str(exc)) from exc
    csrf = set_session_cookie(response, request, user, session_epoch(session, user.id))
    return me_of(Principal(user, "cookie", csrf), settings)


@router.delete("/session", status_code=204,
               summary="Sign out: ends every session of the caller and clears the session cookie "
                       "(a read-only store: clears the cookie only)")
@signs_out
def sign_out(principal: ApiUser, response: Response, request: Request, session: SessionDep) -> None:
    sign_out_user(response, request, session, principal.user)


@router.get("/me", response_model=Me, summary="The signed-in user and the label vocabulary")
async def me(principal: ApiUser, settings: SettingsDep) -> Me:
    return me_of(principal, settings)


OrderQuery = Annotated[str | None, Query(max_length=16, description="default, confidence or disagreement")]


@router.get("/label", response_model=LabelScreen, summary="Twin of the labelling page")
@reads
def label_screen(principal: ApiUser, session: SessionDep, settings: SettingsDep, request: Request,
                 order: OrderQuery = None) -> LabelScreen:
    user, chosen = principal.user, queue_order(request, order)
    return LabelScreen(me_of(principal, settings), progress(session, user, k=settings.k),
                       peek_next(session, user, k=settings.k, after=None, order=chosen), chosen)


@router.post("/queue/next", response_model=NextCapture, summary="Claim (or get back) the capture to label now")
@writes
def queue_next(principal: ApiUser, session: SessionDep, settings: SettingsDep, request: Request,
               order: OrderQuery = None) -> NextCapture:
    item = next_capture(session, principal.user, k=settings.k, order=queue_order(request, order))
    if item is not None:
        return NextCapture(item, item.position - 1, item.total)
    left = progress(session, principal.user, k=settings.k)
    return NextCapture(None, left.done, left.done + left.assigned + left.remaining_in_store)


@router.get("/queue/peek", response_model=QueueItem | None, summary="The capture likely to come after one (prefetch)")
@reads
def queue_peek(principal: ApiUser, session: SessionDep, settings: SettingsDep, request: Request,
               after: Annotated[str | None, Query(max_length=64)] = None, order: OrderQuery = None) -> QueueItem | None:
    return peek_next(session, principal.user, k=settings.k, after=after, order=queue_order(request, order))


@router.get("/progress", response_model=Progress, summary="Done, held and claimable captures of the caller")
@reads
def my_progress(principal: ApiUser, session: SessionDep, settings: SettingsDep) -> Progress:
    return progress(session, principal.user, k=settings.k)


@router.post("/labels", response_model=RecordedLabel, status_code=201, summary="Label a capture")
@writes
def post_label(body: LabelIn, principal: ApiUser, session: SessionDep, settings: SettingsDep) -> RecordedLabel:
    rec = record_label(session, principal.user, body.capture_id, body.rain_type, body.attributes,
                       taxonomy=settings.taxonomy, taxonomy_version=settings.taxonomy_version,
                       duration_ms=body.duration_ms, suggestion=body.suggestion)
    return recorded_label(session, rec)


@router.post("/labels/undo", response_model=Undone, summary="Retract the caller's latest label")
@writes
def post_undo(principal: ApiUser, session: SessionDep) -> Undone:
    return Undone(undo_last(session, principal.user))


@router.get("/labels/mine", response_model=dict[str, LabelRecord], summary="The caller's own labels")
@reads
def get_my_labels(principal: ApiUser, session: SessionDep,
                  capture_id: Annotated[list[str] | None, Query(max_length=500)] = None) -> dict[str, LabelRecord]:
    return my_labels(session, principal.user, capture_id)


BROWSE_ORDERS = "-capture_time (default), capture_time, -sharpness, sharpness, -confidence or confidence"


def browse_page(request: Request, session: Session, principal: Principal, where: str | None, order: str,
                limit: int, offset: int, version: str | None) -> BrowsePage:
    """A browse page for a reviewer or admin (annotators: 403, they must not see others' labels)."""
    allow(principal, *REVIEWERS)
    return browse(session, where=where, order=order, limit=limit, offset=offset, version=version or None,
                  store=request.app.state.settings.store, cache=request.app.state.browse)


@router.get("/captures", response_model=BrowsePage,
            summary="Twin of the browse page: captures matching a filter, sorted and paged, with facet counts "
                    "(reviewers and admins)")
@reads
def get_captures(principal: ApiUser, session: SessionDep, request: Request,
                 where: Annotated[str | None, Query(max_length=10_000,
                                                    description="a filter, as 'rainset labels set --where'")] = None,
                 order: Annotated[str, Query(max_length=32, description=BROWSE_ORDERS)] = "-capture_time",
                 limit: Annotated[int, Query(description="captures per page, 1 to 500")] = 48,
                 offset: Annotated[int, Query(description="captures to skip")] = 0,
                 version: Annotated[str | None, Query(max_length=128,
                                                      description="a manifest version: adds split")] = None,
                 ) -> BrowsePage:
    return browse_page(request, session, principal, where, order, limit, offset, version)


@router.get("/captures/{capture_id}", response_model=CaptureDetail, summary="Twin of the capture page")
@reads
def get_capture(capture_id: str, principal: ApiUser, session: SessionDep) -> CaptureDetail:
    view = capture_view(session, capture_id)
    return CaptureDetail(view, my_labels(session, principal.user, [capture_id]).get(capture_id),
                         current_suggestions(session, [capture_id]).get(capture_id))


@router.get("/captures/{capture_id}/labels", response_model=CaptureLabels,
            summary="Everyone's labels of a capture (reviewers and admins)")
@reads
def get_capture_labels(capture_id: str, principal: ApiUser, session: SessionDep) -> CaptureLabels:
    allow(principal, *REVIEWERS)
    capture_view(session, capture_id)
    found = current_labels(session, [capture_id]).get(capture_id)
    return found or CaptureLabels(capture_id, None, (), None, None, False, ())


def _find_preview(request: Request, capture_id: str) -> Path:
    with request.app.state.catalog.session() as session:
        return preview_file(request.app.state.settings.store, session, capture_id)


@router.get("/captures/{capture_id}/preview.jpg", response_class=FileResponse, responses={200: JPEG},
            summary="The capture's preview, fitted to the screen by the page")
async def get_preview(capture_id: str, principal: ApiUser, request: Request) -> FileResponse:
    previews: PathCache = request.app.state.previews
    path = previews.get(capture_id)
    if path is None:
        path = await run_in_threadpool(_find_preview, request, capture_id)
        previews.put(capture_id, path)
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": PREVIEW_CACHE})


@router.get("/captures/{capture_id}/zoom", response_model=TileGrid,
            summary="The tile grid of the 100 % view (decodes the original on the server)")
@reads
def get_zoom(capture_id: str, principal: ApiUser, session: SessionDep, request: Request) -> TileGrid:
    store = request.app.state.settings.store
    capture_view(session, capture_id)
    check_full_view(session, principal, capture_id)
    return request.app.state.tiles.grid(capture_id, lambda: original_of(store, session, capture_id))


@router.get("/captures/{capture_id}/tiles/{col}/{row}.jpg", response_class=Response, responses={200: JPEG},
            summary="One tile of the 100 % view")
@reads
def get_tile(capture_id: str, col: int, row: int, principal: ApiUser, session: SessionDep,
             request: Request) -> Response:
    store = request.app.state.settings.store
    capture_view(session, capture_id)
    check_full_view(session, principal, capture_id)
    data = request.app.state.tiles.tile(capture_id, col, row, lambda: original_of(store, session, capture_id))
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": PREVIEW_CACHE})


@router.get("/review", response_model=list[CaptureLabels], summary="Twin of the review page: disagreements")
@reads
def get_review(principal: ApiUser, session: SessionDep) -> list[CaptureLabels]:
    allow(principal, *REVIEWERS)
    return review_queue(session)


@router.post("/review/{capture_id}", response_model=CaptureLabels, summary="Adjudicate a capture (reviewers)")
@writes
def post_review(capture_id: str, body: DecisionIn, principal: ApiUser, session: SessionDep,
                settings: SettingsDep) -> CaptureLabels:
    reviewer = allow(principal, *REVIEWERS)
    capture_view(session, capture_id)
    return adjudicate(session, reviewer, capture_id, body.rain_type, body.attributes,
                      taxonomy=settings.taxonomy, taxonomy_version=settings.taxonomy_version)


@router.get("/agreement", response_model=AgreementReport, summary="Twin of the agreement page")
@reads
def get_agreement(principal: ApiUser, session: SessionDep) -> AgreementReport:
    allow(principal, *REVIEWERS)
    return agreement_report(session)


@router.get("/users", response_model=list[UserRow], summary="Twin of the users page (admins)")
@reads
def get_users(principal: ApiUser, session: SessionDep) -> list[UserRow]:
    allow(principal, "admin")
    return user_rows(session)


@router.post("/users", response_model=NewUser, status_code=201, summary="Create a user; its token is shown once")
@writes
def post_user(body: UserIn, principal: ApiUser, session: SessionDep) -> NewUser:
    allow(principal, "admin")
    return add_user(session, body.name, body.role, body.email or None)


@router.post("/users/{name}/email", response_model=EmailChange,
             summary="Set or (null) clear a user's e-mail (admins; rainset users set-email)")
@writes
def post_email(name: str, body: EmailIn, principal: ApiUser, session: SessionDep) -> EmailChange:
    allow(principal, "admin")
    return set_email(session, name, body.email or None)


@router.post("/users/{name}/disable", response_model=UserInfo, summary="Disable a user (admins)")
@writes
def post_disable(name: str, principal: ApiUser, session: SessionDep, request: Request) -> UserInfo:
    allow(principal, "admin")
    if name == principal.user.name:
        raise HTTPException(400, "an admin cannot disable themselves")
    disabled = disable_user(session, name)
    request.app.state.identities.clear()
    return disabled


def rejects_of(session: Session, principal: Principal, reason: str | None, limit: int, offset: int) -> RejectPage:
    """A page of rejected files for an admin (``rainset rejects``' rows); 400 for a bad reason or paging."""
    allow(principal, "admin")
    try:
        return reject_page(session, reason or None, limit, offset)
    except ConfigError as exc:
        raise HTTPException(400, str(exc)) from exc


@router.get("/rejects", response_model=RejectPage,
            summary="Twin of the rejects page: the files ingest refused, newest first, paged (admins)")
@reads
def get_rejects(principal: ApiUser, session: SessionDep,
                reason: Annotated[str | None, Query(max_length=32, description="one reject reason")] = None,
                limit: Annotated[int, Query(description="files per page, 1 to 500")] = 50,
                offset: Annotated[int, Query(description="files to skip")] = 0) -> RejectPage:
    return rejects_of(session, principal, reason, limit, offset)


def queues_of(session: Session, settings: AppSettings) -> Queues:
    """Every enabled user's progress, with the store's taxonomy and K."""
    rows = [QueueRow(u, progress(session, u, k=settings.k)) for u in list_users(session)]
    return Queues(settings.taxonomy, settings.taxonomy_version, settings.k, rows)


@router.get("/queues", response_model=Queues, summary="Twin of the queues page (admins)")
@reads
def get_queues(principal: ApiUser, session: SessionDep, settings: SettingsDep) -> Queues:
    allow(principal, "admin")
    return queues_of(session, settings)


@router.post("/queues/release", response_model=Released, summary="Free unlabelled queue claims (admins)")
@writes
def post_release(body: ReleaseIn, principal: ApiUser, session: SessionDep) -> Released:
    allow(principal, "admin")
    return Released(release_claims(session, user=body.user, older_than_s=body.older_than_s))


GroupKindQuery = Annotated[str, Query(max_length=16, description="cluster (default), burst or scene")]


@router.get("/groups", response_model=GroupPage,
            summary="Twin of the groups page: clusters, bursts or scene groups, largest first, paged "
                    "(reviewers and admins)")
@reads
def get_groups(principal: ApiUser, session: SessionDep, kind: GroupKindQuery = "cluster",
               limit: Annotated[int, Query(description="groups per page, 1 to 200")] = 24,
               offset: Annotated[int, Query(description="groups to skip")] = 0) -> GroupPage:
    allow(principal, *REVIEWERS)
    return group_page(session, kind, limit, offset)


@router.get("/groups/{key}", response_model=GroupDetail,
            summary="Twin of the cluster page: a group's members with relation, score and file names")
@reads
def get_group(key: str, principal: ApiUser, session: SessionDep) -> GroupDetail:
    allow(principal, *REVIEWERS)
    return group_detail(session, key)


def correct(request: Request, session: Session, principal: Principal, key: str, action: str,
            captures: list[str]) -> CorrectionDone:
    """A reviewer's or admin's correction of cluster ``key`` (``rainset groups ACTION``), regrouped at once."""
    allow(principal, *REVIEWERS)
    return correct_group(session, request.app.state.settings.store, key, action, captures)


@router.post("/groups/{key}/not-duplicate", response_model=CorrectionDone,
             summary="Two members are not duplicates: they never share a cluster again (rainset groups not-duplicate)")
@writes
def post_not_duplicate(key: str, body: CapturesIn, principal: ApiUser, session: SessionDep,
                       request: Request) -> CorrectionDone:
    return correct(request, session, principal, key, "not-duplicate", body.captures)


@router.post("/groups/{key}/split", response_model=CorrectionDone,
             summary="Take members out of the cluster (rainset groups split)")
@writes
def post_split(key: str, body: CapturesIn, principal: ApiUser, session: SessionDep, request: Request) -> CorrectionDone:
    return correct(request, session, principal, key, "split", body.captures)


@router.post("/groups/{key}/representative", response_model=CorrectionDone,
             summary="Make a member the cluster's representative (rainset groups representative)")
@writes
def post_representative(key: str, body: CapturesIn, principal: ApiUser, session: SessionDep,
                        request: Request) -> CorrectionDone:
    return correct(request, session, principal, key, "representative", body.captures)
