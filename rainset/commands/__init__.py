"""CLI commands of the later stages, one module per area, registered on ``rainset.cli.app``.

Each module imports ``app`` and the helpers (``edge``, ``print_json``, ``progress_bar``, …) from
``rainset.cli`` and adds its commands; ``rainset.cli`` imports them once ``app`` exists.
"""
