package repro.labels_test

import data.repro.testlib
import rego.v1

test_label_001_missing_labels_are_reported := {
	"input": testlib.dockerfile([], testlib.final({"labels": {"org.opencontainers.image.source": {"value": "x"}}})),
	"expect": ["REPRO-LABEL-001"],
}

test_label_001_all_labels_pass := {"input": testlib.dockerfile([], testlib.final({})), "expect_not": ["REPRO-LABEL-001"]}

test_label_001_release_reads_the_image_config := {
	"input": testlib.release({"image": {"config": {"labels": {}}}}),
	"expect": ["REPRO-LABEL-001"],
}

test_label_002_wall_clock_created_is_reported := {
	"input": testlib.release({
		"source_date_epoch": 1700000000,
		"image": {"created_label": {"value": "2024-05-01T10:00:00Z", "epoch": 1714557600}},
	}),
	"expect": ["REPRO-LABEL-002"],
}

test_label_002_created_from_source_date_epoch_passes := {
	"input": testlib.release({
		"source_date_epoch": 1700000000,
		"image": {"created_label": {"value": "2023-11-14T22:13:20Z", "epoch": 1700000000}},
	}),
	"expect_not": ["REPRO-LABEL-002"],
}
