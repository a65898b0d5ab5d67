"""rainset: turn real rainy camera captures into a clean, labelled, versioned deraining dataset."""

__version__ = "0.1.0"
