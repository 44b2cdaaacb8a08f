"""Benchmark scripts: each prints its timings and a ratio against the tool a user would use otherwise."""
