"""A torch IterableDataset over rainset shards: ranks, workers, deterministic shuffle, resume (docs/loader.md)."""
