# What only the release stage knows: the built image's files and size, and whether it was
# verified reproducible, described by an SBOM and signed. Nothing here fires at lint.
package repro.release

import data.repro.lib
import rego.v1

rules := {
	"REPRO-FILE-001": {
		"title": "setuid or setgid file",
		"severity": "warning",
		"fix": "remove the setuid/setgid bit (chmod u-s,g-s) unless the program needs it",
		"hadolint": null,
		"stage": "release",
	},
	"REPRO-FILE-002": {
		"title": "World-writable file or directory",
		"severity": "warning",
		"fix": "chmod o-w (directories that must be shared need the sticky bit, like /tmp)",
		"hadolint": null,
		"stage": "release",
	},
	"REPRO-SIZE-001": {
		"title": "Image over its size budget",
		"severity": "error",
		"fix": "make the image smaller (multi-stage build, fewer packages) or raise size_budget_mb",
		"hadolint": null,
		"stage": "release",
	},
	"REPRO-BUILD-001": {
		"title": "Build not verified reproducible",
		"severity": "error",
		"fix": "run 'repro verify' and fix what the diff report shows",
		"hadolint": null,
		"stage": "release",
	},
	"REPRO-SBOM-001": {
		"title": "No SBOM",
		"severity": "error",
		"fix": "generate one with 'repro sbom' (repro release does it)",
		"hadolint": null,
		"stage": "release",
	},
	"REPRO-SIGN-001": {
		"title": "No verified signature",
		"severity": "error",
		"fix": "sign the image (repro attest) and verify the signature before publishing",
		"hadolint": null,
		"stage": "release",
	},
}

findings contains f if {
	some item in input.files.findings
	item.kind in {"setuid", "setgid"}
	f := lib.finding(rules, "REPRO-FILE-001", sprintf("/%v: %v", [item.path, item.detail]), object.get(item, "location", lib.image_location))
}

findings contains f if {
	some item in input.files.findings
	item.kind == "world-writable"
	f := lib.finding(rules, "REPRO-FILE-002", sprintf("/%v: %v", [item.path, item.detail]), object.get(item, "location", lib.image_location))
}

findings contains f if {
	budget := data.config.size_budget_mb
	budget != null
	size := input.image.size
	size > (budget * 1024) * 1024
	f := lib.finding(
		rules, "REPRO-SIZE-001",
		sprintf("the image is %.1f MiB, over its budget of %v MiB", [(size / 1024) / 1024, budget]),
		lib.image_location,
	)
}

findings contains f if {
	lib.is_release
	not input.reproducibility.verified
	f := lib.finding(rules, "REPRO-BUILD-001", "the build was not verified reproducible (two builds, one digest)", lib.image_location)
}

findings contains f if {
	lib.is_release
	not input.sbom.present
	f := lib.finding(rules, "REPRO-SBOM-001", "the image has no SBOM", lib.image_location)
}

verified_signatures := [s | some s in input.signatures; s.verified]

findings contains f if {
	lib.is_release
	count(verified_signatures) == 0
	f := lib.finding(rules, "REPRO-SIGN-001", "the image has no verified signature", lib.image_location)
}
