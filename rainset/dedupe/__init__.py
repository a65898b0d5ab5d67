"""Dedupe: exact and near-duplicate clusters, bursts, scene groups, representatives, corrections.

Entry points: :func:`rainset.dedupe.run.dedupe` (the whole stage, ``rainset dedupe``),
:func:`rainset.dedupe.groups.list_groups` and :func:`rainset.dedupe.corrections.add_correction`; the multi-index search over 64-bit hashes is
:class:`rainset.dedupe.index.HashIndex`. See docs/dedupe.md.
"""
