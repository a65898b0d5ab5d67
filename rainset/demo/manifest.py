"""The manifest stage of ``rainset demo``: export a version, check it for leakage, write the report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rainset.manifests.export import ExportResult, export_manifest
from rainset.manifests.leakage import LeakageResult, check_version_leakage
from rainset.manifests.report import ReportResult, write_report
from rainset.store import Store


@dataclass(frozen=True)
class ManifestDemoResult:
    """What the manifest stage of the demo did."""

    export: ExportResult
    leakage: LeakageResult
    report: ReportResult

    def to_dict(self) -> dict:
        return {"export": self.export.to_dict(), "leakage": self.leakage.to_dict(), "report": self.report.to_dict()}

    def lines(self) -> list[str]:
        return [*self.export.lines(), *self.leakage.lines()[:3], *self.report.lines(),
                f"try:   rainset diff --store {Path(self.export.path).parents[1]} NAME_A NAME_B"]


def demo_stage(store: Store, *, name: str = "demo-v1", report_path: Path | None = None,
               include_unlabelled: bool = True) -> ManifestDemoResult:
    """Export ``name`` (every active capture unless ``include_unlabelled`` is off), check it, report it.

    The report goes to ``report_path`` (default ``STORE/report-NAME.html``).
    """
    exported = export_manifest(store, name, include_unlabelled=include_unlabelled)
    leaks = check_version_leakage(store, name)
    report = write_report(store, name, report_path or store.root / f"report-{name}.html")
    return ManifestDemoResult(exported, leaks, report)
