"""CLI commands of the suggest stage (registered on rainset.cli.app)."""

from __future__ import annotations

from rainset.cli import app  # noqa: F401
