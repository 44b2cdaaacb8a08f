"""Cross-engine normalisation: the same Dockerfile built by buildah and by BuildKit (the
raw images below are as the two engines wrote them here, measured on the busybox app of
the test bed) normalises to one image, and what differs for real still differs."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

from repro.build.buildah import BuildahEngine
from repro.build.docker import BUILDKIT_COMMENT, DockerEngine
from repro.build.pipeline import built_stages
from repro.build.runenv import run_variables
from repro.digest import Digest
from repro.dockerfile import build_stage_graph, parse
from repro.layers.createdby import BuiltInstruction, BuiltStages, pair_own_entries
from repro.layers.leftovers import is_run_variables_entry, unasked_mount_directories
from repro.layers.normalize import NormalizeResult, normalize_layout
from repro.layers.tarcanon import DIR, REG, Inode
from repro.oci import media
from repro.oci.layout import ImageLayout
from tests.unit.layers.vectors.tartools import Item, make_tar

PIN = "sha256:" + "42" * 32
BASE = f"registry.test/busybox@{PIN}"
EPOCH = 1704067200
VARIABLES = run_variables(EPOCH, ca_bundle=False)
DOCKERFILE = f"""FROM registry.test/busybox:latest@{PIN}
COPY greeting.txt /app/greeting.txt
RUN mkdir -p /app/bin && printf 'cat /app/greeting.txt\\n' > /app/bin/greet && chmod 755 /app/bin/greet
ENV GREETING_FILE=/app/greeting.txt
LABEL org.opencontainers.image.title="greet"
CMD ["/app/bin/greet"]
"""
RUN = "mkdir -p /app/bin && printf 'cat /app/greeting.txt\\n' > /app/bin/greet && chmod 755 /app/bin/greet"
BASE_ENTRY = {"created": "2023-01-01T00:00:00Z", "created_by": "busybox-static, the base"}
DECLARE = "ARG " + " ".join(VARIABLES)

BASE_LAYER = make_tar([Item("bin/", tarfile.DIRTYPE, mode=0o755), Item("etc/", tarfile.DIRTYPE, mode=0o755)])
COPY_LAYER = make_tar([Item("app/", tarfile.DIRTYPE, mode=0o755), Item("app/greeting.txt", data=b"hello\n")])
USER_FILES = [
    Item("app/", tarfile.DIRTYPE, mode=0o755),
    Item("app/bin/", tarfile.DIRTYPE, mode=0o755),
    Item("app/bin/greet", data=b"cat /app/greeting.txt\n", mode=0o755),
]
#: What buildah leaves in a RUN layer on a base without them (the hosts-file fingerprint).
BUILDAH_MOUNTS = [
    Item("dev/", tarfile.DIRTYPE, mode=0o755),
    Item("etc/hosts", mode=0o755),
    Item("etc/hostname", mode=0o755),
    Item("etc/resolv.conf", mode=0o755),
    Item("proc/", tarfile.DIRTYPE, mode=0o755),
    Item("run/", tarfile.DIRTYPE, mode=0o755),
    Item("sys/", tarfile.DIRTYPE, mode=0o755),
]
#: What BuildKit leaves: empty directories only, ``etc`` although the base has it.
BUILDKIT_MOUNTS = [Item(f"{name}/", tarfile.DIRTYPE, mode=0o755) for name in ("dev", "etc", "proc", "sys")]


def buildah_history() -> list[dict[str, Any]]:
    nop = "/bin/sh -c #(nop) "
    return [
        BASE_ENTRY,
        {"created_by": f"{nop}{DECLARE}", "comment": f"FROM {BASE}", "empty_layer": True},
        {
            "created_by": f"{nop}COPY file:51477f4bcdd1561be2 in /app/greeting.txt ",
            "comment": "FROM 0b1453d0e5bc",
        },
        {"created_by": f"/bin/sh -c {RUN}", "comment": "FROM 9d013301ebda"},
        {"created_by": f"{nop}ENV GREETING_FILE=/app/greeting.txt", "empty_layer": True},
        {"created_by": f'{nop}LABEL org.opencontainers.image.title="greet"', "empty_layer": True},
        {"created_by": f'{nop}CMD ["/app/bin/greet"]', "empty_layer": True},
    ]


def buildkit_history() -> list[dict[str, Any]]:
    own: list[dict[str, Any]] = [
        {"created_by": DECLARE, "empty_layer": True},
        {"created_by": "COPY greeting.txt /app/greeting.txt # buildkit"},
        {"created_by": f"RUN /bin/sh -c {RUN} # buildkit"},
        {"created_by": "ENV GREETING_FILE=/app/greeting.txt", "empty_layer": True},
        {"created_by": "LABEL org.opencontainers.image.title=greet", "empty_layer": True},
        {"created_by": 'CMD ["/app/bin/greet"]', "empty_layer": True},
    ]
    return [BASE_ENTRY, *({**entry, "comment": BUILDKIT_COMMENT} for entry in own)]


def raw_image(
    path: Path, layers: list[bytes], history: list[dict[str, Any]], runtime: dict[str, Any]
) -> Path:
    layout = ImageLayout.create(path)
    for entry in history[1:]:
        entry.setdefault("created", "2026-12-03T12:42:39.907099124Z")
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-12-03T12:42:39Z",
        "config": {
            "Env": ["PATH=/usr/bin:/bin", "GREETING_FILE=/app/greeting.txt"],
            "Cmd": ["/app/bin/greet"],
            "Labels": {"org.opencontainers.image.title": "greet"},
            **runtime,
        },
        "rootfs": {"type": "layers", "diff_ids": [str(Digest.of(d)) for d in layers]},
        "history": history,
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "config": layout.write_blob(json.dumps(config).encode(), media.OCI_CONFIG).to_json(),
        "layers": [layout.write_blob(d, media.OCI_LAYER_TAR).to_json() for d in layers],
    }
    layout.set_tag("t", layout.write_blob(json.dumps(manifest).encode(), media.OCI_MANIFEST))
    return path


def normalise(raw: Path, out: Path, dockerfile: str = DOCKERFILE) -> NormalizeResult:
    noise = BuildahEngine().noise() | DockerEngine().noise()
    graph = build_stage_graph(parse(dockerfile.encode()), {})
    return normalize_layout(
        raw,
        out,
        tag="t",
        source_date_epoch=EPOCH,
        run_variables=VARIABLES,
        noise=noise,
        built=built_stages(graph, None),
    )


def config_of(layout: Path) -> dict[str, Any]:
    opened = ImageLayout.open(layout)
    return dict(opened.image(descriptor=opened.find("t")).config)


def test_buildah_and_buildkit_images_of_one_dockerfile_normalise_to_one_image(tmp_path: Path) -> None:
    buildah = raw_image(
        tmp_path / "buildah",
        [BASE_LAYER, COPY_LAYER, make_tar([*USER_FILES, *BUILDAH_MOUNTS])],
        buildah_history(),
        {},
    )
    buildkit = raw_image(
        tmp_path / "buildkit",
        [BASE_LAYER, COPY_LAYER, make_tar([*USER_FILES, *BUILDKIT_MOUNTS])],
        buildkit_history(),
        {"ArgsEscaped": True, "OnBuild": None},
    )
    a = normalise(buildah, tmp_path / "a")
    b = normalise(buildkit, tmp_path / "b")
    assert a.manifest_digest == b.manifest_digest
    assert {s.path for s in b.leftovers} == {"dev", "etc", "proc", "sys"}
    config = config_of(tmp_path / "a")
    assert [e.get("created_by") for e in config["history"]] == [
        "busybox-static, the base",
        "COPY greeting.txt /app/greeting.txt",
        f"RUN /bin/sh -c {RUN}",
        "ENV GREETING_FILE=/app/greeting.txt",
        'LABEL org.opencontainers.image.title="greet"',
        'CMD ["/app/bin/greet"]',
    ]
    # The base image's entry keeps its own time; the first of the build's names the base.
    assert config["history"][0] == BASE_ENTRY
    assert config["history"][1]["comment"] == f"FROM {BASE}"
    assert all("comment" not in e for e in config["history"][2:])
    assert "ArgsEscaped" not in config["config"]
    assert "OnBuild" not in config["config"]


def test_a_directory_the_user_made_in_run_stays(tmp_path: Path) -> None:
    dockerfile = DOCKERFILE.replace("mkdir -p /app/bin &&", "mkdir -p /app/bin /proc &&")
    history = buildkit_history()
    history[3]["created_by"] = history[3]["created_by"].replace(
        "mkdir -p /app/bin &&", "mkdir -p /app/bin /proc &&"
    )
    buildkit = raw_image(
        tmp_path / "buildkit",
        [BASE_LAYER, COPY_LAYER, make_tar([*USER_FILES, *BUILDKIT_MOUNTS])],
        history,
        {},
    )
    result = normalise(buildkit, tmp_path / "b", dockerfile)
    assert {s.path for s in result.leftovers} == {"dev", "etc", "sys"}  # proc: the user's


def test_the_mount_directory_rule() -> None:
    def inode(kind: bytes, mode: int = 0o755, size: int = 0, uid: int = 0) -> Inode:
        return Inode(kind=kind, mode=mode, uid=uid, gid=0, mtime=0, size=size)

    entries = {
        "dev": inode(DIR),
        "etc": inode(DIR),
        "etc/app.conf": inode(REG, mode=0o644, size=4),  # the step wrote under etc: it stays
        "proc": inode(DIR, mode=0o700),  # not the runtime's mode
        "sys": inode(DIR, uid=1000),  # not root's
        "run": inode(DIR),  # not one BuildKit declares
    }
    directories = DockerEngine().noise().mount_directories
    assert unasked_mount_directories(entries, directories, "RUN make") == ["dev"]
    assert unasked_mount_directories(entries, directories, "RUN mkdir /dev") == []
    # A path under the directory does not name the directory itself.
    assert unasked_mount_directories({"dev": inode(DIR)}, directories, "RUN ls /dev/null") == ["dev"]


def test_history_that_does_not_pair_keeps_the_engines_texts(tmp_path: Path) -> None:
    history = buildkit_history()
    history.insert(4, {"created_by": "ONBUILD trigger of the base", "empty_layer": True})
    skip = lambda entry: is_run_variables_entry(entry, VARIABLES)  # noqa: E731
    graph = build_stage_graph(parse(DOCKERFILE.encode()), {})
    assert pair_own_entries(history, built_stages(graph, None), skip=skip) is None
    assert pair_own_entries(buildkit_history(), built_stages(graph, None), skip=skip) is not None
    buildkit = raw_image(
        tmp_path / "buildkit",
        [BASE_LAYER, COPY_LAYER, make_tar([*USER_FILES, *BUILDKIT_MOUNTS])],
        history,
        {},
    )
    normalise(buildkit, tmp_path / "b")
    texts = [e["created_by"] for e in config_of(tmp_path / "b")["history"]]
    assert "COPY greeting.txt /app/greeting.txt # buildkit" in texts
    assert all(e.get("comment") != BUILDKIT_COMMENT for e in config_of(tmp_path / "b")["history"])


def test_from_scratch_has_no_base_entries() -> None:
    built = BuiltStages(instructions=(BuiltInstruction("COPY", "COPY a /a"),), base=None)
    skip = lambda entry: False  # noqa: E731
    assert pair_own_entries([{"created_by": "COPY a /a # buildkit"}], built, skip=skip) is not None
    two = [BASE_ENTRY, {"created_by": "COPY a /a # buildkit"}]
    assert pair_own_entries(two, built, skip=skip) is None


def test_the_built_stages_follow_from_stage_chains() -> None:
    dockerfile = f"FROM registry.test/busybox:1@{PIN} AS base\nENV A=1\nFROM base\nrun echo hi\nFROM scratch\nCOPY x /x\n"
    graph = build_stage_graph(parse(dockerfile.encode()), {})
    chain = built_stages(graph, "base")
    assert chain.base == BASE
    assert [i.keyword for i in chain.instructions] == ["ENV"]
    second = built_stages(
        build_stage_graph(parse(dockerfile.rsplit("FROM scratch", 1)[0].encode()), {}), None
    )
    assert [i.canonical for i in second.instructions] == ["ENV A=1", "RUN echo hi"]
    assert built_stages(graph, None) == BuiltStages((BuiltInstruction("COPY", "COPY x /x"),), None)
