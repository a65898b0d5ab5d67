"""Shared test fixtures.

Tests that need an outside part (../shared/fixtures, PostgreSQL, Chromium) skip with a visible
reason when it is missing; under ``CI=true`` they fail instead, so acceptance is never skipped
silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures"


def skip_or_fail(reason: str) -> None:
    """Skip the calling test, or fail it when running under CI=true."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"required under CI=true: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The real-file fixtures folder ../shared/fixtures (read-only)."""
    if not (FIXTURES / "SOURCES.md").is_file():
        skip_or_fail(f"real-file fixtures not found at {FIXTURES}")
    return FIXTURES


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server for this test session (skips, or fails under CI=true, when impossible)."""
    from tests import pgserver

    try:
        server = pgserver.start()
    except RuntimeError as exc:
        skip_or_fail(f"cannot start PostgreSQL: {exc}")
    yield server
    server.stop()


@pytest.fixture()
def pg_url(pg_server) -> str:
    """The URL of a new, empty PostgreSQL database."""
    return pg_server.new_database()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser():
    """Real headless Chromium (Debian's) driven by Playwright; skips, or fails under CI=true, without it."""
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"Chromium not found at {CHROMIUM} (make test installs it when run as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        skip_or_fail(f"playwright not installed: {exc}")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture()
def artifacts_dir(request) -> Path:
    """A folder for test artifacts (screenshots): test-artifacts/<test name>/ in the repository."""
    path = REPO / "test-artifacts" / request.node.name.replace("/", "_")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """An untrained NLCL model saved in the checkpoint format (tiny: 1 block, 8 channels)."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from rainset.nlcl.config import make_config
    from rainset.nlcl.train import build_models, save_checkpoint

    cfg = make_config("cpu-smoke", ["gen_blocks=1", "gen_channels=8", "nce_layers=0,1"])
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, build_models(cfg), cfg, {}, 0)
    return path
