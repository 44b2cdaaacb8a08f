# Image references: pinned to digests, no `latest`, only from allowed registries.
package repro.pins

import data.repro.lib
import rego.v1

rules := {
	"REPRO-PIN-001": {
		"title": "Image not pinned to a digest",
		"severity": "error",
		"fix": "run 'repro pin' to add the digest (name:tag@sha256:...)",
		"hadolint": null,
		"stage": "lint",
	},
	"REPRO-PIN-002": {
		"title": "Image follows the 'latest' tag",
		"severity": "warning",
		"fix": "name a version tag (debian:bookworm, not debian:latest) so that refreshes stay within it",
		"hadolint": "DL3007",
		"stage": "lint",
	},
	"REPRO-PIN-003": {
		"title": "Image has no tag",
		"severity": "warning",
		"fix": "write the tag you mean (name:tag); an untagged name means 'latest'",
		"hadolint": "DL3006",
		"stage": "lint",
	},
	"REPRO-PIN-004": {
		"title": "Image from a registry that is not allowed",
		"severity": "error",
		"fix": "use an image from an allowed registry, or add the registry to [tool.repro.policy] allowed_registries",
		"hadolint": "DL3026",
		"stage": "lint",
	},
	"REPRO-PIN-005": {
		"title": "Image cannot be known from the Dockerfile",
		# An error, as for pin --check and build: nothing shows the image is pinned.
		"severity": "error",
		"fix": "give the ARG a default (ARG BASE=debian:bookworm) so the image can be checked and pinned",
		"hadolint": null,
		"stage": "lint",
	},
	"REPRO-PIN-007": {
		"title": "Image reference is not valid",
		"severity": "error",
		"fix": "write the image as [HOST[:PORT]/]NAME[:TAG][@sha256:DIGEST], lower case",
		"hadolint": null,
		"stage": "lint",
	},
	"REPRO-PIN-006": {
		"title": "Pinned tag has moved",
		"severity": "warning",
		"fix": "run 'repro refresh' to move the digest to where the tag points now",
		"hadolint": null,
		"stage": "release",
	},
}

findings contains f if {
	some pin in input.pins
	pin.resolvable
	not pin.pinned
	f := lib.image_finding(rules, "REPRO-PIN-001", sprintf("%v is not pinned to a digest", [pin.text]), pin, pin.image)
}

findings contains f if {
	some pin in input.pins
	pin.tag == "latest"
	f := lib.image_finding(rules, "REPRO-PIN-002", sprintf("%v uses the 'latest' tag", [pin.text]), pin, pin.image)
}

findings contains f if {
	some pin in input.pins
	pin.resolvable
	pin.tag == null
	f := lib.image_finding(
		rules, "REPRO-PIN-003",
		sprintf("%v has no tag (it means %v:latest)", [pin.text, pin.repository]), pin, pin.image,
	)
}

findings contains f if {
	allowed := data.config.allowed_registries
	count(allowed) > 0
	some pin in input.pins
	pin.resolvable
	not registry_allowed(pin, allowed)
	f := lib.image_finding(
		rules, "REPRO-PIN-004",
		concat("", [pin.text, " comes from ", pin.registry, ", which is not an allowed registry (", concat(", ", allowed), ")"]),
		pin, pin.image,
	)
}

# An entry allows a whole registry ("ghcr.io") or a namespace in it ("ghcr.io/acme").
registry_allowed(pin, allowed) if pin.registry in allowed

registry_allowed(pin, allowed) if {
	some entry in allowed
	startswith(concat("/", [pin.registry, pin.repository]), concat("", [trim_suffix(entry, "/"), "/"]))
}

findings contains f if {
	some pin in input.pins
	not pin.resolvable
	not pin.invalid
	f := lib.finding(rules, "REPRO-PIN-005", sprintf("%v cannot be checked: %v", [pin.text, pin.reason]), pin)
}

findings contains f if {
	some pin in input.pins
	pin.invalid
	f := lib.finding(rules, "REPRO-PIN-007", sprintf("%v is not a valid image reference: %v", [pin.text, pin.reason]), pin)
}

findings contains f if {
	some pin in input.pins
	pin.current == false
	f := lib.image_finding(rules, "REPRO-PIN-006", sprintf("the tag of %v has moved since it was pinned", [pin.text]), pin, pin.image)
}
