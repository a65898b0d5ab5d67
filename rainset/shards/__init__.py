"""WebDataset tar shards of a manifest version: ``rainset shards NAME`` (see docs/shards.md)."""
