"""Image archives: byte-identical writing, reading back, and hostile archives refused."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from repro.digest import Digest
from repro.errors import ImageError, UsageError
from repro.images import archive as archive_module
from repro.images.archive import (
    UNPACKED_TAG,
    chain_ids,
    docker_repo_tags,
    unpack_archive,
    write_archive,
)
from repro.images.location import ArchiveLocation, parse_location
from repro.images.store import ArchiveStore, open_store
from repro.oci import media
from repro.oci.layout import ImageLayout
from repro.oci.models import Descriptor
from tests.unit.images.test_push import make_index


def layer_tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def make_gzip_image(directory: Path, tag: str = "v1") -> tuple[ImageLayout, Descriptor, list[Digest]]:
    """A two-layer image with gzip layers (as repro's normaliser writes them), tagged ``tag``."""
    layout = ImageLayout.create(directory)
    plain = [layer_tar({"etc/a": b"alpha"}), layer_tar({"etc/b": b"beta" * 100})]
    layers = [layout.write_blob(gzip.compress(p, mtime=0), media.OCI_LAYER_GZIP) for p in plain]
    diff_ids = [Digest.of(p) for p in plain]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [str(d) for d in diff_ids]},
    }
    config_desc = layout.write_blob(json.dumps(config).encode(), media.OCI_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": [layer.to_json() for layer in layers],
    }
    descriptor = layout.write_blob(json.dumps(manifest).encode(), media.OCI_MANIFEST)
    layout.set_tag(tag, descriptor)
    return layout, descriptor, diff_ids


def archive_location(text: str) -> ArchiveLocation:
    location = parse_location(text)
    assert isinstance(location, ArchiveLocation)
    return location


# -- writing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["oci-archive", "docker-archive"])
def test_two_writes_give_identical_bytes_with_fixed_metadata(tmp_path: Path, kind: str) -> None:
    make_gzip_image(tmp_path / "a")
    make_gzip_image(tmp_path / "b")  # written at another time, from other files
    suffix = ":v1" if kind == "oci-archive" else ":app:1.0"
    first, second = tmp_path / "1.tar", tmp_path / "2.tar"
    write_archive(tmp_path / "a", archive_location(f"{kind}:{first}{suffix}"), tag="v1")
    write_archive(tmp_path / "b", archive_location(f"{kind}:{second}{suffix}"), tag="v1")
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}
    assert {m.mode for m in members if m.isfile()} == {0o644}
    assert {m.mode for m in members if m.isdir()} == {0o755}
    assert all(not m.pax_headers for m in members)
    assert b"mtime=" not in first.read_bytes()  # no PAX time records anywhere


def test_an_oci_archive_is_the_layout_and_reads_back_the_same(tmp_path: Path) -> None:
    _, descriptor, _ = make_gzip_image(tmp_path / "src")
    target = tmp_path / "app.tar"
    write_archive(tmp_path / "src", archive_location(f"oci-archive:{target}:v1"), tag="v1")
    with tarfile.open(target) as tar:
        names = set(tar.getnames())
    assert {"oci-layout", "index.json", f"blobs/sha256/{descriptor.digest.hex}"} <= names
    unpacked = unpack_archive(archive_location(f"oci-archive:{target}:v1"), tmp_path / "out")
    assert ImageLayout.open(unpacked.directory).find(unpacked.tag).digest == descriptor.digest


def test_a_docker_archive_is_what_docker_save_writes(tmp_path: Path) -> None:
    layout, descriptor, diff_ids = make_gzip_image(tmp_path / "src")
    manifest = layout.manifest(descriptor)
    target = tmp_path / "app.tar"
    write_archive(
        tmp_path / "src",
        archive_location(f"docker-archive:{target}:example.org/app:1.0"),
        tag="v1",
        names=("app",),
    )
    chains = chain_ids(diff_ids)
    with tarfile.open(target) as tar:
        entries = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        assert entries == [
            {
                "Config": f"{manifest.config.digest.hex}.json",  # type: ignore[union-attr]
                "Layers": [f"{c.hex}/layer.tar" for c in chains],
                "RepoTags": ["example.org/app:1.0", "app:latest"],
            }
        ]
        for chain, diff_id in zip(chains, diff_ids, strict=True):
            data = tar.extractfile(f"{chain.hex}/layer.tar").read()  # type: ignore[union-attr]
            assert Digest.of(data) == diff_id  # uncompressed, as docker load wants
            assert tar.extractfile(f"{chain.hex}/VERSION").read() == b"1.0"  # type: ignore[union-attr]
        repositories = json.loads(tar.extractfile("repositories").read())  # type: ignore[union-attr]
        assert repositories == {"example.org/app": {"1.0": chains[-1].hex}, "app": {"latest": chains[-1].hex}}
    unpacked = unpack_archive(archive_location(f"docker-archive:{target}:app"), tmp_path / "out")
    image = ImageLayout.open(unpacked.directory).image(UNPACKED_TAG)
    assert image.manifest.config.digest == manifest.config.digest  # type: ignore[union-attr]
    assert [layer.digest for layer in image.layers] == diff_ids


def test_a_multi_platform_index_does_not_fit_a_docker_archive(tmp_path: Path) -> None:
    make_index(ImageLayout.create(tmp_path / "src"), "multi")
    with pytest.raises(UsageError, match="index of 2 platforms"):
        write_archive(tmp_path / "src", archive_location(f"docker-archive:{tmp_path / 'x.tar'}"), tag="multi")
    assert not (tmp_path / "x.tar").exists()


def test_repo_tags_are_docker_familiar_names() -> None:
    assert docker_repo_tags(["app", "docker.io/library/app:2", "localhost:5000/a/b:3"]) == [
        "app:latest",
        "app:2",
        "localhost:5000/a/b:3",
    ]
    with pytest.raises(UsageError, match="by tag"):
        docker_repo_tags([f"app@sha256:{'0' * 64}"])


def test_chain_ids_follow_docker() -> None:
    a, b = Digest.of(b"a"), Digest.of(b"b")
    expected = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    assert [str(c) for c in chain_ids([a, b])] == [str(a), expected]


# -- reading -----------------------------------------------------------------------------------


def raw_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> None:
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


def file_info(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def link_info(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def docker_archive_bytes(tmp_path: Path) -> Path:
    make_gzip_image(tmp_path / "src")
    target = tmp_path / "good.tar"
    write_archive(tmp_path / "src", archive_location(f"docker-archive:{target}:app:1"), tag="v1")
    return target


def rewrite(source: Path, target: Path, change: dict[str, tarfile.TarInfo | None], extra=()) -> None:  # type: ignore[no-untyped-def]
    """Copy the archive ``source`` to ``target``, replacing (or, with None, dropping) members."""
    with tarfile.open(source) as tar, tarfile.open(target, "w", format=tarfile.GNU_FORMAT) as out:
        for member in tar.getmembers():
            if member.name in change:
                replacement = change[member.name]
                if replacement is not None:
                    out.addfile(replacement)
                continue
            out.addfile(member, tar.extractfile(member) if member.isfile() else None)
        for info, data in extra:
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("name", ["../escape", "/etc/escape", "blobs/../../escape"])
def test_a_member_that_leaves_the_directory_is_refused(tmp_path: Path, name: str) -> None:
    source = docker_archive_bytes(tmp_path)
    hostile = tmp_path / "hostile.tar"
    rewrite(source, hostile, {}, extra=[(file_info(name), b"owned")])
    with pytest.raises(ImageError, match="not a plain relative name") as caught:
        unpack_archive(archive_location(f"docker-archive:{hostile}"), tmp_path / "out")
    assert caught.value.exit_code == 7
    assert not (tmp_path / "escape").exists()


def test_a_manifest_linked_out_of_the_archive_is_refused(tmp_path: Path) -> None:
    source = docker_archive_bytes(tmp_path)
    hostile = tmp_path / "hostile.tar"
    rewrite(source, hostile, {"manifest.json": link_info("manifest.json", "/etc/passwd")})
    with pytest.raises(ImageError, match="outside the archive"):
        unpack_archive(archive_location(f"docker-archive:{hostile}"), tmp_path / "out")


def test_a_layer_linked_out_of_the_archive_is_refused(tmp_path: Path) -> None:
    source = docker_archive_bytes(tmp_path)
    with tarfile.open(source) as tar:
        layer = next(n for n in tar.getnames() if n.endswith("layer.tar"))
    hostile = tmp_path / "hostile.tar"
    rewrite(source, hostile, {layer: link_info(layer, "../../../etc/passwd")})
    with pytest.raises(ImageError, match="outside the archive"):
        unpack_archive(archive_location(f"docker-archive:{hostile}"), tmp_path / "out")


def test_docker_saves_link_for_a_repeated_layer_is_followed(tmp_path: Path) -> None:
    """``docker save`` writes a repeated layer once and links the second ``layer.tar`` to it."""
    layer = layer_tar({"same": b"x"})
    diff_id = Digest.of(layer)
    config = json.dumps(
        {"os": "linux", "rootfs": {"type": "layers", "diff_ids": [str(diff_id)] * 2}}
    ).encode()
    manifest = json.dumps([{"Config": "c.json", "Layers": ["a/layer.tar", "b/layer.tar"], "RepoTags": None}])
    archive = tmp_path / "saved.tar"
    raw_tar(
        archive,
        [
            (file_info("manifest.json"), manifest.encode()),
            (file_info("c.json"), config),
            (file_info("a/layer.tar"), layer),
            (link_info("b/layer.tar", "../a/layer.tar"), None),
        ],
    )
    unpacked = unpack_archive(archive_location(f"docker-archive:{archive}"), tmp_path / "out")
    image = ImageLayout.open(unpacked.directory).image(UNPACKED_TAG)
    assert [layer.digest for layer in image.layers] == [diff_id, diff_id]


def test_an_oversized_document_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = docker_archive_bytes(tmp_path)
    monkeypatch.setattr(archive_module, "MAX_DOCUMENT_SIZE", 64)
    with pytest.raises(ImageError, match="more than 64"):
        unpack_archive(archive_location(f"docker-archive:{source}"), tmp_path / "out")


def test_a_member_that_claims_more_than_the_file_holds_is_refused(tmp_path: Path) -> None:
    source = docker_archive_bytes(tmp_path)
    data = source.read_bytes()
    truncated = tmp_path / "short.tar"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError):
        unpack_archive(archive_location(f"docker-archive:{truncated}"), tmp_path / "out")


def test_links_devices_and_duplicates_are_refused_in_an_oci_archive(tmp_path: Path) -> None:
    make_gzip_image(tmp_path / "src")
    good = tmp_path / "good.tar"
    write_archive(tmp_path / "src", archive_location(f"oci-archive:{good}"), tag="v1")
    cases: dict[str, tuple[tarfile.TarInfo, bytes]] = {
        "is a link": (link_info("blobs/sha256/" + "0" * 64, "/etc/passwd"), b""),
        "appears twice": (file_info("index.json"), b"{}"),
    }
    device = tarfile.TarInfo("dev")
    device.type = tarfile.CHRTYPE
    cases["device or FIFO"] = (device, b"")
    for message, (info, data) in cases.items():
        hostile = tmp_path / "hostile.tar"
        rewrite(good, hostile, {}, extra=[(info, data)])
        with pytest.raises(ImageError, match=message):
            unpack_archive(archive_location(f"oci-archive:{hostile}"), tmp_path / f"out-{len(message)}")


def test_a_blob_that_does_not_match_its_name_is_refused(tmp_path: Path) -> None:
    _, descriptor, _ = make_gzip_image(tmp_path / "src")
    good = tmp_path / "good.tar"
    write_archive(tmp_path / "src", archive_location(f"oci-archive:{good}"), tag="v1")
    hostile = tmp_path / "hostile.tar"
    name = f"blobs/sha256/{descriptor.digest.hex}"
    rewrite(good, hostile, {name: None}, extra=[(file_info(name), b"not the manifest")])
    with pytest.raises(ImageError, match="does not match its digest"):
        unpack_archive(archive_location(f"oci-archive:{hostile}"), tmp_path / "out")


def test_an_archive_store_reads_and_refuses_writes(tmp_path: Path) -> None:
    _, descriptor, _ = make_gzip_image(tmp_path / "src")
    target = tmp_path / "app.tar"
    write_archive(tmp_path / "src", archive_location(f"oci-archive:{target}"), tag="v1")
    store = open_store(parse_location(f"oci-archive:{target}:v1"))
    assert isinstance(store, ArchiveStore)
    assert store.get_manifest().digest == descriptor.digest
    with pytest.raises(UsageError, match="read here, not written"):
        store.push_manifest(store.get_manifest())
    store.close()
    with pytest.raises(UsageError, match="cannot be written"):
        open_store(parse_location(f"oci-archive:{target}"), create=True)


def test_a_missing_archive_is_an_image_error(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        unpack_archive(archive_location(f"oci-archive:{tmp_path / 'none.tar'}"), tmp_path / "out")
