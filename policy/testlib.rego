# Builders of small input documents for the policies' tests (*_test.rego).
package repro.testlib

import rego.v1

ids(findings) := {f.id | some f in findings}

pin(over) := object.union(
	{
		"kind": "from", "text": "debian:bookworm", "image": "debian:bookworm", "stage": 0,
		"file": "Dockerfile", "line": 1, "location": "Dockerfile:1", "resolvable": true, "invalid": false, "reason": null,
		"registry": "docker.io", "repository": "library/debian", "tag": "bookworm", "digest": null,
		"pinned": false, "current": null, "multi_platform": null,
	},
	over,
)

ins(cmd, line, over) := object.union(
	{
		"Cmd": cmd, "SubCmd": "", "Flags": [], "Value": [], "Original": "", "JSON": false,
		"Stage": 0, "StartLine": line, "EndLine": line, "file": "Dockerfile", "line": line,
		"location": sprintf("Dockerfile:%d", [line]), "global": false, "flags": {},
		"heredocs": [], "commands": [], "mounts": [], "vars": [],
	},
	over,
)

run(line, commands) := ins("run", line, {"commands": commands})

final(over) := object.union(
	{
		"stage": 0, "stages": [0], "line": 1, "user": {"name": "app", "file": "Dockerfile", "line": 9},
		"entrypoint": null, "cmd": null, "expose": [], "healthcheck": null,
		"labels": {
			"org.opencontainers.image.source": {"value": "x"},
			"org.opencontainers.image.revision": {"value": "x"},
			"org.opencontainers.image.version": {"value": "x"},
			"org.opencontainers.image.licenses": {"value": "x"},
		},
	},
	over,
)

dockerfile(instructions, fin) := object.union(empty, {"dockerfile": {
	"file": "Dockerfile",
	"stages": [],
	"args": [],
	"instructions": instructions,
	"final": fin,
}})

empty := {
	"version": 1,
	"stage": "lint",
	"pins": [],
	"image": null,
	"files": null,
	"sbom": null,
	"reproducibility": null,
	"signatures": null,
	"source_date_epoch": null,
	"dockerfile": null,
}

# A release-stage document where everything is in order; tests override one part.
release(over) := object.union(
	{
		"version": 1, "stage": "release", "pins": [], "files": {"scanned": 10, "findings": []},
		"image": {
			"digest": "sha256:00", "size": 1048576, "layer_count": 1, "layers": [],
			"created_label": null,
			"config": {
				"user": "app", "entrypoint": null, "cmd": ["/app"], "cmd_form": "exec", "entrypoint_form": null,
				"exposed_ports": [], "healthcheck": null, "volumes": [], "env": [], "workdir": null,
				"stop_signal": null,
				"labels": {
					"org.opencontainers.image.source": "x", "org.opencontainers.image.revision": "x",
					"org.opencontainers.image.version": "x", "org.opencontainers.image.licenses": "x",
				},
			},
		},
		"sbom": {"present": true, "components": {"deb": 3}, "component_total": 3, "licenses": [], "unowned_files": 0},
		"reproducibility": {"verified": true, "digests": ["sha256:00", "sha256:00"]},
		"signatures": [{"subject": "image", "kind": "sigstore", "verified": true, "identity": null}],
		"source_date_epoch": 0, "dockerfile": null,
	},
	over,
)
