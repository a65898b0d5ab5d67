"""Start a throwaway PostgreSQL server for the catalog tests (Debian's packages).

initdb refuses to run as root, so as root it runs as the ``postgres`` user through runuser.
The server listens on 127.0.0.1 on a spare port, with its data folder under /tmp.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass


@dataclass
class PgServer:
    bindir: str
    datadir: str
    port: int
    as_user: list[str]

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://rainset@127.0.0.1:{self.port}/postgres"

    def new_database(self) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=rainset dbname=postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://rainset@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        subprocess.run([*self.as_user, f"{self.bindir}/pg_ctl", "-D", self.datadir, "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(os.path.dirname(self.datadir), ignore_errors=True)


def find_bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start() -> PgServer:
    """Start a server; raises RuntimeError with the reason when it cannot."""
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise RuntimeError("psycopg is not installed (pip install 'rainset[postgres]')") from exc
    base = tempfile.mkdtemp(prefix="rainset-pg-", dir="/tmp")
    datadir = os.path.join(base, "data")
    as_user: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            raise RuntimeError("running as root without runuser: cannot start PostgreSQL as user postgres")
        shutil.chown(base, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    steps = [
        [*as_user, f"{bindir}/initdb", "-D", datadir, "-U", "rainset", "--auth=trust", "-E", "UTF8", "--no-sync"],
        [*as_user, f"{bindir}/pg_ctl", "-D", datadir, "-w", "-t", "60", "-l", os.path.join(base, "log"),
         "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off",
         "start"],
    ]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            log = ""
            if os.path.exists(os.path.join(base, "log")):
                with open(os.path.join(base, "log")) as fh:
                    log = fh.read()[-2000:]
            shutil.rmtree(base, ignore_errors=True)
            raise RuntimeError(f"{os.path.basename(cmd[len(as_user)])} failed: {proc.stderr.strip()[-1000:]} {log}")
    return PgServer(bindir, datadir, port, as_user)
