"""Rain-type suggestions from the rain measurements: ``rainset suggest`` (docs/suggestions.md)."""
