"""Accounts and roles: annotators label, reviewers adjudicate, admins manage users and queues.

A user signs in with a token printed once by ``rainset users add``. Tokens are 256-bit random
strings (:func:`secrets.token_urlsafe`); the catalog keeps only their SHA-256, which is enough
for high-entropy secrets (no salt or slow hash needed: there is nothing to guess), and every
comparison is constant-time (:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Literal, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from rainset.catalog.models import User
from rainset.errors import AlreadyExistsError, AuthError, InvalidInputError, LabelError, NotFoundError

Role = Literal["annotator", "reviewer", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
# One @, no spaces or angle brackets, a dotted domain: enough to catch typos; nothing here sends mail.
EMAIL_RE = re.compile(r"[^@\s<>\"',;]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
EMAIL_MAX = 254
# The identity exported for a user without an e-mail (``.invalid`` is reserved: RFC 2606, never delivered).
DEFAULT_DOMAIN = "rainset.invalid"


@dataclass(frozen=True)
class UserInfo:
    """A signed-in (or looked-up) user: what the web app and the label functions need."""

    id: int
    name: str
    role: str


@dataclass(frozen=True)
class NewUser:
    """A user just created, with the token shown once and never stored in clear."""

    id: int
    name: str
    role: str
    token: str
    email: str | None = None


@dataclass(frozen=True)
class UserRow:
    """One line of ``rainset users list``."""

    id: int
    name: str
    role: str
    disabled: bool
    created_at: str
    email: str | None  # as set; None when unset
    identity: str  # what interchange exports: the e-mail, else NAME@rainset.invalid


@dataclass(frozen=True)
class EmailChange:
    """The result of ``rainset users set-email``."""

    name: str
    email: str | None
    identity: str

    def to_dict(self) -> dict:
        return {"name": self.name, "email": self.email, "identity": self.identity}

    def lines(self) -> list[str]:
        """The human-readable result."""
        if self.email is None:
            return [f"{self.name} has no e-mail; Label Studio interchange uses {self.identity}"]
        return [f"{self.name}'s e-mail is {self.email}"]


def hash_token(token: str) -> str:
    """The hex SHA-256 stored for ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_name(name: str) -> str:
    """Return ``name`` when it is a valid user name (1-64 of ``A-Z a-z 0-9 . _ -``), else raise InvalidInputError."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidInputError(f"invalid user name {name!r}: use 1 to 64 letters, digits, '.', '_' or '-'")
    return name


def check_role(role: str) -> str:
    """Return ``role`` when it is one of :data:`ROLES`, else raise InvalidInputError."""
    if role not in ROLES:
        raise InvalidInputError(f"invalid role {role!r}: expected one of {', '.join(ROLES)}")
    return role


def check_email(email: str) -> str:
    """Return ``email`` lower-cased when it is a plausible address, else raise InvalidInputError.

    Addresses at ``rainset.invalid`` are refused: that domain is the default identity of users
    without an e-mail (:func:`identity`), so setting one would only confuse two users.
    """
    if not isinstance(email, str) or len(email) > EMAIL_MAX or not EMAIL_RE.fullmatch(email):
        raise InvalidInputError(f"invalid e-mail address {email!r}: expected one address like name@example.org "
                                f"(at most {EMAIL_MAX} characters)")
    email = email.lower()
    if email.endswith("@" + DEFAULT_DOMAIN):
        raise InvalidInputError(f"invalid e-mail address {email!r}: @{DEFAULT_DOMAIN} is the default identity of "
                                "users without an e-mail; leave the e-mail unset instead")
    return email


def identity(name: str, email: str | None) -> str:
    """The e-mail interchange writes for a user: its own, else ``NAME@rainset.invalid``."""
    return email or f"{name}@{DEFAULT_DOMAIN}"


def default_identity_name(email: str) -> str | None:
    """The user name in a default identity ``NAME@rainset.invalid`` (any case), else None."""
    local, _, domain = email.rpartition("@")
    return local if domain.lower() == DEFAULT_DOMAIN and NAME_RE.fullmatch(local) else None


def _email_free(session: Session, email: str, owner: int | None = None) -> str:
    """Raise AlreadyExistsError when another user (not ``owner``) has ``email``."""
    other = session.scalars(select(User).where(User.email == email)).first()
    if other is not None and other.id != owner:
        raise AlreadyExistsError(f"e-mail {email!r} is already used by user {other.name!r}")
    return email


def user_by_email(session: Session, email: str) -> User | None:
    """The user whose e-mail is ``email`` (case does not matter), else None."""
    return session.scalars(select(User).where(User.email == email.lower())).first()


def _info(user: User) -> UserInfo:
    return UserInfo(user.id, user.name, user.role)


def _by_name(session: Session, name: str) -> User:
    user = session.scalars(select(User).where(User.name == name)).one_or_none()
    if user is None:
        raise NotFoundError(f"no user named {name!r}")
    return user


def add_user(session: Session, name: str, role: str, email: str | None = None) -> NewUser:
    """Create a user and return it with its token (the only time the token is available).

    Args:
        email: optional; Label Studio interchange identifies the user by it (stored lower-cased).

    Raises:
        InvalidInputError: an invalid name, role or e-mail.
        AlreadyExistsError: the name is taken (disabled users keep their name), or the e-mail is.
    """
    check_name(name)
    check_role(role)
    if email is not None:
        email = _email_free(session, check_email(email))
    if session.scalars(select(User.id).where(User.name == name)).first() is not None:
        raise AlreadyExistsError(f"user {name!r} already exists")
    token = secrets.token_urlsafe(32)
    user = User(name=name, role=role, token_hash=hash_token(token), disabled=False, email=email)
    session.add(user)
    session.flush()
    return NewUser(user.id, user.name, user.role, token, user.email)


def set_email(session: Session, name: str, email: str | None) -> EmailChange:
    """Set (or with ``None`` clear) user ``name``'s e-mail.

    Raises:
        NotFoundError: no such user.
        InvalidInputError: a malformed address.
        AlreadyExistsError: another user has it.
    """
    user = _by_name(session, name)
    if email is not None:
        email = _email_free(session, check_email(email), owner=user.id)
    user.email = email
    session.flush()
    return EmailChange(user.name, user.email, identity(user.name, user.email))


def reset_token(session: Session, name: str) -> NewUser:
    """Give user ``name`` a new token (the old one and every session stop working) and return it once."""
    user = _by_name(session, name)
    token = secrets.token_urlsafe(32)
    user.token_hash = hash_token(token)
    user.session_epoch = (user.session_epoch or 0) + 1
    session.flush()
    return NewUser(user.id, user.name, user.role, token)


def authenticate(session: Session, token: str) -> UserInfo:
    """The enabled user holding ``token``.

    Every stored hash is compared in constant time, so the answer's timing says nothing about
    which hashes exist.

    Raises:
        AuthError: no token, an unknown token, or the user is disabled.
    """
    if not token or not isinstance(token, str):
        raise AuthError("missing token")
    wanted = hash_token(token)
    found: User | None = None
    for user in session.scalars(select(User)):
        if hmac.compare_digest(user.token_hash, wanted):
            found = user
    if found is None:
        raise AuthError("invalid token")
    if found.disabled:
        raise AuthError(f"user {found.name!r} is disabled")
    return _info(found)


def get_user(session: Session, user_id: int, epoch: int | None = None) -> UserInfo:
    """The enabled user with this id (the web app's session cookie holds it).

    Args:
        epoch: the session epoch the cookie was issued under; when given it must still be the
            user's (sign-out, token rotation and disable move it on).

    Raises:
        AuthError: no such user, disabled since the session began, or the session was ended.
    """
    user = session.get(User, user_id)
    if user is None:
        raise AuthError(f"no user with id {user_id}")
    if user.disabled:
        raise AuthError(f"user {user.name!r} is disabled")
    if epoch is not None and epoch != (user.session_epoch or 0):
        raise AuthError("this session has ended (signed out, new token or disabled): sign in again")
    return _info(user)


def session_epoch(session: Session, user_id: int) -> int:
    """The session epoch of user ``user_id`` (new session cookies carry it).

    Raises:
        AuthError: no such user.
    """
    user = session.get(User, user_id)
    if user is None:
        raise AuthError(f"no user with id {user_id}")
    return user.session_epoch or 0


def end_sessions(session: Session, user_id: int) -> int:
    """End every session of user ``user_id`` (sign-out): returns the new epoch.

    Raises:
        AuthError: no such user.
    """
    user = session.get(User, user_id)
    if user is None:
        raise AuthError(f"no user with id {user_id}")
    user.session_epoch = (user.session_epoch or 0) + 1
    session.flush()
    return user.session_epoch


def find_user(session: Session, name: str) -> UserInfo:
    """The user named ``name`` (enabled or not); NotFoundError when there is none."""
    return _info(_by_name(session, name))


def enabled_user(session: Session, name: str, *, what: str = "user") -> UserInfo:
    """The enabled user named ``name``; NotFoundError or LabelError (naming ``what``, e.g. ``--as``) when unknown or disabled."""
    user = session.scalars(select(User).where(User.name == name)).one_or_none()
    if user is None:
        raise NotFoundError(f"{what}: no user named {name!r} (create it with 'rainset users add')")
    if user.disabled:
        raise LabelError(f"{what}: user {name!r} is disabled")
    return _info(user)


def list_users(session: Session, *, include_disabled: bool = False) -> list[UserInfo]:
    """Enabled users (all users with ``include_disabled``), by name."""
    query = select(User).order_by(User.name)
    if not include_disabled:
        query = query.where(User.disabled.is_(False))
    return [_info(u) for u in session.scalars(query)]


def user_rows(session: Session) -> list[UserRow]:
    """Every user with its state, by name (``rainset users list``)."""
    return [UserRow(u.id, u.name, u.role, bool(u.disabled), u.created_at.isoformat() if u.created_at else "",
                    u.email, identity(u.name, u.email))
            for u in session.scalars(select(User).order_by(User.name))]


def disable_user(session: Session, name: str) -> UserInfo:
    """Disable user ``name``: its token and sessions stop working; its labels stay."""
    user = _by_name(session, name)
    user.disabled = True
    user.session_epoch = (user.session_epoch or 0) + 1
    session.flush()
    return _info(user)


def require_role(user: UserInfo, *roles: str) -> UserInfo:
    """Return ``user`` when its role is one of ``roles``, else raise AuthError."""
    if user.role not in roles:
        raise AuthError(f"user {user.name!r} is {user.role}; this needs {' or '.join(roles)}")
    return user
