"""The ``rainset`` script around typer: an ingest's workers started before the command line is
parsed, only the named command's module imported, and no last garbage collection at exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer.main

from rainset.cli import COMMAND_MODULES, STAGE_MODULES, app
from rainset.cli.ahead import INGEST_FLAGS, INGEST_VALUE_OPTIONS, IngestAsk, ingest_asked
from rainset.ingest import pool as ingest_pool

ROOT = Path(__file__).resolve().parents[1]
CORES = os.cpu_count() or 1


@pytest.mark.parametrize(("args", "asked"), [
    (["ingest", "cards"], IngestAsk(CORES, "local")),
    (["ingest", "cards", "--workers", "3", "--json"], IngestAsk(3, "local")),
    (["ingest", "--workers=2", "--engine", "dask", "a", "b"], IngestAsk(2, "dask")),
    (["ingest", "--store", "--workers", "a"], IngestAsk(CORES, "local")),  # "--workers" is the store's path here
    (["ingest", "-q", "--link", "a", "--", "--workers", "5"], IngestAsk(CORES, "local")),  # after --: sources
    (["ingest", "a", "--workers", "0"], IngestAsk(0, "local")),
])
def test_what_an_ingest_command_line_asks_of_its_workers(args: list[str], asked: IngestAsk) -> None:
    assert ingest_asked(args) == asked


@pytest.mark.parametrize("args", [
    [], ["status"], ["--help"], ["ingest", "--help"], ["ingest", "a", "--workers"], ["ingest", "a", "--workers", "two"],
    ["ingest", "a", "--wokers", "2"], ["ingest", "a", "-x"], ["verify", "--workers", "2"],
    ["ingest", "a", "--workers", "100000"], ["ingest", "a", "--workers=-2"],
])
def test_anything_else_or_anything_unsure_is_left_to_typer(args: list[str]) -> None:
    assert ingest_asked(args) is None


def test_the_options_read_ahead_are_the_ingest_commands_own() -> None:
    ingest = typer.main.get_command(app).commands["ingest"]  # type: ignore[attr-defined]
    options = [p for p in ingest.params if p.param_type_name == "option"]
    takes_value = {o for p in options if not p.is_flag for o in p.opts}
    flags = {o for p in options if p.is_flag for o in p.opts + p.secondary_opts}
    assert takes_value == INGEST_VALUE_OPTIONS
    assert flags - {"--help"} == INGEST_FLAGS


def test_each_command_is_registered_by_the_module_the_script_imports_for_it() -> None:
    probe = ("import importlib\nfrom rainset.cli.shell import app, command_name\nseen = {}\n"
             f"for m in {STAGE_MODULES!r}:\n"
             "    importlib.import_module('rainset.cli.' + m)\n"
             "    for c in app.registered_commands + app.registered_groups:\n"
             "        seen.setdefault(command_name(c), m)\n"
             "print(repr(seen))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert eval(out.stdout) == COMMAND_MODULES  # noqa: S307 - our own probe's repr


def test_running_one_command_imports_only_its_module() -> None:
    probe = ("import sys\nfrom rainset.cli import load_app\nload_app(['status', '--help'])\n"
             "print(' '.join(sorted(m for m in sys.modules if m.startswith('rainset.cli.'))))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["rainset.cli.ahead", "rainset.cli.shell", "rainset.cli.store"]


def _shut_down(pool) -> bool:  # noqa: ANN001
    try:
        pool.submit(os.getpid)
    except RuntimeError:  # cannot schedule new futures after shutdown
        return True
    return False


@pytest.mark.timeout(120)
def test_a_pool_started_ahead_is_handed_over_only_at_its_size() -> None:
    try:
        ahead = ingest_pool.start_ahead(2)
        assert ahead is not None and ingest_pool.start_workers(2) is ahead  # claimed as it is
        assert ahead.submit(os.getpid).result(timeout=60) > 0
        ahead.shutdown(wait=True)
        other = ingest_pool.start_ahead(2)
        assert ingest_pool.start_workers(0) is None and _shut_down(other)  # in process: the one ahead is stopped
        third = ingest_pool.start_ahead(2)
        fresh = ingest_pool.start_workers(3)
        assert fresh is not None and fresh is not third and _shut_down(third)
        fresh.shutdown(wait=True)
        assert ingest_pool.start_ahead(1) is None  # one worker runs in process: nothing to start
        last = ingest_pool.start_ahead(2)
        ingest_pool.discard_ahead()  # what the script does when the command never claimed it
        assert _shut_down(last) and ingest_pool.start_workers(0) is None
    finally:
        ingest_pool.discard_ahead()


def _script() -> list[str]:
    script = Path(sys.executable).parent / "rainset"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "rainset"]


@pytest.mark.timeout(300)
def test_the_script_ingests_with_workers_started_ahead_and_exits_cleanly(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(19)
    for i in range(3):
        frame = cv2.GaussianBlur(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8), (5, 5), 0)
        assert cv2.imwrite(str(src / f"shot{i}.jpg"), frame)
    store = tmp_path / "store"
    subprocess.run([*_script(), "init", str(store)], check=True, capture_output=True, timeout=120)
    out = subprocess.run([*_script(), "ingest", str(src), "--store", str(store), "--workers", "2", "--json"],
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)  # the whole JSON was written before the process ended
    assert summary["processed"] == 3 and summary["new_files"] + summary["rejected"] == 3
    assert out.stderr == ""  # no warning from the resource tracker, nothing left unfinished
    failed = subprocess.run([*_script(), "ingest", str(src), "--store", str(tmp_path / "none"), "--workers", "2"],
                            capture_output=True, text=True, timeout=240)
    assert failed.returncode == 1  # the pool started ahead is shut down; one line, no traceback
    assert failed.stderr.strip().count("\n") == 0 and "not a rainset store" in failed.stderr
