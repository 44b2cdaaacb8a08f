# OCI annotations on the image: where it came from, which revision, version and licences;
# at release, a creation time that matches SOURCE_DATE_EPOCH.
package repro.labels

import data.repro.lib
import rego.v1

rules := {
	"REPRO-LABEL-001": {
		"title": "OCI labels missing",
		"severity": "warning",
		"fix": "add LABEL org.opencontainers.image.source=... revision=... version=... licenses=... (ARGs may fill them)",
		"hadolint": null,
		"stage": "lint",
	},
	"REPRO-LABEL-002": {
		"title": "Creation label disagrees with SOURCE_DATE_EPOCH",
		"severity": "error",
		"fix": "set org.opencontainers.image.created from SOURCE_DATE_EPOCH (or leave it out): a wall-clock time breaks reproducibility",
		"hadolint": null,
		"stage": "release",
	},
}

required := [
	"org.opencontainers.image.source",
	"org.opencontainers.image.revision",
	"org.opencontainers.image.version",
	"org.opencontainers.image.licenses",
]

# The labels the image has: its configuration when known, else the Dockerfile's.
labels := object.keys(input.image.config.labels) if {
	input.image.config.labels != null
} else := object.keys(input.dockerfile.final.labels)

missing := [name | some name in required; not name in labels]

findings contains f if {
	count(missing) > 0
	f := lib.finding(rules, "REPRO-LABEL-001", concat("", ["missing label(s): ", concat(", ", missing)]), lib.image_location)
}

findings contains f if {
	created := input.image.created_label
	created != null
	input.source_date_epoch != null
	created.epoch != input.source_date_epoch
	f := lib.finding(
		rules, "REPRO-LABEL-002",
		sprintf("org.opencontainers.image.created is '%v' but SOURCE_DATE_EPOCH is %d", [created.value, input.source_date_epoch]),
		lib.image_location,
	)
}
