"""Docs stay true to the code: every setting, reject reason, command and --json key is documented."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rainset.cli import app
from rainset.demo import DemoResult
from rainset.errors import REJECT_REASONS
from rainset.ingest import IngestSummary
from rainset.settings import SETTINGS
from rainset.status import StoreStatus
from rainset.verify import Problem, VerifyReport

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_setting_and_reject_reason_is_documented() -> None:
    text = (DOCS / "store-format.md").read_text()
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in text]
    assert missing == [], f"settings missing from docs/store-format.md: {missing}"
    missing = [r for r in REJECT_REASONS if f"`{r}`" not in text]
    assert missing == [], f"reject reasons missing from docs/store-format.md: {missing}"


def command_names() -> list[str]:
    """Every command as typed: ``ingest``, ``users add``, ``labels export``, …"""
    names = [c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands]
    for group in app.registered_groups:
        sub = group.typer_instance
        names += [f"{group.name} {c.name or c.callback.__name__.replace('_', '-')}" for c in sub.registered_commands]
    return names


def test_every_command_and_json_key_is_documented() -> None:
    everything = "\n".join(p.read_text() for p in sorted(DOCS.glob("*.md")))
    assert [c for c in command_names() if f"## rainset {c}" not in everything] == []
    text = (DOCS / "cli.md").read_text()
    for cls in (IngestSummary, StoreStatus, VerifyReport, Problem, DemoResult):
        keys = [f.name for f in dataclasses.fields(cls)]
        assert [k for k in keys if f"`{k}`" not in text and f'"{k}"' not in text] == [], cls.__name__


def test_readme_shows_the_two_commands_first() -> None:
    readme = (DOCS.parent / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block
