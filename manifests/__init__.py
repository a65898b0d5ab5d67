"""Manifests: named, immutable snapshots of the catalog for training (``rainset.manifests``).

One Parquet row per capture (schema in :mod:`~rainset.manifests.schema`), split into train,
validation and test without leakage (:mod:`~rainset.manifests.splits`); exported, read back, diffed,
checked for leakage and reported on by the modules here. The folder sits at the repository's top
level and is installed as ``rainset.manifests`` (see README.md here).
"""
