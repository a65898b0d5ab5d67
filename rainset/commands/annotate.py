"""CLI commands: annotate."""

from __future__ import annotations

from rainset.cli import app  # noqa: F401
