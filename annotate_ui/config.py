"""The explicit configuration of the labelling web app (``create_app(settings)`` takes one)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from rainset.errors import StoreError
from rainset.store import Store

SECRET_FILE = "secret"


@dataclass(frozen=True)
class AppSettings:
    """What the web app needs to run; nothing is read from the environment.

    Attributes:
        store: the opened store (its catalog URL and taxonomy are used).
        cookie_secure: mark the session cookie ``Secure`` (turn off only for plain-http tests).
        session_hours: how long a sign-in lasts.
        tile_size: side of the 100 % view tiles, in full-resolution pixels.
        full_cache: how many full-resolution decodes the tile server keeps in memory.
        allowed_origins: extra ``scheme://host[:port]`` origins accepted on state-changing
            requests (a reverse proxy's public origin); the server's own origin always is.
        worker_threads: threads running the routes (database work) at once.
        identity_ttl_s: how long a signed-in user's account is remembered between catalog
            look-ups (a user disabled from the command line loses access within this time).
    """

    store: Store
    cookie_secure: bool = True
    session_hours: float = 12.0
    tile_size: int = 512
    full_cache: int = 4
    allowed_origins: tuple[str, ...] = field(default_factory=tuple)
    identity_ttl_s: float = 5.0
    worker_threads: int = 8

    @property
    def taxonomy(self) -> tuple[str, ...]:
        return tuple(self.store.settings["taxonomy"])

    @property
    def taxonomy_version(self) -> int:
        return int(self.store.settings["taxonomy_version"])

    @property
    def k(self) -> int:
        return int(self.store.settings["annotators_per_capture"])


def store_secret(store: Store) -> bytes:
    """The store's signing secret (``STORE/secret``), created once with mode 0600.

    Raises:
        StoreError: when the file cannot be created or read, or is too short to be a secret.
    """
    path = Path(store.root) / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the session secret: {exc.strerror or exc}") from exc
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: cannot read the session secret: {exc}") from exc
    if len(text) < 32:
        raise StoreError(f"{path}: the session secret is too short (delete the file to make a new one)")
    return text.encode("ascii")
