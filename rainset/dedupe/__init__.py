"""Dedupe: exact and near-duplicate clusters, bursts, scene groups, representatives, corrections."""
