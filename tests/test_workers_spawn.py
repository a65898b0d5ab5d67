"""Spawned workers do not re-run a console script's main module (and import the CLI) at start-up."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def loaded_modules(_item: int) -> list[str]:
    """Run in a worker: which of the modules that matter here it has imported."""
    return sorted(m for m in ("rainset.cli", "typer", "rich", "__mp_main__") if m in sys.modules)


def _run_script(tmp_path: Path, body: str) -> str:
    script = tmp_path / "rainset-like"  # no .py: what pip writes for a console script
    script.write_text(textwrap.dedent(body))
    out = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_workers_started_from_a_console_script_do_not_import_the_cli(tmp_path: Path) -> None:
    # The same shape as the generated bin/rainset: imports its entry point, defines nothing.
    last = _run_script(tmp_path, f"""\
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from rainset.cli import main
        from rainset.workers import run
        from tests.test_workers_spawn import loaded_modules
        if __name__ == '__main__':
            assert 'rainset.cli' in sys.modules
            print(list(run(loaded_modules, [0, 1, 2, 3], workers=2)))
        """)
    results = eval(last)  # noqa: S307 - our own script's printed list
    assert len(results) == 4
    for modules in results:
        assert "rainset.cli" not in modules and "typer" not in modules, modules


@pytest.mark.slow
def test_a_script_that_defines_its_worker_function_still_runs_it(tmp_path: Path) -> None:
    # Its workers need the script's own function: the main module is re-run for them as before.
    last = _run_script(tmp_path, f"""\
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from rainset.workers import run

        def double(x):
            return x * 2, '__mp_main__' in sys.modules

        if __name__ == '__main__':
            print(list(run(double, [1, 2, 3], workers=2)))
        """)
    assert eval(last) == [(2, True), (4, True), (6, True)]  # noqa: S307
