"""The labelling web app: ``create_app(AppSettings(store=…))``, served by ``rainset annotate serve``.

Importing this package is cheap: FastAPI and the routes load when the factory is first used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AppSettings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from rainset.annotate_ui.app import create_app

        return create_app
    if name == "AppSettings":
        from rainset.annotate_ui.config import AppSettings

        return AppSettings
    raise AttributeError(name)
