"""Engine bookkeeping is removed, user content never: mount points, intermediate ids, base
history times and the base annotations, as buildah 1.28 writes them."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Any

from repro.digest import Digest
from repro.layers.leftovers import (
    BASE_DIGEST_ANNOTATION,
    BASE_NAME_ANNOTATION,
    base_history_length,
    is_intermediate_comment,
    mount_point_leftovers,
    normalize_base_annotations,
    run_layer_indexes,
)
from repro.layers.normalize import LEFTOVER_PROFILE, normalize_layout
from repro.layers.tarcanon import DIR, REG, Inode
from repro.oci import media
from repro.oci.layout import ImageLayout
from tests.unit.layers.vectors.tartools import Item, make_tar

PIN = "sha256:" + "ab" * 32
BASE = f"registry.test/busybox@{PIN}"
BASE_TIME = "2021-03-04T05:06:07Z"
BUILD_TIME = "2026-05-01T12:34:56Z"
EPOCH = 1_700_000_000


def mount_points(*, etc_mode: int = 0o755) -> list[Item]:
    """What buildah leaves in the first RUN layer on a base without them."""
    return [
        Item("dev/", tarfile.DIRTYPE, mode=0o755),
        Item("etc/", tarfile.DIRTYPE, mode=etc_mode),
        Item("etc/hostname", mode=0o755),
        Item("etc/hosts", mode=0o755),
        Item("etc/resolv.conf", mode=0o755),
        Item("proc/", tarfile.DIRTYPE, mode=0o755),
        Item("run/", tarfile.DIRTYPE, mode=0o755),
        Item("sys/", tarfile.DIRTYPE, mode=0o755),
    ]


def history() -> list[dict[str, Any]]:
    return [
        {"created": BASE_TIME, "created_by": "/bin/sh -c #(nop) ADD file:1 in / "},
        {"created": BASE_TIME, "created_by": "/bin/sh -c echo base > /base", "comment": "FROM 0b1453d0e5bc"},
        {"created": BUILD_TIME, "created_by": "/bin/sh -c #(nop) ENV A=1", "comment": f"FROM {BASE}", "empty_layer": True},
        {"created": BUILD_TIME, "created_by": "/bin/sh -c echo one > /one", "comment": "FROM f409639aec1c"},
        {"created": BUILD_TIME, "created_by": "/bin/sh -c #(nop) COPY file:2 in /etc/ ", "comment": "FROM 6fb29d858cea"},
        {"created": BUILD_TIME, "created_by": "/bin/sh -c mkdir -p /run/app", "comment": "FROM 4ef94503f4bf"},
    ]  # fmt: skip


def build(path: Path, layers: list[bytes], *, intermediate: str = "c5a907be1cea") -> ImageLayout:
    layout = ImageLayout.create(path)
    descriptors = [layout.write_blob(data, media.OCI_LAYER_TAR).to_json() for data in layers]
    entries = history()
    entries[3]["comment"] = f"FROM {intermediate}"
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": BUILD_TIME,
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [str(Digest.of(d)) for d in layers]},
        "history": entries,
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "config": layout.write_blob(json.dumps(config).encode(), media.OCI_CONFIG).to_json(),
        "layers": descriptors,
        "annotations": {
            BASE_NAME_ANNOTATION: BASE,
            BASE_DIGEST_ANNOTATION: "sha256:" + intermediate * 5 + "1234",
        },
    }
    layout.set_tag("t", layout.write_blob(json.dumps(manifest).encode(), media.OCI_MANIFEST))
    return layout


def image_layers() -> list[bytes]:
    return [
        # base: its own etc/hosts (empty, 0755 too) must stay, it is not this build's
        make_tar([Item("bin/", tarfile.DIRTYPE, mode=0o755), Item("etc/", tarfile.DIRTYPE, mode=0o755), Item("etc/hosts", mode=0o755)]),
        make_tar([Item("base", data=b"base\n")]),
        make_tar([*mount_points(), Item("one", data=b"one\n")]),
        # COPY of an empty 0755 hosts file: the user's, kept
        make_tar([Item("etc/", tarfile.DIRTYPE, mode=0o755), Item("etc/hosts", mode=0o755)]),
        # the user's own run/ directory: kept
        make_tar([Item("run/", tarfile.DIRTYPE, mode=0o755), Item("run/app/", tarfile.DIRTYPE, mode=0o755)]),
    ]  # fmt: skip


def members(layout: ImageLayout, digest: Digest) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layout.read_blob(digest)))) as tar:
        return tar.getnames()


def test_engine_bookkeeping_is_removed_and_user_content_kept(tmp_path: Path) -> None:
    build(tmp_path / "raw", image_layers())
    result = normalize_layout(tmp_path / "raw", tmp_path / "out", tag="t", source_date_epoch=EPOCH)
    out = ImageLayout.open(tmp_path / "out")
    image = out.image(descriptor=out.find("t"))
    names = [members(out, layer.digest) for layer in image.layers]
    assert names[0] == ["bin", "etc", "etc/hosts"]
    assert names[2] == ["one"]
    assert names[3] == ["etc", "etc/hosts"]
    assert names[4] == ["run", "run/app"]
    assert {(s.layer, s.path) for s in result.leftovers} == {
        (2, p) for p in ("dev", "etc", "etc/hostname", "etc/hosts", "etc/resolv.conf", "proc", "run", "sys")
    }
    assert {s.profile for s in result.leftovers} == {LEFTOVER_PROFILE}
    assert result.to_json()["engineLeftovers"][0] == {"layer": 2, "path": "dev", "profile": LEFTOVER_PROFILE}
    assert result.scrubbed == ()

    entries = image.config["history"]
    # the base image's entries are untouched, times and comments included
    assert entries[:2] == history()[:2]
    own = entries[2:]
    assert {e["created"] for e in own} == {"2023-11-14T22:13:20Z"}
    assert own[0]["comment"] == f"FROM {BASE}"
    assert all("comment" not in e for e in own[1:])
    assert image.manifest.annotations[BASE_DIGEST_ANNOTATION] == PIN
    assert image.manifest.annotations[BASE_NAME_ANNOTATION] == BASE


def test_identical_layers_give_identical_digests_whatever_the_intermediate_ids(tmp_path: Path) -> None:
    build(tmp_path / "a", image_layers(), intermediate="0b1453d0e5bc")
    build(tmp_path / "b", image_layers(), intermediate="9d013301ebda")
    a = normalize_layout(tmp_path / "a", tmp_path / "na", tag="t", source_date_epoch=EPOCH)
    b = normalize_layout(tmp_path / "b", tmp_path / "nb", tag="t", source_date_epoch=EPOCH)
    assert a.manifest_digest == b.manifest_digest


def test_a_mount_point_the_user_filled_stays() -> None:
    def inode(kind: bytes, mode: int = 0o755, size: int = 0) -> Inode:
        return Inode(kind=kind, mode=mode, uid=0, gid=0, mtime=0, size=size)

    entries = {
        "etc": inode(DIR),
        "etc/hosts": inode(REG),
        "etc/hostname": inode(REG, size=3),  # not empty: not the engine's
        "etc/resolv.conf": inode(REG, mode=0o644),  # not 0755: not the engine's
        "run": inode(DIR),
        "run/lock": inode(REG, mode=0o644, size=1),
        "dev": inode(DIR, mode=0o700),
        "proc": inode(DIR),
    }
    assert mount_point_leftovers(entries) == ["etc/hosts", "proc"]
    # without the hosts-file fingerprint nothing goes, not even an empty run/
    assert mount_point_leftovers({"run": inode(DIR), "sys": inode(DIR)}) == []
    # a hard-linked hosts file is someone's data
    shared = inode(REG)
    assert mount_point_leftovers({"etc/hosts": shared, "hosts-copy": shared}) == []


def test_base_history_length_and_run_layers() -> None:
    entries = history()
    assert base_history_length(entries, BASE) == 2
    assert base_history_length(entries, None) == 2  # the Docker format: no annotation, the marker alone
    assert (
        base_history_length([{"created_by": "x", "comment": "FROM 0b1453d0e5bc"}, {"created_by": "y"}], None)
        == 0
    )
    assert base_history_length([], None) == 0
    assert base_history_length(entries, "other/image:1") == 0
    assert run_layer_indexes(entries, 5, 2) == {2, 4}
    assert run_layer_indexes(entries, 4, 2) == frozenset()  # history does not match: claim nothing
    buildkit = [{"created_by": "RUN /bin/sh -c make # buildkit"}, {"created_by": "COPY . /src # buildkit"}]
    assert run_layer_indexes(buildkit, 2, 0) == {0}


def test_intermediate_comments() -> None:
    assert is_intermediate_comment("FROM 0b1453d0e5bc")
    assert is_intermediate_comment("FROM " + "a" * 64)
    assert not is_intermediate_comment(f"FROM {BASE}")
    assert not is_intermediate_comment("FROM debian")
    assert not is_intermediate_comment("FROM 0b1453d0e5bc extra")
    assert not is_intermediate_comment(None)


def test_base_annotations() -> None:
    engine_id = "sha256:" + "cd" * 32
    pinned = {BASE_NAME_ANNOTATION: BASE, BASE_DIGEST_ANNOTATION: engine_id, "x": "y"}
    assert normalize_base_annotations(pinned) == {
        BASE_NAME_ANNOTATION: BASE,
        BASE_DIGEST_ANNOTATION: PIN,
        "x": "y",
    }
    unpinned = {BASE_NAME_ANNOTATION: "registry.test/busybox:1.36", BASE_DIGEST_ANNOTATION: engine_id}
    assert normalize_base_annotations(unpinned) == {BASE_NAME_ANNOTATION: "registry.test/busybox:1.36"}
    assert normalize_base_annotations({BASE_NAME_ANNOTATION: "0b1453d0e5bc"}) == {}
    assert normalize_base_annotations({BASE_NAME_ANNOTATION: "Not A Reference"}) == {}
    assert normalize_base_annotations({BASE_DIGEST_ANNOTATION: engine_id}) == {}


def test_the_ca_bundle_mount_point_goes_with_its_directories() -> None:
    def inode(kind: bytes, mode: int = 0o755) -> Inode:
        return Inode(kind=kind, mode=mode, uid=0, gid=0, mtime=0)

    # a base that already has /run and hosts files: only repro's mount point is left
    entries = {
        "run": inode(DIR),
        "run/repro": inode(DIR),
        "run/repro/ca-certificates.crt": inode(REG),
        "app": inode(DIR),
    }
    assert mount_point_leftovers(entries) == ["run", "run/repro", "run/repro/ca-certificates.crt"]
    entries["run/app.pid"] = inode(REG, mode=0o644)
    assert mount_point_leftovers(entries) == ["run/repro", "run/repro/ca-certificates.crt"]


def test_auto_never_scrubs_what_the_users_copy_put_there(tmp_path: Path) -> None:
    layers = image_layers()
    layers[0] = make_tar([Item("var/lib/dpkg/status", data=b"Package: base\n")])
    layers[2] = make_tar([Item("var/log/dpkg.log", data=b"2026-05-01 12:00:00 install\n")])  # RUN
    layers[3] = make_tar([Item("var/log/dpkg.log", data=b"the user's own file\n")])  # COPY
    build(tmp_path / "raw", layers)
    auto = normalize_layout(
        tmp_path / "raw", tmp_path / "auto", tag="t", source_date_epoch=EPOCH, scrub=["auto"]
    )
    assert [(s.layer, s.path, s.profile) for s in auto.scrubbed] == [(2, "var/log/dpkg.log", "dpkg-log")]
    out = ImageLayout.open(tmp_path / "auto")
    assert members(out, out.image(descriptor=out.find("t")).layers[3].digest) == ["var/log/dpkg.log"]
    # a profile named on the command line is the user's decision: it applies everywhere
    named = normalize_layout(
        tmp_path / "raw", tmp_path / "named", tag="t", source_date_epoch=EPOCH, scrub=["dpkg-log"]
    )
    assert [(s.layer, s.path) for s in named.scrubbed] == [(2, "var/log/dpkg.log"), (3, "var/log/dpkg.log")]
