"""The label vocabulary: rain types come from the store's settings, attributes are fixed here.

This is the one place that lists the attributes and checks a label against a taxonomy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from rainset.errors import InvalidInputError

ATTRIBUTES: tuple[str, ...] = ("night", "lens-droplets", "splash")


@dataclass(frozen=True)
class Taxonomy:
    """The rain types in key order and the version recorded with every label."""

    rain_types: tuple[str, ...]
    version: int


def store_taxonomy(store) -> Taxonomy:  # noqa: ANN001 - rainset.store.Store
    """The taxonomy of a store's settings."""
    return Taxonomy(tuple(store.settings["taxonomy"]), int(store.settings["taxonomy_version"]))


def check_label(rain_type: str, attributes: Iterable[str], taxonomy: Sequence[str]) -> tuple[str, ...]:
    """Validate a rain type and attributes; return the attributes sorted and deduplicated.

    Raises:
        InvalidInputError: a rain type outside ``taxonomy`` or an unknown attribute.
    """
    if rain_type not in taxonomy:
        raise InvalidInputError(f"unknown rain type {rain_type!r}: expected one of {', '.join(taxonomy)}")
    attrs = tuple(attributes or ())
    if isinstance(attributes, str):
        attrs = (attributes,)
    bad = [a for a in attrs if a not in ATTRIBUTES]
    if bad:
        raise InvalidInputError(f"unknown attribute {bad[0]!r}: expected any of {', '.join(ATTRIBUTES)}")
    return tuple(sorted(set(attrs)))
