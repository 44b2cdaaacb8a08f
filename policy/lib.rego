# Helpers shared by repro's policies (and usable by your own).
#
# A policy package defines `rules` (metadata keyed by rule id) and
# `findings contains f if { ... }`, building each finding with `lib.finding`.
package repro.lib

import rego.v1

# finding builds one finding of rule `id` from the package's `rules` metadata, at `loc`
# (anything with `file` and `line`: an instruction, a pin, the Dockerfile).
finding(rules, id, message, loc) := {
	"id": id,
	"severity": rules[id].severity,
	"message": message,
	"fix": rules[id].fix,
	"file": object.get(loc, "file", null),
	"line": object.get(loc, "line", null),
}

# The same, for a finding about one image (so that an exception can name it with `image`).
image_finding(rules, id, message, loc, image) := object.union(finding(rules, id, message, loc), {"image": image})

is_release if input.stage == "release"

# No built image is known (the lint stage): rules then read the Dockerfile instead.
no_image if object.get(input, "image", null) == null

# Where a finding about the whole image points to: the Dockerfile's final FROM when the
# Dockerfile is known, else nothing more precise than the image.
image_location := {"file": input.dockerfile.file, "line": input.dockerfile.final.line} if {
	input.dockerfile.final.line
} else := {"file": null, "line": null}

# Whether an instruction belongs to a stage that ends up in the image (the final stage or
# a stage it is built FROM); a build-only stage does not count.
#
# (Helpers here are functions and arrays rather than sets of instructions: rego-cpp
# compares set members deeply, which makes sets of large objects slow.)
in_image(ins) if {
	not ins.global
	ins.Stage in input.dockerfile.final.stages
}

# RUN instructions carry `commands`: their simple commands, split by repro; iterate with
#   some ins in input.dockerfile.instructions
#   some argv in ins.commands

# The program a command runs, without its directory ("/usr/bin/apt-get" -> "apt-get").
program(argv) := name if {
	parts := split(argv[0], "/")
	name := parts[count(parts) - 1]
}

# The words of a command after `word` (the subcommand): `install` in `apt-get -y install x`.
after(argv, word) := rest if {
	word in argv
	first := [k | some k; argv[k] == word][0]
	rest := array.slice(argv, first + 1, count(argv))
}

is_option(word) if startswith(word, "-")
