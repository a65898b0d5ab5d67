"""The command line: --json outputs keep their keys (scripts read them), errors are one clear line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rainset.synth import generate_dataset

INGEST_KEYS = {"run_id", "store", "sources", "seen", "skipped", "processed", "new_captures", "new_files", "new_videos",
               "exact_copies", "paired", "rejected", "rejects_by_reason", "bytes_stored", "warnings", "swept_tmp",
               "seconds", "files_per_second"}
STATUS_KEYS = {"store", "catalog", "captures", "files", "raw_files", "exact_copies", "bytes", "objects_bytes",
               "rejects", "rejects_by_reason", "runs", "runs_unfinished", "formats"}
VERIFY_KEYS = {"checked", "ok", "missing", "damaged", "problems", "orphans"}
PROBLEM_KEYS = {"sha256", "path", "problem", "detail", "captures", "sources"}


def rainset(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "RAINSET_STORE"}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "rainset.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=full_env, timeout=240)


@pytest.fixture(scope="module")
def store_with_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("cli")
    generate_dataset(base / "caps", 8, seed=2, raw_pairs=1, bursts=1, near_duplicates=1, exact_copies=1)
    assert rainset("init", str(base / "store")).returncode == 0
    return base


def test_json_outputs_have_stable_keys(store_with_data: Path) -> None:
    base = store_with_data
    r = rainset("ingest", str(base / "caps"), "--store", str(base / "store"), "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert set(summary) == INGEST_KEYS | {"json_format"} and summary["json_format"] == 2
    assert summary["new_captures"] > 0 and summary["rejected"] == 5
    r = rainset("status", "--json", cwd=base / "store" / "objects")  # found from a subfolder, like git
    assert r.returncode == 0, r.stderr
    status = json.loads(r.stdout)
    assert set(status) == STATUS_KEYS | {"json_format"} and status["captures"] == summary["new_captures"]
    r = rainset("verify", "--json", env={"RAINSET_STORE": str(base / "store")})
    report = json.loads(r.stdout)
    assert r.returncode == 0 and set(report) == VERIFY_KEYS | {"json_format"} and report["ok"] == report["checked"] > 0


def test_verify_exit_code_and_problem_keys(store_with_data: Path, tmp_path: Path) -> None:
    base = tmp_path
    generate_dataset(base / "caps", 6, seed=4, raw_pairs=0, bursts=0, near_duplicates=0, exact_copies=0,
                     corrupt=False)
    rainset("init", str(base / "s"))
    rainset("ingest", str(base / "caps"), "--store", str(base / "s"), "-q")
    victim = next(p for p in (base / "s" / "objects").rglob("*") if p.is_file())
    victim.unlink()
    r = rainset("verify", "--store", str(base / "s"), "--json")
    assert r.returncode == 2
    report = json.loads(r.stdout)
    problem = report["problems"][0]
    assert report["missing"] == 1 and set(problem) == PROBLEM_KEYS
    # the problem names the capture and the source file behind the object, not just the object
    assert len(problem["captures"]) == 1 and problem["sources"]
    assert all(Path(src).parent == base / "caps" or base / "caps" in Path(src).parents for src in problem["sources"])
    r = rainset("verify", "--store", str(base / "s"))
    assert r.returncode == 2 and "missing" in r.stdout and victim.name in r.stdout
    assert problem["captures"][0] in r.stdout and problem["sources"][0] in r.stdout


def test_errors_are_one_clear_line(tmp_path: Path) -> None:
    r = rainset("status", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.startswith("error: no rainset store in") and "rainset init" in r.stderr
    assert "Traceback" not in r.stderr
    rainset("init", str(tmp_path / "s"))
    r = rainset("init", str(tmp_path / "s"))
    assert r.returncode == 1 and "already exists" in r.stderr
    r = rainset("ingest", str(tmp_path / "missing"), "--store", str(tmp_path / "s"))
    assert r.returncode == 1 and "no such file or folder" in r.stderr and "Traceback" not in r.stderr
    r = rainset("ingest", str(tmp_path), "--store", str(tmp_path / "s"), "--engine", "spark")
    assert r.returncode == 1 and "unknown engine 'spark'" in r.stderr
    r = rainset("init", str(tmp_path / "p"), "--db", "postgresql+psycopg://u:pw@127.0.0.1:1/x")
    assert r.returncode == 1 and "cannot open catalog" in r.stderr and ":pw@" not in r.stderr


def test_help_is_fast_and_lists_commands() -> None:
    r = rainset("--help")
    assert r.returncode == 0
    for cmd in ("init", "ingest", "status", "verify", "demo"):
        assert cmd in r.stdout
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "rainset.cli", "--help"], capture_output=True,
                       text=True, timeout=60)
    heavy = [line for line in r.stderr.splitlines() if line.rstrip().endswith((" cv2", " rawpy", " torch", " dask",
                                                                             " sqlalchemy", " numpy"))]
    assert heavy == [], "rainset --help must not import heavy modules"


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    r = rainset("demo", "--out", str(tmp_path / "demo"), "--captures", "12", "--workers", "1", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["ingest"]["new_captures"] >= 12
    assert result["status"]["rejects_by_reason"] == result["expected_rejects"]
    assert (tmp_path / "demo" / "store" / "rainset.toml").is_file()
