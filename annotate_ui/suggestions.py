"""Rain-type suggestions in the web app: the annotator's queue order, and labels with their suggestion.

The queue order (:data:`rainset.labels.queue.QUEUE_ORDERS`) is chosen per annotator: the labelling
page takes ``?order=default|confidence|disagreement`` and remembers it in the browser for the
sign-in session (cookie ``rainset_queue_order``, sent only to this site, never to scripts); the
queue routes of the API take the same ``order`` query parameter, else use that cookie, else the
default order. An order the app does not know is refused (400), never silently replaced.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from fastapi import Request, Response
from sqlalchemy.orm import Session

from rainset.labels.consensus import LabelRecord
from rainset.labels.queue import QUEUE_ORDERS, check_order
from rainset.labels.record import recorded_suggestion

ORDER_COOKIE = "rainset_queue_order"


def queue_order(request: Request, order: str | None) -> str:
    """The order of this request: ``order`` when given, else the remembered one, else ``default``."""
    if order:
        return check_order(order)
    remembered = request.cookies.get(ORDER_COOKIE, "")
    return remembered if remembered in QUEUE_ORDERS else "default"


def remember_order(response: Response, request: Request, order: str) -> None:
    """Keep the annotator's queue order for the rest of the sign-in session (a browser-session cookie)."""
    response.set_cookie(ORDER_COOKIE, order, path="/", secure=request.app.state.settings.cookie_secure,
                        httponly=True, samesite="strict")


@dataclass(frozen=True)
class RecordedLabel(LabelRecord):
    """A label as written, with the suggestion recorded with it (None: none shown or not the current one)."""

    suggestion: str | None = None


def recorded_label(session: Session, record: LabelRecord) -> RecordedLabel:
    """``record`` with the suggestion the catalog recorded for it."""
    values = {f.name: getattr(record, f.name) for f in fields(LabelRecord)}
    return RecordedLabel(**values, suggestion=recorded_suggestion(session, record.label_id))
