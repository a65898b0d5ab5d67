"""Rain-type suggestions from the rain measurements: ``rainset suggest`` (docs/suggestions.md)."""

from rainset.suggest.views import SuggestionView, current_suggestions

__all__ = ["SuggestionView", "current_suggestions"]
