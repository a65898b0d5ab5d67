"""The dedupe stage of ``rainset demo``: run dedupe on the demo store, describe the largest cluster."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from rainset.catalog.db import catalog_session
from rainset.dedupe.groups import list_groups
from rainset.dedupe.run import DedupeResult, dedupe
from rainset.store import Store


@dataclass(frozen=True)
class DedupeDemo:
    """What the dedupe stage of ``rainset demo`` did."""

    result: DedupeResult
    largest_cluster: list[str]
    representative: str | None

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        r, g = self.result, self.result.groups
        rel = ", ".join(f"{k}: {v}" for k, v in r.relations.items()) or "none"
        flags = ", ".join(f"{k}: {v}" for k, v in r.flagged.items()) or "none"
        return [
            f"dedupe: {r.candidates} candidate pairs ({rel}) among {r.captures} captures in {r.seconds:.1f} s",
            f"groups: {g.clusters} duplicate clusters ({g.clustered_captures} captures), {g.bursts} bursts, "
            f"{g.scenes} scene groups; quality flags: {flags}",
            "try:   rainset groups --kind cluster;  rainset groups representative CAPTURE",
        ]


def demo_stage(store: Store) -> DedupeDemo:
    """Run dedupe on the demo store and describe the largest duplicate cluster."""
    result = dedupe(store)
    with catalog_session(store.db_url) as session:
        clusters = list_groups(session, "cluster")
    if not clusters:
        return DedupeDemo(result, [], None)
    big = max(clusters, key=lambda g: (len(g.members), g.key))
    rep = next(m.capture_id for m in big.members if m.representative)
    return DedupeDemo(result, [m.capture_id for m in big.members], rep)
