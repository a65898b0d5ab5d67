"""Label Studio interchange: tasks out, annotations in (its task JSON with ``choices`` results).

A task per active capture::

    {"data": {"image": "<prefix>previews/ab/<sha256>.jpg", "capture_id": "...", "source_name": "..."},
     "annotations": [{"completed_by": {"email": "ann@rainset.invalid"}, "rainset_user": "ann",
                      "ground_truth": false, "was_cancelled": false, "created_at": "...", "lead_time": 2.4,
                      "rainset_taxonomy_version": 1,
                      "result": [{"id": "label12-rain_type", "from_name": "rain_type", "to_name": "image",
                                  "type": "choices", "value": {"choices": ["heavy"]}},
                                 {"id": "label12-attributes", "from_name": "attributes", "to_name": "image",
                                  "type": "choices", "value": {"choices": ["night"]}}]}],
     "predictions": [{"model_version": "rules-1", "score": 0.81,
                      "result": [{"id": "<capture id>-suggestion", "from_name": "rain_type", ...}]}]}

Each user's effective label is one annotation; a reviewer's adjudication is an annotation with
``ground_truth: true``. ``completed_by`` is ``{"email": …}``, the form Label Studio's import matches
to its members: the user's e-mail, else ``NAME@rainset.invalid``. Result ids derive from the label
row, so exporting twice writes the same ids. The capture's current rain-type suggestion is a
``prediction`` (Label Studio shows it as a pre-annotation). :func:`labelstudio_config` writes the
matching labelling interface.

Import appends label rows (never changes one). The capture is found by ``data.capture_id``, else
by a 64-hex preview hash in ``data.image``. The user (unless ``as_user`` is given) by
``completed_by``:

- ``{"email": …}``: the user with that e-mail; else ``NAME@rainset.invalid`` is user NAME; else a
  new user named by ``rainset_user`` (written by our export) or the address's local part, with
  that e-mail;
- an integer (Label Studio's own export: a member id): through ``user_map`` (``--user-map FILE``);
- a string: a user name (the form rainset wrote before it wrote e-mails).

Users named there that do not exist are created as annotators (reviewers for ground-truth
annotations) with a token nobody knows: ``rainset users token NAME`` gives them one. Cancelled
annotations (``was_cancelled``) are skipped and counted; predictions are never imported.
Annotations equal to the user's current label (or the current adjudication) are skipped, so
importing the same file twice changes nothing.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence
from xml.sax.saxutils import quoteattr

from sqlalchemy import select
from sqlalchemy.orm import Session

from rainset.catalog.labels_tables import LabelTiming
from rainset.catalog.models import Capture, Label, User
from rainset.errors import InvalidInputError, LabelError, NotFoundError
from rainset.labels.consensus import iso_utc, current_labels
from rainset.labels.queue import hold_slot
from rainset.labels.taxonomy import ATTRIBUTES, check_label
from rainset.labels.users import NAME_RE, check_email, check_name, default_identity_name, hash_token, identity
from rainset.suggestions import current_suggestions

RAIN_CONTROL, ATTR_CONTROL, IMAGE = "rain_type", "attributes", "image"
_SHA = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ImportSummary:
    """What an import did."""

    tasks: int
    annotations: int
    labelled: int
    adjudicated: int
    skipped: int
    cancelled: int
    users_created: tuple[str, ...]

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        """The human-readable summary (``rainset labels import``)."""
        lines = [f"{self.tasks} tasks, {self.annotations} annotations: {self.labelled} labels and "
                 f"{self.adjudicated} adjudications added, {self.skipped} skipped (unchanged or empty), "
                 f"{self.cancelled} cancelled"]
        if self.users_created:
            lines.append(f"created users: {', '.join(self.users_created)} (give them tokens with "
                         f"'rainset users token NAME')")
        return lines


def labelstudio_config(taxonomy: Sequence[str]) -> str:
    """Label Studio's labelling interface (XML) for these rain types and our attributes."""
    rain = "\n".join(f"    <Choice value={quoteattr(t)}/>" for t in taxonomy)
    attrs = "\n".join(f"    <Choice value={quoteattr(a)}/>" for a in ATTRIBUTES)
    return (f'<View>\n  <Image name="{IMAGE}" value="$image"/>\n'
            f'  <Choices name="{RAIN_CONTROL}" toName="{IMAGE}" choice="single" showInline="true" required="true">\n'
            f'{rain}\n  </Choices>\n'
            f'  <Choices name="{ATTR_CONTROL}" toName="{IMAGE}" choice="multiple" showInline="true">\n'
            f'{attrs}\n  </Choices>\n</View>\n')


def _choice(result_id: str, control: str, choices: list[str]) -> dict[str, Any]:
    return {"id": result_id, "from_name": control, "to_name": IMAGE, "type": "choices", "value": {"choices": choices}}


def _result(row_id: int, rain_type: str, attributes: Iterable[str]) -> list[dict[str, Any]]:
    """The ``result`` of label row ``row_id``; its ids are derived from the row (stable across exports)."""
    out = [_choice(f"label{row_id}-{RAIN_CONTROL}", RAIN_CONTROL, [rain_type])]
    attrs = list(attributes)
    if attrs:
        out.append(_choice(f"label{row_id}-{ATTR_CONTROL}", ATTR_CONTROL, attrs))
    return out


def _durations(session: Session) -> dict[int, int]:
    return {label_id: ms for label_id, ms in session.execute(select(LabelTiming.label_id, LabelTiming.duration_ms))}


def _annotation(name: str, email: str, ground_truth: bool, created_at: str, version: int,
                result: list[dict[str, Any]]) -> dict[str, Any]:
    return {"completed_by": {"email": email}, "rainset_user": name, "ground_truth": ground_truth,
            "was_cancelled": False, "created_at": created_at, "rainset_taxonomy_version": version, "result": result}


def export_labelstudio(session: Session, store: Any, *, image_prefix: str = "", labelled_only: bool = False,
                       predictions: bool = True) -> list[dict[str, Any]]:
    """One Label Studio task per active capture (ingest order), with its current labels as annotations.

    Args:
        store: the store (previews' paths are given relative to its root).
        image_prefix: put before each preview's store-relative path (e.g. a URL serving the store).
        labelled_only: leave out captures without any label.
        predictions: write each capture's current rain-type suggestion as a ``prediction``.
    """
    labels = current_labels(session)
    durations = _durations(session)
    emails = {u.name: identity(u.name, u.email) for u in session.scalars(select(User))}
    adjudications = {row.capture_id: row for row in
                     session.scalars(select(Label).where(Label.kind == "adjudication").order_by(Label.id))}
    captures = list(session.scalars(select(Capture).where(Capture.status == "active")
                                    .order_by(Capture.created_at, Capture.id)))
    suggested = current_suggestions(session, [c.id for c in captures]) if predictions else {}
    tasks = []
    for cap in captures:
        current = labels.get(cap.id)
        annotations = []
        for rec in current.labels if current else ():
            ann = _annotation(rec.user, emails[rec.user], False, rec.created_at, rec.taxonomy_version,
                              _result(rec.label_id, rec.rain_type, rec.attributes))
            if rec.label_id in durations:
                ann["lead_time"] = durations[rec.label_id] / 1000
            annotations.append(ann)
        if current is not None and current.source == "adjudication":
            row = adjudications[cap.id]
            by = current.adjudicated_by
            annotations.append(_annotation(by, emails[by], True, iso_utc(row.created_at), row.taxonomy_version,
                                           _result(row.id, current.rain_type, current.attributes)))
        if labelled_only and not annotations:
            continue
        preview = store.preview_path(cap.representative_sha256).relative_to(store.root).as_posix()
        task: dict[str, Any] = {"data": {"image": f"{image_prefix}{preview}", "capture_id": cap.id,
                                         "source_name": cap.source_name}, "annotations": annotations}
        if cap.id in suggested:
            hint = suggested[cap.id]
            task["predictions"] = [{"model_version": hint.model, "score": round(hint.confidence, 4),
                                    "result": [_choice(f"{cap.id}-suggestion", RAIN_CONTROL, [hint.rain_type])]}]
        tasks.append(task)
    return tasks


def _choices(result: Any, control: str, where: str) -> list[str] | None:
    if not isinstance(result, list):
        raise InvalidInputError(f"{where}: 'result' must be a list")
    found = None
    for item in result:
        if not isinstance(item, dict):
            raise InvalidInputError(f"{where}: every result must be an object")
        if item.get("from_name") == control and item.get("type") == "choices":
            choices = (item.get("value") or {}).get("choices")
            if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
                raise InvalidInputError(f"{where}: {control!r} choices must be a list of strings")
            found = (found or []) + choices
    return found


def _name_from_email(email: str) -> str:
    """A valid user name made from an address's local part (other characters become ``_``)."""
    local = email.rpartition("@")[0] or email
    name = re.sub(r"[^A-Za-z0-9._-]", "_", local)[:64]
    return name if NAME_RE.fullmatch(name) else "user"


def _when(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


class _Importer:
    """Resolves captures and users of one import, and creates missing users once."""

    def __init__(self, session: Session, as_user: str | None, create_users: bool,
                 user_map: dict[int, str] | None) -> None:
        self.session = session
        self.create_users = create_users
        self.user_map = user_map
        self.users = {u.name: u for u in session.scalars(select(User))}
        self.by_email = {u.email: u for u in self.users.values() if u.email}
        self.created: list[str] = []
        self.fixed = None
        if as_user is not None:
            if as_user not in self.users:
                raise NotFoundError(f"--as: no user named {as_user!r} (create it with 'rainset users add')")
            self.fixed = self._user(as_user, "annotator", "--as")

    def _user(self, name: str, role: str, where: str, email: str | None = None) -> User:
        user = self.users.get(name)
        if user is None:
            if not self.create_users:
                raise NotFoundError(f"{where}: no user named {name!r} (create it with 'rainset users add')")
            check_name(name)
            user = User(name=name, role=role, token_hash=hash_token(secrets.token_urlsafe(32)), disabled=False,
                        email=email)
            self.session.add(user)
            self.session.flush()
            self.users[name] = user
            if email:
                self.by_email[email] = user
            self.created.append(name)
        if user.disabled:
            raise LabelError(f"{where}: user {name!r} is disabled")
        return user

    def _by_email(self, raw: Any, ann: dict[str, Any], role: str, where: str) -> User:
        if not isinstance(raw, str) or not raw:
            raise InvalidInputError(f"{where}: completed_by.email must be an e-mail address, got {raw!r}")
        name = default_identity_name(raw)
        if name is not None:  # NAME@rainset.invalid: a rainset user without an e-mail
            return self._user(name, role, where)
        try:
            email = check_email(raw)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{where}: completed_by: {exc}") from None
        if email in self.by_email:
            return self._user(self.by_email[email].name, role, where)
        hint = ann.get("rainset_user")
        name = hint if isinstance(hint, str) and NAME_RE.fullmatch(hint) else _name_from_email(email)
        if name in self.users:
            raise NotFoundError(f"{where}: no user has e-mail {email!r}, and user {name!r} exists with "
                                f"{'no e-mail' if self.users[name].email is None else 'another'}: set it with "
                                f"'rainset users set-email {name} {email}', or import with --as USER")
        if not self.create_users:
            raise NotFoundError(f"{where}: no user has e-mail {email!r} (add one with 'rainset users add NAME "
                                f"--email {email}')")
        return self._user(name, role, where, email=email)

    def _by_member_id(self, member: int, role: str, where: str) -> User:
        if self.user_map is None:
            raise InvalidInputError(f"{where}: completed_by is Label Studio member id {member}: map ids to rainset "
                                    "users with --user-map FILE (or record everything as one user with --as USER)")
        if member not in self.user_map:
            raise InvalidInputError(f"{where}: Label Studio member id {member} is not in --user-map")
        return self._user(self.user_map[member], role, where)

    def user_for(self, ann: dict[str, Any], where: str) -> User:
        if self.fixed is not None:
            return self.fixed
        role = "reviewer" if ann.get("ground_truth") else "annotator"
        who = ann.get("completed_by")
        if isinstance(who, dict) and "email" in who:
            return self._by_email(who["email"], ann, role, where)
        if isinstance(who, dict) and isinstance(who.get("username"), str):  # older rainset exports
            return self._user(who["username"], role, where)
        if isinstance(who, int) and not isinstance(who, bool):
            return self._by_member_id(who, role, where)
        if isinstance(who, str) and who:  # the plain user name rainset wrote before
            return self._user(who, role, where)
        raise InvalidInputError(f"{where}: 'completed_by' must be {{\"email\": ...}}, a Label Studio member id or a "
                                f"user name (or use --as USER); got {who!r}")

    def capture_for(self, task: dict[str, Any], where: str) -> str:
        data = task.get("data")
        if not isinstance(data, dict):
            raise InvalidInputError(f"{where}: a task needs a 'data' object")
        cid = data.get("capture_id")
        if isinstance(cid, str) and self.session.get(Capture, cid) is not None:
            return cid
        match = _SHA.search(str(data.get("image", "")))
        if match:
            found = self.session.scalars(select(Capture.id).where(Capture.representative_sha256 == match.group())).first()
            if found:
                return found
        raise NotFoundError(f"{where}: no capture in this store matches capture_id {cid!r} or image {data.get('image')!r}")


def import_labelstudio(session: Session, tasks: Any, *, taxonomy: Sequence[str], taxonomy_version: int,
                       as_user: str | None = None, create_users: bool = True,
                       user_map: dict[int, str] | None = None) -> ImportSummary:
    """Append the annotations of Label Studio ``tasks`` as label rows (see the module docstring).

    Args:
        tasks: the parsed JSON: a list of tasks (or one task object).
        taxonomy: rain types accepted; every annotation must use one of them.
        taxonomy_version: recorded when an annotation does not carry ``rainset_taxonomy_version``.
        as_user: record every annotation as this existing user, ignoring ``completed_by``.
        create_users: create users named by ``completed_by`` that do not exist (else an error).
        user_map: Label Studio member id → rainset user name, for integer ``completed_by``.

    Raises:
        InvalidInputError: a malformed task or annotation, an unknown rain type or attribute.
        InvalidInputError: also an integer ``completed_by`` that ``user_map`` does not map.
        NotFoundError: an unknown capture, or an unknown user with ``create_users`` off.
        LabelError: a disabled user. Nothing is written after any of these (the caller's
            transaction rolls back).
    """
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise InvalidInputError("Label Studio import: expected a list of tasks")
    imp = _Importer(session, as_user, create_users, user_map)
    n_ann = labelled = adjudicated = skipped = cancelled = 0
    for i, task in enumerate(tasks):
        where = f"task {i}"
        if not isinstance(task, dict):
            raise InvalidInputError(f"{where}: a task must be an object")
        capture_id = imp.capture_for(task, where)
        annotations = task.get("annotations") or task.get("completions") or []  # older exports: completions
        if not isinstance(annotations, list):
            raise InvalidInputError(f"{where}: 'annotations' must be a list")
        # Labels first, adjudications last (they decide), each group in time order.
        order = sorted(range(len(annotations)), key=lambda j: (bool((annotations[j] or {}).get("ground_truth")),
                                                                 str((annotations[j] or {}).get("created_at") or "")))
        for j in order:
            ann, where_a = annotations[j], f"{where}, annotation {j}"
            if not isinstance(ann, dict):
                raise InvalidInputError(f"{where_a}: an annotation must be an object")
            n_ann += 1
            if ann.get("was_cancelled"):
                cancelled += 1
                continue
            kind = _append_annotation(session, imp, capture_id, ann, where_a, taxonomy, taxonomy_version)
            labelled += kind == "label"
            adjudicated += kind == "adjudication"
            skipped += kind is None
    return ImportSummary(len(tasks), n_ann, labelled, adjudicated, skipped, cancelled, tuple(imp.created))


def _append_annotation(session: Session, imp: _Importer, capture_id: str, ann: dict[str, Any], where: str,
                       taxonomy: Sequence[str], taxonomy_version: int) -> str | None:
    """Append one annotation's row; its kind, or None when it is empty or changes nothing."""
    rain = _choices(ann.get("result") or [], RAIN_CONTROL, where)
    if not rain:
        return None
    if len(rain) != 1:
        raise InvalidInputError(f"{where}: one rain type expected, got {rain}")
    attrs = check_label(rain[0], _choices(ann.get("result") or [], ATTR_CONTROL, where) or (), taxonomy)
    user = imp.user_for(ann, where)
    kind = "adjudication" if ann.get("ground_truth") else "label"
    if kind == "adjudication" and user.role not in ("reviewer", "admin"):
        raise InvalidInputError(f"{where}: ground-truth annotation by {user.name!r}, who is an annotator, not a reviewer")
    current = current_labels(session, [capture_id]).get(capture_id)
    if current is not None:
        if kind == "adjudication" and current.source == "adjudication" and \
                (current.rain_type, current.attributes, current.adjudicated_by) == (rain[0], attrs, user.name):
            return None
        if kind == "label" and any((r.user, r.rain_type, r.attributes) == (user.name, rain[0], attrs)
                                   for r in current.labels):
            return None
    version = ann.get("rainset_taxonomy_version", taxonomy_version)
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidInputError(f"{where}: rainset_taxonomy_version must be an integer, got {version!r}")
    if kind == "label":
        hold_slot(session, capture_id, user.id)
    row = Label(capture_id=capture_id, user_id=user.id, rain_type=rain[0], attributes=list(attrs), kind=kind,
                taxonomy_version=version)
    when = _when(ann.get("created_at"))
    if when is not None:
        row.created_at = when
    session.add(row)
    session.flush()
    lead = ann.get("lead_time")
    if kind == "label" and isinstance(lead, (int, float)) and not isinstance(lead, bool) and 0 <= lead <= 86400:
        session.add(LabelTiming(label_id=row.id, duration_ms=int(round(lead * 1000))))
    return kind
