"""Tests of repro.sbom."""
