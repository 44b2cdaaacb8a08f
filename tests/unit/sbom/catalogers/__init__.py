"""Tests of the SBOM catalogers."""
