"""The policy gate: Rego v1 policies over one JSON input document per Dockerfile (and image).

    >>> from repro.policy import check_paths
    >>> report = check_paths(["Dockerfile"])          # doctest: +SKIP
    >>> print(render(report, "human"))                # doctest: +SKIP

- :mod:`repro.policy.input` builds the input document (lint: the Dockerfile; release: also
  the image, its files, SBOM, reproducibility and signatures, from :class:`ReleaseFacts`);
- :mod:`repro.policy.engine` loads and evaluates the policies with regopy;
- :mod:`repro.policy.findings` applies the configuration and renders reports;
- :mod:`repro.policy.scan` looks through an image's files for secrets and risky modes.

The default policies live in the repository's ``policy/`` directory and are installed as
data files with the package.
"""

from __future__ import annotations

from repro.policy.check import check_documents, check_paths, check_release, load_policies, policy_data
from repro.policy.engine import PolicySet, RuleInfo, TestResult, default_policy_dir
from repro.policy.findings import PolicyFinding, Report, judge, render
from repro.policy.input import (
    LayerFacts,
    PinFacts,
    ReleaseFacts,
    SignatureFacts,
    build_input,
    lint_input,
)
from repro.policy.scan import FileFinding, ScanResult, scan_files

__all__ = [
    "FileFinding",
    "LayerFacts",
    "PinFacts",
    "PolicyFinding",
    "PolicySet",
    "ReleaseFacts",
    "Report",
    "RuleInfo",
    "ScanResult",
    "SignatureFacts",
    "TestResult",
    "build_input",
    "check_documents",
    "check_paths",
    "check_release",
    "default_policy_dir",
    "judge",
    "lint_input",
    "load_policies",
    "policy_data",
    "render",
    "scan_files",
]
