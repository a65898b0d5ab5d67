"""``rainset demo``: the main flow end to end on generated captures, in a temporary store.

generate → ingest → dedupe → label (scripted annotators and a reviewer, through the queue) →
the web app over HTTP → export a manifest version and its report → a short NLCL training run and
one derained sample. Each stage's result is kept as a dict under its name (``--json``).

One module per stage holds its ``demo_stage`` (``rainset.demo.dedupe``, ``.labels``, ``.rainstats``,
``.suggest``, ``.web``, ``.manifest``, ``.shards``, ``.loader``, ``.nlcl``); ``rainset.demo.training_data``
generates the NLCL training folders and labelled stores the tests and benchmarks use. Library code
never imports this package.
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from rainset.demo.dedupe import demo_stage as dedupe_stage
from rainset.demo.labels import demo_stage as labels_stage
from rainset.demo.manifest import demo_stage as manifest_stage
from rainset.demo.rainstats import demo_stage as rainstats_stage
from rainset.demo.shards import demo_stage as shards_stage
from rainset.demo.suggest import demo_stage as suggest_stage
from rainset.demo.web import demo_stage as web_stage
from rainset.ingest import IngestOptions, IngestSummary, Provenance, ingest
from rainset.status import StoreStatus, store_status
from rainset.store import Store, init_store
from rainset.synth import SynthTruth, generate_dataset


@dataclass(frozen=True)
class DemoResult:
    """What the demo did (its ``--json`` output)."""

    root: str
    captures_dir: str
    store: str
    generated_files: int
    generate_seconds: float
    expected_rejects: dict[str, int]
    ingest: IngestSummary
    status: StoreStatus
    stages: dict[str, dict] = field(default_factory=dict)
    stage_lines: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        s, st = self.ingest, self.status
        got = {k: v for k, v in st.rejects_by_reason.items()}
        return [
            f"generated {self.generated_files} files in {self.captures_dir} ({self.generate_seconds:.1f} s)",
            f"ingested: {s.new_captures} captures from {s.new_files} files ({s.paired} RAW+JPEG pairs, "
            f"{s.exact_copies} exact copies) in {s.seconds:.1f} s, {s.files_per_second:.1f} files/s",
            f"rejected: {s.rejected} files {got} (expected {self.expected_rejects})",
            *self.stage_lines,
            f"store: {self.store}",
            f"try:   rainset --help;  rainset status --store {self.store}",
        ]


def run_stages(store: Store, truth: SynthTruth, base: Path, *, train: bool) -> tuple[dict[str, dict], list[str]]:
    """The stages after ingest, in order; each returns a dataclass with ``to_dict()`` and ``lines()``."""
    results: dict[str, Any] = {"dedupe": dedupe_stage(store), "labels": labels_stage(store, truth)}
    results["rainstats"] = rainstats_stage(store)
    results["suggest"] = suggest_stage(store, truth)
    results["web"] = web_stage(store)  # after suggest: the labelling screen shows a suggestion
    results["manifest"] = manifest_stage(store, report_path=base / "report.html")
    results["shards"] = shards_stage(store, "demo-v1")
    if importlib.util.find_spec("torch") is not None:  # the loader and the trainer need the train extra
        from rainset.demo.loader import demo_stage as loader_stage  # heavy: torch (optional train extra)

        results["loader"] = loader_stage(results["shards"].shards.path)
    if train:
        from rainset.demo.nlcl import demo_stage as nlcl_stage  # heavy: torch (optional train extra)

        results["nlcl"] = nlcl_stage(base / "nlcl", shards=results["shards"].shards.path)
    lines = [line for r in results.values() for line in r.lines()]
    return {name: r.to_dict() for name, r in results.items()}, lines


def run_demo(root: Path | None = None, *, n_captures: int = 60, workers: int = 2, seed: int = 0, train: bool = True,
             progress: Callable[[int, int], None] | None = None) -> DemoResult:
    """Generate ``n_captures`` shots (plus copies, pairs and broken files) and ingest them into a new store."""
    base = Path(root) if root else Path(tempfile.mkdtemp(prefix="rainset-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    captures = base / "captures"
    t0 = time.perf_counter()
    truth = generate_dataset(captures, n_captures, seed=seed)
    gen_s = time.perf_counter() - t0
    expected: dict[str, int] = {}
    for f in truth.files:
        if f.expected_reject:
            expected[f.expected_reject] = expected.get(f.expected_reject, 0) + 1
    store = init_store(base / "store")
    summary = ingest(store, [str(captures)],
                     IngestOptions(workers=workers, provenance=Provenance("rainset-demo", "CC0-1.0", "rainset")),
                     progress=progress)
    stages, lines = run_stages(store, truth, base, train=train)
    return DemoResult(root=str(base), captures_dir=str(captures), store=str(store.root),
                      generated_files=len(truth.files), generate_seconds=round(gen_s, 2),
                      expected_rejects=dict(sorted(expected.items())), ingest=summary, status=store_status(store),
                      stages=stages, stage_lines=lines)
