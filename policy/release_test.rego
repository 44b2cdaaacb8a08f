package repro.release_test

import data.repro.testlib
import rego.v1

finding(kind) := {"scanned": 3, "findings": [{"kind": kind, "path": "usr/bin/x", "detail": "d", "layer": 0}]}

test_everything_in_order_passes := {
	"input": testlib.release({}),
	"data": {"config": {"size_budget_mb": 10}},
	"expect_not": ["REPRO-FILE-001", "REPRO-FILE-002", "REPRO-SIZE-001", "REPRO-BUILD-001", "REPRO-SBOM-001", "REPRO-SIGN-001"],
}

test_lint_stage_needs_no_release_facts := {
	"input": testlib.dockerfile([], testlib.final({})),
	"expect_not": ["REPRO-BUILD-001", "REPRO-SBOM-001", "REPRO-SIGN-001", "REPRO-SIZE-001"],
}

test_file_001_setuid_is_reported := {"input": testlib.release({"files": finding("setuid")}), "expect": ["REPRO-FILE-001"]}

test_file_002_world_writable_is_reported := {
	"input": testlib.release({"files": finding("world-writable")}),
	"expect": ["REPRO-FILE-002"],
	"expect_not": ["REPRO-FILE-001"],
}

test_size_001_over_budget_is_reported := {
	"input": testlib.release({"image": {"size": 20971520}}),
	"data": {"config": {"size_budget_mb": 10}},
	"expect": ["REPRO-SIZE-001"],
}

test_size_001_no_budget_passes := {"input": testlib.release({"image": {"size": 20971520}}), "expect_not": ["REPRO-SIZE-001"]}

test_build_001_not_verified_is_reported := {
	"input": testlib.release({"reproducibility": {"verified": false, "digests": ["sha256:01", "sha256:02"]}}),
	"expect": ["REPRO-BUILD-001"],
}

test_build_001_missing_facts_fail_closed := {"input": testlib.release({"reproducibility": null}), "expect": ["REPRO-BUILD-001"]}

test_sbom_001_missing_sbom_is_reported := {"input": testlib.release({"sbom": null}), "expect": ["REPRO-SBOM-001"]}

test_sign_001_unverified_signature_is_reported := {
	"input": testlib.release({"signatures": [{"subject": "image", "kind": "key", "verified": false, "identity": null}]}),
	"expect": ["REPRO-SIGN-001"],
}

test_sign_001_no_signatures_is_reported := {"input": testlib.release({"signatures": null}), "expect": ["REPRO-SIGN-001"]}

test_file_001_no_setuid_passes := {"input": testlib.release({"files": finding("world-writable")}), "expect_not": ["REPRO-FILE-001"]}

test_file_002_no_world_writable_passes := {"input": testlib.release({"files": finding("setgid")}), "expect_not": ["REPRO-FILE-002"]}

test_size_001_within_budget_passes := {
	"input": testlib.release({"image": {"size": 1048576}}),
	"data": {"config": {"size_budget_mb": 10}},
	"expect_not": ["REPRO-SIZE-001"],
}

test_build_001_verified_passes := {"input": testlib.release({}), "expect_not": ["REPRO-BUILD-001"]}

test_sbom_001_sbom_present_passes := {"input": testlib.release({}), "expect_not": ["REPRO-SBOM-001"]}

test_sign_001_verified_signature_passes := {"input": testlib.release({}), "expect_not": ["REPRO-SIGN-001"]}
