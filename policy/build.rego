# How the Dockerfile builds: ADD, package managers, sudo.
package repro.build

import data.repro.lib
import rego.v1

rules := {
	"REPRO-ADD-001": {
		"title": "ADD of a URL without a checksum",
		"severity": "error",
		"fix": "download it in a RUN step and check its hash: RUN wget -O /a.tgz URL && echo '<sha256>  /a.tgz' | sha256sum -c - (or ADD --checksum=sha256:<hex> with an engine that builds it)",
		"hadolint": null,
		"stage": "lint",
	},
	"REPRO-ADD-002": {
		"title": "ADD where COPY does",
		"severity": "warning",
		"fix": "use COPY for local files and directories; ADD only to unpack a local archive",
		"hadolint": "DL3020",
		"stage": "lint",
	},
	"REPRO-APT-001": {
		"title": "apt-get install without --no-install-recommends",
		"severity": "warning",
		"fix": "add --no-install-recommends: recommended packages grow the image and change with the mirror",
		"hadolint": "DL3015",
		"stage": "lint",
	},
	"REPRO-APT-002": {
		"title": "apt lists left in the image",
		"severity": "warning",
		"fix": "end the same RUN with 'rm -rf /var/lib/apt/lists/*' (or use a cache mount on /var/lib/apt/lists)",
		"hadolint": "DL3009",
		"stage": "lint",
	},
	"REPRO-RUN-001": {
		"title": "sudo in RUN",
		"severity": "error",
		"fix": "RUN already runs as the current USER; switch with USER instead of sudo",
		"hadolint": "DL3004",
		"stage": "lint",
	},
	"REPRO-VER-001": {
		"title": "apt package without a version",
		"severity": "warning",
		"fix": "pin the version: apt-get install curl=7.88.1-10+deb12u5",
		"hadolint": "DL3008",
		"stage": "lint",
	},
	"REPRO-VER-002": {
		"title": "apk package without a version",
		"severity": "warning",
		"fix": "pin the version: apk add curl=8.5.0-r0",
		"hadolint": "DL3018",
		"stage": "lint",
	},
	"REPRO-VER-003": {
		"title": "pip package without a version",
		"severity": "warning",
		"fix": "pin the version (pip install requests==2.32.3) or install from a requirements file with hashes",
		"hadolint": "DL3013",
		"stage": "lint",
	},
	"REPRO-VER-004": {
		"title": "npm package without a version",
		"severity": "warning",
		"fix": "pin the version (npm install left-pad@1.3.0), or use 'npm ci' with a lock file",
		"hadolint": "DL3016",
		"stage": "lint",
	},
}

# --- ADD ----------------------------------------------------------------------------

add_sources(ins) := array.slice(ins.Value, 0, count(ins.Value) - 1) if {
	ins.Cmd == "add"
	count(ins.heredocs) == 0
}

is_url(src) if regex.match(`^(https?|ftp)://`, lower(src))

is_archive(src) if regex.match(`\.(tar|tar\.(gz|bz2|xz|zst|lz|lzma|z)|tgz|tbz2?|tb2|txz|tlz|tzst|gz|bz2|xz|zst|lz|lzma|z)$`, lower(src))

findings contains f if {
	some ins in input.dockerfile.instructions
	some src in add_sources(ins)
	is_url(src)
	not ins.flags.checksum
	found := lib.finding(rules, "REPRO-ADD-001", sprintf("ADD downloads %v without --checksum", [src]), ins)
	f := object.union(found, {"fix": checksum_fix})
}

# The fix must be something the engine that builds this Dockerfile can build: ADD
# --checksum only where the engine declares it (input.engine.capabilities.add_checksum).
checksum_fix := "add --checksum=sha256:<hex> so that the download is verified" if {
	input.engine.capabilities.add_checksum == true
} else := sprintf(
	"download it in a RUN step and check its hash: RUN wget -O /a.tgz URL && echo '<sha256>  /a.tgz' | sha256sum -c - (%v cannot build ADD --checksum)",
	[input.engine.name],
) if {
	input.engine.name
} else := rules["REPRO-ADD-001"].fix

findings contains f if {
	some ins in input.dockerfile.instructions
	sources := add_sources(ins)
	local := [src | some src in sources; not is_url(src); not is_archive(src)]
	count(local) > 0
	f := lib.finding(rules, "REPRO-ADD-002", concat("", ["ADD ", concat(" ", local), ": COPY does the same for local files"]), ins)
}

# --- apt ----------------------------------------------------------------------------

apt_programs := {"apt-get", "apt"}

# Options of apt-get that take a value as the next word.
apt_valued := {"-o", "--option", "-t", "--target-release", "-c", "--config-file"}

apt_install_args(argv) := args if {
	lib.program(argv) in apt_programs
	args := lib.after(argv, "install")
}

no_recommends(argv) if "--no-install-recommends" in argv

no_recommends(argv) if {
	some word in argv
	regex.match(`^APT::Install-Recommends=(false|0|no)$`, word)
}

findings contains f if {
	some ins in input.dockerfile.instructions
	some argv in ins.commands
	apt_install_args(argv)
	not no_recommends(argv)
	f := lib.finding(rules, "REPRO-APT-001", "apt-get install without --no-install-recommends", ins)
}

apt_updates(ins) if {
	some argv in ins.commands
	lib.program(argv) in apt_programs
	"update" in argv
}

cleans_lists(ins) if {
	some argv in ins.commands
	lib.program(argv) == "rm"
	some word in argv
	startswith(word, "/var/lib/apt/lists")
}

cache_mounted_lists(ins) if {
	some mount in ins.mounts
	mount.type == "cache"
	startswith(mount.target, "/var/lib/apt/lists")
}

findings contains f if {
	some ins in input.dockerfile.instructions
	ins.Cmd == "run"
	lib.in_image(ins)
	apt_updates(ins)
	not cleans_lists(ins)
	not cache_mounted_lists(ins)
	f := lib.finding(rules, "REPRO-APT-002", "apt-get update without removing /var/lib/apt/lists in the same RUN", ins)
}

# --- sudo ---------------------------------------------------------------------------

findings contains f if {
	some ins in input.dockerfile.instructions
	some argv in ins.commands
	lib.program(argv) == "sudo"
	f := lib.finding(rules, "REPRO-RUN-001", "RUN uses sudo", ins)
}

# --- package versions ---------------------------------------------------------------

# The words of `args` that are not options nor the value of an option in `valued`.
operands(args, valued) := [word | some i; word := args[i]; not lib.is_option(word); not option_value(args, i, valued)]

option_value(args, i, valued) if {
	i > 0
	args[i - 1] in valued
}

findings contains f if {
	some ins in input.dockerfile.instructions
	some argv in ins.commands
	args := apt_install_args(argv)
	unpinned := [p | some p in operands(args, apt_valued); not contains(p, "="); not endswith(p, ".deb")]
	count(unpinned) > 0
	f := lib.finding(rules, "REPRO-VER-001", concat("", ["apt package(s) without a version: ", concat(" ", unpinned)]), ins)
}

findings contains f if {
	some ins in input.dockerfile.instructions
	some argv in ins.commands
	lib.program(argv) == "apk"
	args := lib.after(argv, "add")
	valued := {"-t", "--virtual", "-X", "--repository", "-p", "--root", "--arch", "--cache-dir", "--keys-dir"}
	unpinned := [p | some p in operands(args, valued); not regex.match(`[=~<>]`, p); not endswith(p, ".apk")]
	count(unpinned) > 0
	f := lib.finding(rules, "REPRO-VER-002", concat("", ["apk package(s) without a version: ", concat(" ", unpinned)]), ins)
}

pip_programs := {"pip", "pip3", "pip3.8", "pip3.9", "pip3.10", "pip3.11", "pip3.12", "pip3.13", "uv"}

pip_install_args(argv) := lib.after(argv, "install") if lib.program(argv) in pip_programs

pip_install_args(argv) := lib.after(argv, "install") if {
	regex.match(`^python[0-9.]*$`, lib.program(argv))
	"pip" in argv
}

pip_valued := {
	"-r", "--requirement", "-c", "--constraint", "-i", "--index-url", "--extra-index-url",
	"-f", "--find-links", "-t", "--target", "--prefix", "--root", "--platform", "-e", "--editable",
	"--python-version", "--implementation", "--abi", "--trusted-host", "--cache-dir", "--src",
}

pip_pinned(p) if contains(p, "==")

pip_pinned(p) if contains(p, "@")

pip_pinned(p) if contains(p, "/")

pip_pinned(p) if regex.match(`\.(whl|tar\.gz|zip)$`, p)

pip_pinned(p) if p == "."

findings contains f if {
	some ins in input.dockerfile.instructions
	some argv in ins.commands
	args := pip_install_args(argv)
	unpinned := [p | some p in operands(args, pip_valued); not pip_pinned(p)]
	count(unpinned) > 0
	f := lib.finding(rules, "REPRO-VER-003", concat("", ["pip package(s) without a version: ", concat(" ", unpinned)]), ins)
}

npm_install_args(argv) := args if {
	lib.program(argv) == "npm"
	verbs := [word | some word in argv; word in {"install", "i", "add"}]
	count(verbs) > 0
	args := lib.after(argv, verbs[0])
}

npm_pinned(p) if regex.match(`^@?[^@]+@.+$`, p)

npm_pinned(p) if regex.match(`^(\.|/|git\+|git:|https?:|file:)`, p)

npm_pinned(p) if regex.match(`\.(tgz|tar\.gz)$`, p)

findings contains f if {
	some ins in input.dockerfile.instructions
	some argv in ins.commands
	args := npm_install_args(argv)
	unpinned := [p | some p in operands(args, {"--prefix", "--registry", "--cache"}); not npm_pinned(p)]
	count(unpinned) > 0
	f := lib.finding(rules, "REPRO-VER-004", concat("", ["npm package(s) without a version: ", concat(" ", unpinned)]), ins)
}
