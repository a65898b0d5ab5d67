"""``rainset suggest show`` and ``rainset suggest model``: why a capture got its suggestion, and the model."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.orm import Session

from rainset.catalog.models import Capture
from rainset.catalog.rainstats_tables import Suggestion
from rainset.errors import StoreError
from rainset.labels.consensus import current_labels
from rainset.suggest.rules import RULES_MODEL, THRESHOLDS
from rainset.suggest.run import load_measurements, stored_model


@dataclass(frozen=True)
class Explanation:
    """One capture: its measurements, its suggestion with the reason or probabilities, its label."""

    capture_id: str
    status: str
    measurements: dict[str, Any]
    suggestion: dict[str, Any] | None  # rain_type, confidence, model, features, info, created_at
    consensus: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        lines = [f"capture {self.capture_id} ({self.status})"]
        if self.measurements:
            lines += [f"  {k:<22} {_fmt(v)}" for k, v in sorted(self.measurements.items())]
        else:
            lines.append("  not measured yet: run 'rainset suggest'")
        s = self.suggestion
        if s is None:
            lines.append("suggestion: none")
        else:
            lines.append(f"suggestion: {s['rain_type']} (confidence {s['confidence']:.2f}, {s['model']} on "
                         f"{s['features']} measurements)")
            for why in s["info"].get("reason", []):
                lines.append(f"  rule: {why}")
            for c, p in sorted(s["info"].get("probabilities", {}).items(), key=lambda kv: -kv[1]):
                lines.append(f"  p({c}) = {p:.3f}")
        lines.append(f"consensus label: {self.consensus or 'none'}")
        return lines


def _fmt(v: Any) -> str:
    return "n/a" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))


def explain_capture(session: Session, capture_id: str) -> Explanation:
    """Measurements, suggestion and consensus label of one capture.

    Raises:
        StoreError: no capture has this id.
    """
    capture = session.get(Capture, capture_id)
    if capture is None:
        raise StoreError(f"no capture with id {capture_id!r}")
    values = load_measurements(session, [capture_id], rain_layer=True).get(capture_id, {})
    row = session.get(Suggestion, capture_id)
    suggestion = None if row is None else {
        "rain_type": row.rain_type, "confidence": row.confidence, "model": row.model, "features": row.features,
        "info": dict(row.info or {}), "created_at": row.created_at.isoformat() if row.created_at else None}
    label = current_labels(session, [capture_id]).get(capture_id)
    return Explanation(capture_id, capture.status, dict(values), suggestion, label.rain_type if label else None)


def model_description(session: Session, name: str | None = None) -> dict[str, Any]:
    """The newest fitted model (or ``name``) as a dict with a ``text`` rendering; the rules when none is fitted."""
    model = stored_model(session, name)
    if model is None:
        if name:
            raise StoreError(f"no fitted suggestion model named {name!r}")
        lines = [f"{RULES_MODEL}: no model fitted yet; the rules use these thresholds (docs/suggestions.md)",
                 *(f"  {k:<16} {v:g}" if isinstance(v, float) else f"  {k:<16} {v}"
                   for k, v in THRESHOLDS.to_dict().items() if k != "by_type"),
                 "  confidence per decided type: the lowest of sigmoid(a + b·margin) over its calibration sets",
                 *(f"    {kind:<10} a {a:+.4f}  b {b:+.4f}  ({where})" for kind, a, b, where in THRESHOLDS.by_type)]
        return {"kind": "rules", "model": RULES_MODEL, "thresholds": THRESHOLDS.to_dict(), "text": lines}
    return {"kind": "fitted", "model": f"logreg-{model.model_id}", "model_version": f"suggest-{model.model_id}",
            "parameters": model.to_dict(), "text": model.describe()}
