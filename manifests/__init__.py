"""Manifest schema, export, versions, diffs and splits: built by the manifests issue."""
