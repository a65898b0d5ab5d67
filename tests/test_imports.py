"""Import hygiene of the package: no import circle (every import counts, lazy ones inside functions
too) and no private name (``_x``) imported from another package.

The graph is read from the source with :mod:`ast`, so nothing is imported to check it. Folders that
pyproject.toml maps into the package (``ingest/`` → ``rainset.ingest`` …) are read under their
installed names.
"""

from __future__ import annotations

import ast
import graphlib
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def project_modules() -> dict[str, Path]:
    """Module name → source file, for every module the wheel installs."""
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    modules: dict[str, Path] = {}
    for package, folder in mapping.items():
        base = ROOT / folder
        for path in base.rglob("*.py"):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([package, *parts])] = path
    return modules


def owner(name: str, modules: dict[str, Path]) -> str | None:
    """The project module that ``import name`` loads (a name inside a module resolves to the module)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def package_of(module: str, modules: dict[str, Path]) -> str:
    return module if modules[module].name == "__init__.py" else module.rpartition(".")[0]


def import_graph() -> tuple[dict[str, set[str]], list[str]]:
    """Edges module → imported project modules, and the private cross-package imports found."""
    modules = project_modules()
    edges: dict[str, set[str]] = {m: set() for m in modules}
    private: list[str] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        here = package_of(module, modules)
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
                source = owner(base, modules)
                if source is not None and package_of(source, modules) != here:
                    private += [f"{path.relative_to(ROOT)}: from {base} import {alias.name}"
                                for alias in node.names
                                if alias.name.startswith("_") and not alias.name.startswith("__")]
            for target in targets:
                resolved = owner(target, modules)
                if resolved is not None and resolved != module:
                    edges[module].add(resolved)
    return edges, private


def test_the_graph_is_read():
    edges, _ = import_graph()
    assert "rainset.ingest" in edges and "rainset.manifests" in edges  # the mapped folders
    assert "rainset.catalog.db" in edges["rainset.store"]


def test_no_import_circle():
    edges, _ = import_graph()
    try:
        tuple(graphlib.TopologicalSorter(edges).static_order())
    except graphlib.CycleError as exc:
        raise AssertionError(f"import circle: {' -> '.join(exc.args[1])}") from None


def test_no_private_name_from_another_package():
    _, private = import_graph()
    assert private == []


def test_every_package_is_in_the_wheel():
    """A package folder missing from pyproject's ``packages`` list works in an editable install and
    is silently left out of a built wheel."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {name for name, path in project_modules().items() if path.name == "__init__.py"}
    assert packages - listed == set()
