"""The explicit configuration of the labelling web app (``create_app(settings)`` takes one)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from rainset.errors import StoreError
from rainset.ranges import Range
from rainset.store import Store

SECRET_FILE = "secret"
MiB = 1 << 20
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

# Ranges of the server's options (ConfigError beyond, one line naming the option; docs/admin-guide.md)
SESSION_HOURS = Range(0.1, 720.0, integer=False)  # six minutes to 30 days
MAX_BODY = Range(1024, 1 << 30)
TILE_CACHE_BYTES = Range(0, 1 << 40)
TILE_CACHE_MB = Range(0, 1 << 20)
FULL_CACHE = Range(1, 1024)
IDENTITY_TTL_S = Range(0, 3600, integer=False)
WORKER_THREADS = Range(1, 256)
LOGIN_FAILURES = Range(1, 1_000_000)
LOGIN_WINDOW_S = Range(1, 86_400, integer=False)


@dataclass(frozen=True)
class AppSettings:
    """What the web app needs to run; nothing is read from the environment.

    Attributes:
        store: the opened store (its catalog URL and taxonomy are used).
        cookie_secure: mark the session cookie ``Secure`` (turn off only for plain-http tests).
        session_hours: how long a sign-in lasts.
        tile_size: side of the 100 % view tiles, in full-resolution pixels.
        full_cache: how many full-resolution decodes the tile server keeps in memory at most.
        tile_cache_bytes: and how many bytes of them (a 120 MP decode is 345 MB; the most recent
            decode is always kept, whatever its size).
        allowed_origins: extra ``scheme://host[:port]`` origins accepted on state-changing
            requests (a reverse proxy's public origin); the server's own origin always is.
        worker_threads: threads running the routes (database work) at once.
        identity_ttl_s: how long a signed-in user's account is remembered between catalog
            look-ups (a user disabled, or given a new token, from the command line loses access
            within this time).
        max_body_bytes: the largest request body accepted (413 beyond, before it is parsed
            and before authentication).
        allowed_hosts: the ``Host`` header values accepted (without port; other hosts get 400);
            empty: any host.
        login_failures_per_address: failed sign-ins one client address may make per
            ``login_window_s`` before further failures are answered 429.
        login_failures_global: failed sign-ins of all addresses together per window.
        login_window_s: the window of the two limits above, in seconds.
    """

    store: Store
    cookie_secure: bool = True
    session_hours: float = 12.0
    tile_size: int = 512
    full_cache: int = 4
    allowed_origins: tuple[str, ...] = field(default_factory=tuple)
    identity_ttl_s: float = 5.0
    worker_threads: int = 8
    tile_cache_bytes: int = 1024 * MiB
    max_body_bytes: int = MiB
    allowed_hosts: tuple[str, ...] = field(default_factory=tuple)
    login_failures_per_address: int = 10
    login_failures_global: int = 100
    login_window_s: float = 60.0

    def __post_init__(self) -> None:
        """Refuse values the server cannot run with (ConfigError, one line naming the value)."""
        SESSION_HOURS.check("session hours", self.session_hours)
        MAX_BODY.check("max body bytes", self.max_body_bytes)
        TILE_CACHE_BYTES.check("tile cache bytes", self.tile_cache_bytes)
        FULL_CACHE.check("full cache", self.full_cache)
        IDENTITY_TTL_S.check("identity ttl seconds", self.identity_ttl_s)
        WORKER_THREADS.check("worker threads", self.worker_threads)
        LOGIN_FAILURES.check("login failures per address", self.login_failures_per_address)
        LOGIN_FAILURES.check("login failures global", self.login_failures_global)
        LOGIN_WINDOW_S.check("login window seconds", self.login_window_s)

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

    A read-only store whose secret was never made gets one for this process only (it cannot be
    written): sessions signed with it end when the server stops.

    Raises:
        StoreError: when the file cannot be created or read, or is too short to be a secret.
    """
    path = Path(store.root) / SECRET_FILE
    if store.read_only and not path.exists():
        return secrets.token_hex(32).encode("ascii")
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
