# Secrets: not in ENV or ARG (they stay in the image config and history), not in files.
package repro.secrets

import data.repro.lib
import rego.v1

rules := {
	"REPRO-SECRET-001": {
		"title": "Secret in ENV or ARG",
		"severity": "error",
		"fix": "pass secrets with RUN --mount=type=secret (build) or at run time; ENV and ARG values stay in the image",
		"hadolint": null,
		"stage": "lint",
	},
	"REPRO-SECRET-002": {
		"title": "Secret passed as a build argument",
		"severity": "warning",
		"fix": "use RUN --mount=type=secret,id=NAME instead of ARG: build-argument values are recorded in the image history",
		"hadolint": null,
		"stage": "lint",
	},
	"REPRO-SECRET-004": {
		"title": "Secret build argument recorded in the image",
		"severity": "error",
		"fix": "pass it with --secret id=NAME,src=FILE and read it in RUN --mount=type=secret,id=NAME: build-argument values are written into the image history for anyone who pulls it",
		"hadolint": null,
		"stage": "release",
	},
	"REPRO-SECRET-003": {
		"title": "Secret in the image's files",
		"severity": "error",
		"fix": "remove the file from the build context (.dockerignore) or from the layer that adds it; rotate the secret",
		"hadolint": null,
		"stage": "release",
	},
}

# repro marks names that look like secrets (secret_name) and values that match a known
# credential format (secret_value, the format's name); values are never copied into a finding.
findings contains f if {
	some ins in input.dockerfile.instructions
	ins.Cmd == "env"
	some v in ins.vars
	v.secret_name
	v.value != ""
	f := lib.finding(rules, "REPRO-SECRET-001", sprintf("ENV %v looks like a secret and has a value", [v.name]), ins)
}

findings contains f if {
	some ins in input.dockerfile.instructions
	ins.Cmd == "arg"
	some v in ins.vars
	v.secret_name
	v.value != null
	v.value != ""
	f := lib.finding(rules, "REPRO-SECRET-001", sprintf("ARG %v looks like a secret and has a default value", [v.name]), ins)
}

findings contains f if {
	some ins in input.dockerfile.instructions
	ins.Cmd in {"env", "arg", "label"}
	some v in ins.vars
	not v.secret_name
	v.secret_value != null
	f := lib.finding(
		rules, "REPRO-SECRET-001",
		concat("", [upper(ins.Cmd), " ", v.name, " holds what looks like a ", v.secret_value]), ins,
	)
}

findings contains f if {
	some ins in input.dockerfile.instructions
	ins.Cmd == "arg"
	some v in ins.vars
	v.secret_name
	v.value == null
	f := lib.finding(rules, "REPRO-SECRET-002", sprintf("ARG %v looks like a secret", [v.name]), ins)
}

findings contains f if {
	some item in input.files.findings
	item.kind in {"private-key", "credential", "token"}
	f := lib.finding(
		rules, "REPRO-SECRET-003",
		sprintf("/%v: %v", [item.path, item.detail]),
		object.get(item, "location", lib.image_location),
	)
}

# A --build-arg value that looks secret (by name or by shape) and that the build wrote
# into the image configuration (buildah records `|N NAME=value` in the history of every RUN
# that sees the argument). repro reports only the name and why, never the value.
findings contains f if {
	not lib.no_image
	some arg in object.get(input.image, "build_args", [])
	arg.in_config
	arg.secret != null
	f := lib.finding(
		rules, "REPRO-SECRET-004",
		sprintf("build argument %v looks like a secret (%v) and its value is recorded in the image config", [arg.name, arg.secret]),
		lib.image_location,
	)
}
