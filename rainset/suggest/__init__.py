"""Rain-type suggestions from the rain measurements: ``rainset suggest`` (docs/suggestions.md).

Reading the current suggestions back: :mod:`rainset.suggestions`.
"""


def __getattr__(name: str):  # noqa: ANN202 - lazy: suggest_store imports the catalog and the measurements
    if name in ("suggest_store", "SuggestResult"):
        from rainset.suggest import run  # heavy: sqlalchemy, the catalog; the light submodules (rules, model) load this package

        return getattr(run, name)
    raise AttributeError(f"module 'rainset.suggest' has no attribute {name!r}")


__all__ = ["SuggestResult", "suggest_store"]
