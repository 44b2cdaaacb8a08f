"""normalize_layout on small layouts made here: config, manifest, idempotence, determinism,
parallelism, scrubbing across layers, hostile layers and where files are written."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from repro import __version__
from repro.build.engines import engine_noise
from repro.digest import Digest
from repro.errors import ImageError, UsageError
from repro.layers.normalize import NormalizeResult, normalize_layout
from repro.oci import media
from repro.oci.layout import ImageLayout
from repro.oci.models import index_json
from tests.unit.layers.test_scrub import SEED_PATHS
from tests.unit.layers.vectors.tartools import Item, make_tar, raw_member, raw_tar

EPOCH = 1_700_000_000


def build_layout(
    path: Path,
    layers: Sequence[bytes],
    *,
    tag: str | None = "latest",
    compress: bool = False,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    created: str = "2026-05-01T12:34:56.789Z",
    docker: bool = False,
) -> ImageLayout:
    """An image as an engine would write it: uncompressed (buildah's oci:) or gzip layers."""
    layout = ImageLayout.create(path)
    descriptors, diff_ids = [], []
    for data in layers:
        diff_ids.append(str(Digest.of(data)))
        blob = gzip.compress(data, mtime=1234) if compress else data
        layer_type = media.OCI_LAYER_GZIP if compress else media.OCI_LAYER_TAR
        if docker:
            layer_type = (
                media.DOCKER_LAYER_GZIP if compress else "application/vnd.docker.image.rootfs.diff.tar"
            )
        descriptors.append(layout.write_blob(blob, layer_type, annotations={"engine.layer": "x"}).to_json())
    config: dict[str, Any] = {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {"Cmd": ["sh"], "Labels": {"io.buildah.version": "1.28.0", **(labels or {})}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created": created, "created_by": "ENV A=1", "empty_layer": True},
            *({"created": created, "created_by": f"RUN step {i}"} for i in range(len(layers))),
        ],
    }
    if docker:
        config |= {"container": "0123abcd", "docker_version": "24.0.7", "container_config": {"Hostname": "x"}}
    config_desc = layout.write_blob(
        json.dumps(config, indent=1).encode(), media.DOCKER_CONFIG if docker else media.OCI_CONFIG
    )
    manifest = {
        "schemaVersion": 2,
        "mediaType": media.DOCKER_MANIFEST if docker else media.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": descriptors,
        "annotations": {"org.opencontainers.image.created": created, **(annotations or {})},
    }
    desc = layout.write_blob(json.dumps(manifest).encode(), manifest["mediaType"])  # type: ignore[arg-type]
    if tag is not None:
        layout.set_tag(tag, desc)
    else:
        (path / "index.json").write_bytes(index_json([desc.to_json()]))
    return layout


def base_layer() -> bytes:
    return make_tar(
        [
            Item("etc/", tarfile.DIRTYPE, mode=0o755, mtime=1_800_000_000),
            Item("etc/os-release", data=b"ID=test\n", uname="root", gname="root"),
            Item("var/lib/dpkg/status", data=b"Package: base\n"),
            Item("var/log/dpkg.log", data=b"2026-05-01 12:00:00 install base\n"),
        ]
    )


def app_layer(clock: str = "12:00:01") -> bytes:
    """The seed's `apt-get install curl` layer: every volatile file has the clock in it."""
    items = [Item("usr/bin/curl", data=b"\x7fELF curl", mode=0o755, mtime=1_900_000_000)]
    items += [Item(path, data=f"volatile {clock}".encode()) for path in SEED_PATHS]
    return make_tar(items)


def normalize(src: Path | ImageLayout, dest: Path, **kwargs: Any) -> NormalizeResult:
    kwargs.setdefault("tag", "latest")
    kwargs.setdefault("source_date_epoch", EPOCH)
    kwargs.setdefault("noise", engine_noise())
    return normalize_layout(src, dest, **kwargs)


def read_json(layout: ImageLayout, digest: Digest) -> Any:
    return json.loads(layout.read_blob(digest))


def layer_members(layout: ImageLayout, digest: Digest) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layout.read_blob(digest, max_size=1 << 30)))) as tar:
        return tar.getmembers()


def test_normalize_writes_a_canonical_oci_image(tmp_path: Path) -> None:
    src = build_layout(tmp_path / "src", [base_layer(), app_layer()], docker=True)
    result = normalize(src, tmp_path / "out")
    out = ImageLayout.open(tmp_path / "out")
    image = out.image("latest")
    assert image.digest == result.manifest_digest
    assert image.manifest.media_type == media.OCI_MANIFEST
    assert image.manifest.config.media_type == media.OCI_CONFIG
    assert image.manifest.config.digest == result.config_digest
    assert [d.media_type for d in image.manifest.layers] == [media.OCI_LAYER_GZIP] * 2
    assert all(not d.annotations for d in image.manifest.layers)
    assert [d.digest for d in image.manifest.layers] == list(result.layer_digests)
    assert image.manifest.annotations == {
        "dev.repro.normalize.compressor": "zlib",
        "dev.repro.normalize.level": "6",
        "dev.repro.normalize.version": __version__,
    }
    config = image.config
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert {h["created"] for h in config["history"]} == {"2023-11-14T22:13:20Z"}
    assert [h["created_by"] for h in config["history"]] == ["ENV A=1", "RUN step 0", "RUN step 1"]
    assert config["rootfs"]["diff_ids"] == [str(d) for d in result.diff_ids]
    assert "Labels" not in config["config"]  # only io.buildah.version was there
    assert not {"container", "container_config", "docker_version"} & config.keys()
    # the blobs are what the digests say (read_blob checks), and diff IDs match the tars
    for layer in image.layers:
        tar = gzip.decompress(out.read_blob(layer.digest, max_size=1 << 30))
        assert Digest.of(tar) == layer.diff_id
    assert result.compressor == "zlib"
    assert result.level == 6
    assert result.source_date_epoch == EPOCH
    assert result.compressor_version.startswith("zlib ")
    assert result.tag == "latest"
    assert [layer.source_digest for layer in result.layers] == [
        d.digest for d in src.image("latest").manifest.layers
    ]
    assert json.loads(json.dumps(result.to_json()))["manifestDigest"] == str(result.manifest_digest)


def test_user_labels_and_annotations_stay(tmp_path: Path) -> None:
    src = build_layout(
        tmp_path / "src",
        [base_layer()],
        labels={"org.example.team": "infra"},
        annotations={"org.opencontainers.image.source": "https://example.com/repo"},
    )
    result = normalize(src, tmp_path / "out")
    image = ImageLayout.open(tmp_path / "out").image("latest")
    assert image.config["config"]["Labels"] == {"org.example.team": "infra"}
    assert image.manifest.annotations["org.opencontainers.image.source"] == "https://example.com/repo"
    assert "org.opencontainers.image.created" not in image.manifest.annotations
    assert image.digest == result.manifest_digest


def test_normalizing_twice_changes_nothing(tmp_path: Path) -> None:
    src = build_layout(tmp_path / "src", [base_layer(), app_layer()])
    first = normalize(src, tmp_path / "once", scrub=["auto"])
    second = normalize(tmp_path / "once", tmp_path / "twice", scrub=["auto"])
    assert second.manifest_digest == first.manifest_digest
    assert second.config_digest == first.config_digest
    assert second.layer_digests == first.layer_digests
    assert second.diff_ids == first.diff_ids
    assert second.scrubbed == ()
    # in place: the same layout as source and destination
    third = normalize(tmp_path / "once", tmp_path / "once", scrub=["auto"])
    assert third.manifest_digest == first.manifest_digest
    assert ImageLayout.open(tmp_path / "once").tags() == ["latest"]


def test_what_the_engine_did_does_not_matter(tmp_path: Path) -> None:
    plain = build_layout(tmp_path / "a", [base_layer(), app_layer("12:00:01")])
    other = build_layout(
        tmp_path / "b",
        [base_layer(), app_layer("13:14:15")],
        compress=True,
        docker=True,
        created="2026-06-01T00:00:00Z",
    )
    scrub = ["apt", "dpkg-log", "ldconfig"]
    one = normalize(plain, tmp_path / "out-a", scrub=scrub)
    two = normalize(other, tmp_path / "out-b", scrub=scrub)
    assert one.manifest_digest == two.manifest_digest
    # without scrubbing the clocks in the seed files still differ
    assert normalize(plain, tmp_path / "c").diff_ids[1] != normalize(other, tmp_path / "d").diff_ids[1]


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_worker_count_does_not_change_the_result(workers: int, tmp_path: Path) -> None:
    layers = [
        base_layer(),
        app_layer(),
        make_tar([Item(f"f{i}", data=os.urandom(1) * 100_000) for i in range(3)]),
    ]
    src = build_layout(tmp_path / "src", layers)
    reference = normalize(src, tmp_path / "ref", workers=1, scrub=["auto"])
    result = normalize(src, tmp_path / f"out{workers}", workers=workers, scrub=["auto"])
    assert result == reference


def test_seed_paths_are_scrubbed_in_every_layer_and_listed(tmp_path: Path) -> None:
    src = build_layout(tmp_path / "src", [base_layer(), app_layer()])
    result = normalize(src, tmp_path / "out", scrub=["apt", "dpkg-log", "ldconfig"])
    assert result.scrub_profiles == ("apt", "dpkg-log", "ldconfig")
    assert [(s.layer, s.path) for s in result.scrubbed] == [
        (0, "var/log/dpkg.log"),  # the lower layer's copy goes too, so no whiteout is needed
        (1, "var/cache/apt/pkgcache.bin"),
        (1, "var/cache/apt/srcpkgcache.bin"),
        (1, "var/cache/ldconfig/aux-cache"),
        (1, "var/log/apt/history.log"),
        (1, "var/log/apt/term.log"),
        (1, "var/log/dpkg.log"),
    ]
    out = ImageLayout.open(tmp_path / "out")
    image = out.image("latest")
    assert image.manifest.annotations["dev.repro.normalize.scrub"] == "apt,dpkg-log,ldconfig"
    names = [m.name for layer in image.layers for m in layer_members(out, layer.digest)]
    assert not set(SEED_PATHS) & set(names)
    assert "usr/bin/curl" in names
    assert "var/lib/dpkg/status" in names
    assert result.to_json()["scrubbed"][0] == {"layer": 0, "path": "var/log/dpkg.log", "profile": "dpkg-log"}


def test_auto_scrubs_only_when_the_tools_are_there(tmp_path: Path) -> None:
    src = build_layout(tmp_path / "src", [base_layer(), app_layer()])
    assert normalize(src, tmp_path / "out", scrub=["auto"]).scrub_profiles == ("apt", "dpkg-log")
    # no ldconfig binary in this image, so aux-cache stays; busybox-like images get nothing
    tiny = build_layout(tmp_path / "tiny", [make_tar([Item("bin/sh", data=b"sh"), *app_layer_items()])])
    result = normalize(tiny, tmp_path / "out-tiny", scrub=["auto"])
    assert result.scrub_profiles == ()
    assert result.scrubbed == ()


def app_layer_items() -> list[Item]:
    return [Item("var/log/dpkg.log", data=b"log")]


def test_untagged_and_renamed_outputs(tmp_path: Path) -> None:
    src = build_layout(tmp_path / "src", [base_layer()], tag=None)
    result = normalize(src, tmp_path / "out", tag=None)
    out = ImageLayout.open(tmp_path / "out")
    assert result.tag is None
    assert out.tags() == []
    assert out.image().digest == result.manifest_digest
    named = build_layout(tmp_path / "named", [base_layer()], tag="v1")
    renamed = normalize_layout(named, tmp_path / "out2", tag="v1", source_date_epoch=EPOCH)
    assert ImageLayout.open(tmp_path / "out2").tags() == ["v1"]
    assert renamed.tag == "v1"
    # tag=None takes the source's own name
    assert normalize_layout(named, tmp_path / "out3", tag=None, source_date_epoch=EPOCH).tag == "v1"


def test_a_hostile_layer_is_an_image_error_naming_layer_and_entry(tmp_path: Path) -> None:
    evil = raw_tar([raw_member(b"../../escape", b"x")])
    src = build_layout(tmp_path / "src", [base_layer(), evil])
    with pytest.raises(ImageError, match=r"layer 1 \(sha256:[0-9a-f]{64}\): entry '\.\./\.\./escape'"):
        normalize(src, tmp_path / "out")
    out = ImageLayout.open(tmp_path / "out")
    assert out.tags() == []  # nothing tagged
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".normalize-")]
    assert not (tmp_path / "escape").exists()
    assert not (tmp_path.parent / "escape").exists()


def test_corrupt_blobs_and_bad_arguments(tmp_path: Path) -> None:
    src = build_layout(tmp_path / "src", [base_layer()])
    with pytest.raises(UsageError, match="unknown scrub profile"):
        normalize(src, tmp_path / "out", scrub=["everything"])
    with pytest.raises(ImageError, match="must not be negative"):
        normalize(src, tmp_path / "out", source_date_epoch=-1)
    layer = src.image("latest").layers[0]
    blob = src.blob_path(layer.digest)
    blob.write_bytes(blob.read_bytes().replace(b"ID=test", b"ID=evil"))  # still a valid tar
    with pytest.raises(ImageError, match="does not match"):
        normalize(src, tmp_path / "out")


def test_nothing_is_written_outside_the_destination(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hostile = make_tar(
        [
            Item("/etc/passwd", data=b"root::0:0::/:/bin/sh\n"),
            Item("link", tarfile.SYMTYPE, linkname="../../../../tmp"),
            Item("dev/sda", tarfile.BLKTYPE, devmajor=8),
        ]
    )
    src = build_layout(tmp_path / "src", [hostile, base_layer()])
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp-must-stay-empty"))
    (tmp_path / "tmp-must-stay-empty").mkdir()
    before = {p for p in tmp_path.rglob("*") if "out" not in p.relative_to(tmp_path).parts}
    normalize(src, tmp_path / "out")
    after = {p for p in tmp_path.rglob("*") if "out" not in p.relative_to(tmp_path).parts}
    assert after == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["blobs", "index.json", "oci-layout"]
