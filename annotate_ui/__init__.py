"""The labelling web app: ``create_app(AppSettings(store=…))``, served by ``rainset annotate serve``.

Importing this package is cheap: FastAPI and the routes load when the factory is first used.
"""

from __future__ import annotations

from typing import Any

from rainset.annotate_ui.config import AppSettings

__all__ = ["AppSettings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from rainset.annotate_ui.app import create_app  # heavy: fastapi, sqlalchemy; the CLI imports this package

        return create_app
    raise AttributeError(name)
