from __future__ import annotations

import json

from repro.dockerfile import parse
from repro.policy import PolicySet, ReleaseFacts, build_input, lint_input
from repro.policy.input import LayerFacts, PinFacts, is_secret_name, split_commands
from repro.policy.scan import FileFinding

DOCKERFILE = (
    b"""\
# syntax=docker/dockerfile:1
ARG BASE=debian:bookworm
FROM golang:1.22@sha256:"""
    + b"ab" * 32
    + b""" AS build
RUN go build -o /app ./...
FROM ${BASE} AS runtime
USER app
FROM runtime
ENV API_TOKEN=secret PATH=/usr/bin
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y 'curl' \\
    && rm -rf /var/lib/apt/lists/*
EXPOSE 8080
CMD ["/app", "--port", "8080"]
"""
)


def test_lint_document_has_every_part() -> None:
    doc = lint_input(DOCKERFILE, "svc/Dockerfile")
    assert doc["version"] == 1
    assert doc["stage"] == "lint"
    assert [doc[k] for k in ("image", "files", "sbom", "reproducibility", "signatures")] == [None] * 5
    json.dumps(doc)  # plain JSON


def test_instructions_carry_the_conftest_keys() -> None:
    doc = lint_input(DOCKERFILE, "svc/Dockerfile")
    run = next(i for i in doc["dockerfile"]["instructions"] if i["Cmd"] == "run" and i["Stage"] == 2)
    assert {"Cmd", "Flags", "Value", "Original", "JSON", "Stage", "SubCmd", "StartLine", "EndLine"} <= set(
        run
    )
    assert (run["StartLine"], run["EndLine"], run["location"]) == (9, 10, "svc/Dockerfile:9")
    assert run["commands"] == [
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "curl"],
        ["rm", "-rf", "/var/lib/apt/lists/*"],
    ]


def test_final_image_follows_from_stage_chains() -> None:
    final = lint_input(DOCKERFILE, "Dockerfile")["dockerfile"]["final"]
    assert final["stages"] == [1, 2]
    assert final["user"]["name"] == "app"
    assert final["user"]["line"] == 6
    assert final["cmd"]["form"] == "exec"
    assert final["cmd"]["argv"] == ["/app", "--port", "8080"]
    assert [e["port"] for e in final["expose"]] == ["8080"]


def test_pins_come_from_the_stage_graph_and_references() -> None:
    pins = {p["text"]: p for p in lint_input(DOCKERFILE, "Dockerfile")["pins"]}
    assert pins["docker/dockerfile:1"]["pinned"] is False
    golang = next(p for t, p in pins.items() if t.startswith("golang"))
    assert golang["pinned"] is True
    assert golang["tag"] == "1.22"
    assert golang["registry"] == "docker.io"
    assert pins["${BASE}"]["image"] == "debian:bookworm"
    assert pins["${BASE}"]["repository"] == "library/debian"


def test_env_vars_are_marked_when_secret_looking() -> None:
    doc = lint_input(DOCKERFILE, "Dockerfile")
    env = next(i for i in doc["dockerfile"]["instructions"] if i["Cmd"] == "env")
    assert env["vars"] == [
        {"name": "API_TOKEN", "value": "secret", "secret_name": True, "secret_value": None},
        {"name": "PATH", "value": "/usr/bin", "secret_name": False, "secret_value": None},
    ]


def test_secret_names() -> None:
    for name in ("API_TOKEN", "DB_PASSWORD", "AWS_SECRET_ACCESS_KEY", "github_pat", "SECRET"):
        assert is_secret_name(name), name
    for name in ("PATH", "DB_PASSWORD_FILE", "TOKEN_URL", "PASSENGER", "TOKENIZER_MODEL"):
        assert not is_secret_name(name), name


def test_split_commands() -> None:
    assert split_commands("a && b || c; d | e") == [["a"], ["b"], ["c"], ["d"], ["e"]]
    assert split_commands("X=1 exec nginx -g 'daemon off;'") == [["nginx", "-g", "daemon off;"]]
    assert split_commands("echo 'unbalanced") == [["echo", "'unbalanced"]]
    assert split_commands("a\nb") == [["a"], ["b"]]


def test_release_document_redacts_secret_env_values() -> None:
    facts = ReleaseFacts(
        image_digest="sha256:00",
        image_config={
            "created": "1970-01-01T00:00:00Z",
            "config": {
                "User": "app",
                "Env": ["PATH=/usr/bin", "API_TOKEN=hunter2", "NOTE=AKIAIOSFODNN7EXAMPLE"],
                "Cmd": ["/bin/sh", "-c", "serve"],
                "ExposedPorts": {"8080/tcp": {}},
                "Labels": {"org.opencontainers.image.created": "1970-01-01T00:00:10Z"},
            },
        },
        layers=[LayerFacts("sha256:01", 100), LayerFacts("sha256:02", 50)],
        file_findings=[FileFinding("setuid", "usr/bin/su", "setuid file owned by uid 0", 0, "Dockerfile:3")],
        sbom={"bomFormat": "CycloneDX", "components": [{"type": "library", "purl": "pkg:deb/debian/curl@1"}]},
        reproducible=True,
        digests=["sha256:00", "sha256:00"],
        signatures=[],
        pins={"debian:bookworm": PinFacts(current=False, multi_platform=True)},
        source_date_epoch=10,
    )
    df = parse(b"FROM debian:bookworm\n", filename="Dockerfile")
    doc = build_input(df, stage="release", facts=facts)
    text = json.dumps(doc)
    assert "hunter2" not in text
    assert "AKIAIOSFODNN7EXAMPLE" not in text
    image = doc["image"]
    assert (image["size"], image["layer_count"]) == (150, 2)
    assert image["config"]["cmd_form"] == "shell"
    assert image["config"]["exposed_ports"] == ["8080/tcp"]
    assert image["created_label"] == {"value": "1970-01-01T00:00:10Z", "epoch": 10}
    assert doc["sbom"]["components"] == {"deb": 1}
    assert doc["files"]["findings"][0]["location"] == {"file": "Dockerfile", "line": 3}
    assert doc["pins"][0]["current"] is False
    assert doc["pins"][0]["multi_platform"] is True
    assert doc["signatures"] == []
    assert doc["reproducibility"]["verified"] is True


def test_release_facts_drive_the_release_rules(policies: PolicySet) -> None:
    df = parse(b"FROM debian:bookworm\nUSER app\n", filename="Dockerfile")
    missing = {f["id"] for f in policies.evaluate(build_input(df, stage="release"))}
    assert {"REPRO-BUILD-001", "REPRO-SBOM-001", "REPRO-SIGN-001"} <= missing
    lint = {f["id"] for f in policies.evaluate(build_input(df, stage="lint"))}
    assert not {"REPRO-BUILD-001", "REPRO-SBOM-001", "REPRO-SIGN-001"} & lint
