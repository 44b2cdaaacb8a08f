# Each test is a case: the findings of data.repro.pins for `input` must include every id
# of `expect` and none of `expect_not` (see 'repro policy test --help').
package repro.pins_test

import data.repro.testlib
import rego.v1

test_pin_001_unpinned_is_reported := {"input": {"pins": [testlib.pin({})]}, "expect": ["REPRO-PIN-001"]}

test_pin_001_pinned_passes := {
	"input": {"pins": [testlib.pin({"pinned": true, "digest": "sha256:ab"})]},
	"expect_not": ["REPRO-PIN-001"],
}

test_pin_002_latest_is_reported := {
	"input": {"pins": [testlib.pin({"tag": "latest", "text": "debian:latest"})]},
	"expect": ["REPRO-PIN-002"],
}

test_pin_002_version_tag_passes := {"input": {"pins": [testlib.pin({})]}, "expect_not": ["REPRO-PIN-002"]}

test_pin_003_untagged_is_reported := {
	"input": {"pins": [testlib.pin({"tag": null, "text": "debian"})]},
	"expect": ["REPRO-PIN-003"],
}

test_pin_003_tagged_passes := {"input": {"pins": [testlib.pin({})]}, "expect_not": ["REPRO-PIN-003"]}

test_pin_004_other_registry_is_reported := {
	"input": {"pins": [testlib.pin({"registry": "quay.io", "repository": "x/y"})]},
	"data": {"config": {"allowed_registries": ["ghcr.io/acme", "docker.io"]}},
	"expect": ["REPRO-PIN-004"],
}

test_pin_004_allowed_registry_and_namespace_pass := {
	"input": {"pins": [testlib.pin({}), testlib.pin({"registry": "ghcr.io", "repository": "acme/tool"})]},
	"data": {"config": {"allowed_registries": ["ghcr.io/acme", "docker.io"]}},
	"expect_not": ["REPRO-PIN-004"],
}

test_pin_004_namespace_prefix_is_not_a_match := {
	"input": {"pins": [testlib.pin({"registry": "ghcr.io", "repository": "acme-evil/tool"})]},
	"data": {"config": {"allowed_registries": ["ghcr.io/acme"]}},
	"expect": ["REPRO-PIN-004"],
}

test_pin_004_off_without_a_list := {
	"input": {"pins": [testlib.pin({"registry": "quay.io"})]},
	"expect_not": ["REPRO-PIN-004"],
}

test_pin_005_unresolvable_is_reported := {
	"input": {"pins": [testlib.pin({"resolvable": false, "image": null, "text": "$BASE", "reason": "ARG BASE has no value"})]},
	"expect": ["REPRO-PIN-005"],
	"expect_not": ["REPRO-PIN-001"],
}

test_pin_007_invalid_reference_is_an_error := {
	"input": {"pins": [testlib.pin({"resolvable": false, "invalid": true, "image": "Debian:x", "text": "Debian:x", "reason": "must be lower case"})]},
	"expect": ["REPRO-PIN-007"],
	"expect_not": ["REPRO-PIN-005", "REPRO-PIN-001"],
}

test_pin_007_valid_reference_passes := {"input": {"pins": [testlib.pin({})]}, "expect_not": ["REPRO-PIN-007"]}

test_pin_005_resolvable_passes := {"input": {"pins": [testlib.pin({})]}, "expect_not": ["REPRO-PIN-005"]}

test_pin_006_moved_tag_is_reported := {
	"input": {"pins": [testlib.pin({"pinned": true, "current": false})]},
	"expect": ["REPRO-PIN-006"],
}

test_pin_006_current_or_unknown_passes := {
	"input": {"pins": [testlib.pin({"pinned": true, "current": true}), testlib.pin({})]},
	"expect_not": ["REPRO-PIN-006"],
}

# A plain opa-style test works too when it needs no `with`.
test_registry_allowed_matches_a_whole_registry if {
	data.repro.pins.registry_allowed({"registry": "docker.io", "repository": "library/debian"}, ["docker.io"])
}
