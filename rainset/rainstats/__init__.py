"""Rain measurements per capture: streaks, veil, droplets, night (docs/suggestions.md)."""
