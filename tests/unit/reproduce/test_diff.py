"""Image diff: layers, entries, config fields, rendering, and streaming in bounded memory.

Images are crafted here: layer tars made with :mod:`tarfile`, configs with history, all
written into OCI layouts with :class:`ImageLayout`. The helpers are shared with
``test_culprits.py``.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
import tracemalloc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import pytest

from repro.digest import Digest
from repro.dockerfile import parse
from repro.errors import ImageError
from repro.oci import media
from repro.oci.layout import ImageLayout
from repro.reproduce.diff import (
    EntryState,
    ImageDiff,
    LayoutImage,
    compare_layers,
    diff_images,
    open_image,
    render_text,
)

# --- building images --------------------------------------------------------------------


@dataclass
class Entry:
    """One tar entry to write."""

    path: str
    data: bytes = b""
    kind: str = "file"
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    link: str = ""
    xattrs: dict[str, str] = field(default_factory=dict)


_KINDS = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
}


def make_tar(entries: Sequence[Entry]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.path)
            info.type = _KINDS[entry.kind]
            info.mode = entry.mode
            info.uid, info.gid = entry.uid, entry.gid
            info.mtime = entry.mtime
            info.linkname = entry.link
            info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in entry.xattrs.items()}
            if entry.kind == "file":
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
            else:
                tar.addfile(info)
    return buffer.getvalue()


@dataclass
class LayerSpec:
    """A layer: its uncompressed tar and whether to store it gzip-compressed."""

    tar: bytes
    compress: bool = False


def build_image(
    directory: Path,
    layers: Sequence[LayerSpec | bytes],
    history: Sequence[dict[str, Any]] | None = None,
    *,
    config_extra: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    name: str | None = None,
) -> LayoutImage:
    """Write an image into a new layout at ``directory`` and open it."""
    layout = ImageLayout.create(directory)
    descriptors = []
    diff_ids = []
    for spec in layers:
        layer = spec if isinstance(spec, LayerSpec) else LayerSpec(spec)
        diff_ids.append(str(Digest.of(layer.tar)))
        if layer.compress:
            descriptors.append(layout.write_blob(gzip.compress(layer.tar, mtime=0), media.OCI_LAYER_GZIP))
        else:
            descriptors.append(layout.write_blob(layer.tar, media.OCI_LAYER_TAR))
    if history is None:
        history = [{"created_by": f"/bin/sh -c step-{i}"} for i in range(len(layers))]
    config: dict[str, Any] = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": list(history),
        **(config_extra or {}),
    }
    config_desc = layout.write_blob(json.dumps(config, sort_keys=True).encode(), media.OCI_CONFIG)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": [d.to_json() for d in descriptors],
    }
    if annotations:
        manifest["annotations"] = annotations
    manifest_desc = layout.write_blob(json.dumps(manifest, sort_keys=True).encode(), media.OCI_MANIFEST)
    layout.set_tag("latest", manifest_desc)
    return LayoutImage(layout=layout, image=layout.image("latest"), name=name or f"oci:{directory.name}")


BASE = make_tar([Entry("bin", kind="dir", mode=0o755), Entry("bin/sh", b"#!busybox\n", mode=0o755)])
BASE_HISTORY: list[dict[str, Any]] = [
    {"created_by": "/bin/sh -c #(nop) ADD file:0123abcd in / "},
    {"created_by": '/bin/sh -c #(nop)  CMD ["sh"]', "empty_layer": True},
]


# --- identical, compression, layer stacks -----------------------------------------------


def test_identical_images(tmp_path: Path) -> None:
    a = build_image(tmp_path / "a", [BASE])
    b = build_image(tmp_path / "b", [BASE])
    diff = diff_images(a, b)
    assert diff.identical
    assert diff.first_differing_layer is None
    assert diff.layers == ()
    assert diff.findings == ()
    assert render_text(diff).endswith("identical\n")
    assert diff.to_json()["identical"] is True


def test_same_content_different_compression_is_called_out(tmp_path: Path) -> None:
    a = build_image(tmp_path / "a", [BASE, LayerSpec(BASE, compress=False)])
    b = build_image(tmp_path / "b", [BASE, LayerSpec(BASE, compress=True)])
    diff = diff_images(a, b)
    assert not diff.identical
    assert [layer.status for layer in diff.layers] == ["same", "compression"]
    assert diff.first_differing_layer == 1
    assert diff.layers[1].entries == ()
    assert [f.culprit for f in diff.findings] == ["compression"]
    assert "same content, different compression" in render_text(diff)
    # The layer descriptors differ in the manifest, but the config is the same.
    assert not [c for c in diff.config_changes if not c.path.startswith("manifest")]


def test_gzip_and_plain_layers_are_compared_by_content(tmp_path: Path) -> None:
    tar_a = make_tar([Entry("etc/hostname", b"a\n")])
    tar_b = make_tar([Entry("etc/hostname", b"b\n")])
    a = build_image(tmp_path / "a", [LayerSpec(tar_a, compress=True)])
    b = build_image(tmp_path / "b", [LayerSpec(tar_b, compress=False)])
    layer = diff_images(a, b).layers[0]
    assert layer.status == "content"
    assert [(e.path, e.aspects) for e in layer.entries] == [("etc/hostname", ("content",))]


def test_every_kind_of_entry_difference(tmp_path: Path) -> None:
    common = [Entry("etc", kind="dir", mode=0o755), Entry("etc/same", b"same\n")]
    tar_a = make_tar(
        [
            *common,
            Entry("etc/content", b"one\n"),
            Entry("etc/mode", b"x", mode=0o644),
            Entry("etc/owner", b"x", uid=0, gid=0),
            Entry("etc/mtime", b"x", mtime=0),
            Entry("etc/link", kind="symlink", link="/a"),
            Entry("etc/hard", kind="hardlink", link="etc/same"),
            Entry("etc/xattr", b"x", xattrs={"user.note": "a"}),
            Entry("etc/kind", b"x"),
            Entry("etc/only-a", b"x"),
        ]
    )
    tar_b = make_tar(
        [
            *common,
            Entry("etc/content", b"two!\n"),
            Entry("etc/mode", b"x", mode=0o600),
            Entry("etc/owner", b"x", uid=1000, gid=1000),
            Entry("etc/mtime", b"x", mtime=1_700_000_000),
            Entry("etc/link", kind="symlink", link="/b"),
            Entry("etc/hard", kind="hardlink", link="etc/content"),
            Entry("etc/xattr", b"x", xattrs={"user.note": "b"}),
            Entry("etc/kind", kind="symlink", link="x"),
            Entry("etc/only-b", b"x"),
        ]
    )
    a = build_image(tmp_path / "a", [BASE, tar_a])
    b = build_image(tmp_path / "b", [BASE, tar_b])
    diff = diff_images(a, b)
    layer = diff.layers[1]
    assert layer.status == "content"
    got = {entry.path: entry.aspects for entry in layer.entries}
    assert got == {
        "etc/content": ("content",),
        "etc/mode": ("mode",),
        "etc/owner": ("owner",),
        "etc/mtime": ("mtime",),
        "etc/link": ("link",),
        "etc/hard": ("link",),
        "etc/xattr": ("xattrs",),
        "etc/kind": ("type",),
        "etc/only-a": ("presence",),
        "etc/only-b": ("presence",),
    }
    # sorted by path, whatever order the tars had
    assert [e.path for e in layer.entries] == sorted(got)
    by_path = {e.path: e for e in layer.entries}
    content = by_path["etc/content"]
    assert content.a is not None
    assert content.b is not None
    assert content.a.sha256 == Digest.of(b"one\n").hex
    assert content.b.sha256 == Digest.of(b"two!\n").hex
    assert (content.a.size, content.b.size) == (4, 5)
    assert by_path["etc/only-a"].only_in == "a"
    assert by_path["etc/only-b"].only_in == "b"
    assert by_path["etc/owner"].describe() == "owner 0:0 ≠ 1000:1000"
    assert by_path["etc/mode"].describe() == "mode 0644 ≠ 0600"
    assert by_path["etc/mtime"].describe() == "mtime 1970-01-01T00:00:00Z ≠ 2023-11-14T22:13:20Z"
    assert by_path["etc/link"].describe() == "link '/a' ≠ '/b'"
    assert by_path["etc/only-a"].describe() == "only in A"
    assert by_path["etc/content"].describe().startswith(f"content sha256:{Digest.of(b'one').hex[:0]}")
    # JSON carries both sides in full
    entry_json = diff.to_json()["layers"][1]["entries"][0]
    assert entry_json["path"] == "etc/content"
    assert entry_json["a"]["sha256"] == Digest.of(b"one\n").hex
    assert entry_json["b"]["size"] == 5


def test_first_differing_layer_and_layer_count(tmp_path: Path) -> None:
    one = make_tar([Entry("one", b"1")])
    two_a = make_tar([Entry("two", b"a")])
    two_b = make_tar([Entry("two", b"b")])
    three = make_tar([Entry("three", b"3")])
    a = build_image(tmp_path / "a", [BASE, one, two_a, three])
    b = build_image(tmp_path / "b", [BASE, one, two_b, three, make_tar([Entry("extra", b"")])])
    diff = diff_images(a, b)
    assert diff.first_differing_layer == 2
    assert diff.layer_counts == (4, 5)
    assert [layer.status for layer in diff.layers] == ["same", "same", "content", "same", "only-b"]
    assert diff.findings[0].culprit == "layer-count"
    text = render_text(diff)
    assert "first differing layer: 2" in text
    assert "the same: 0-1, 3" in text


def test_entry_order_alone(tmp_path: Path) -> None:
    files = [Entry("a", b"1"), Entry("b", b"2")]
    a = build_image(tmp_path / "a", [make_tar(files)])
    b = build_image(tmp_path / "b", [make_tar(files[::-1])])
    layer = diff_images(a, b).layers[0]
    assert layer.status == "content"
    assert layer.entries == ()
    assert layer.order_differs
    assert "entry order" in render_text(diff_images(a, b))


def test_duplicate_path_the_later_entry_counts(tmp_path: Path) -> None:
    a = build_image(tmp_path / "a", [make_tar([Entry("f", b"old"), Entry("g", b"1"), Entry("f", b"new")])])
    b = build_image(tmp_path / "b", [make_tar([Entry("f", b"new"), Entry("g", b"2")])])
    assert [(e.path, e.aspects) for e in diff_images(a, b).layers[0].entries] == [("g", ("content",))]
    c = build_image(tmp_path / "c", [make_tar([Entry("f", b"newer"), Entry("g", b"1")])])
    assert [(e.path, e.aspects) for e in diff_images(a, c).layers[0].entries] == [("f", ("content",))]


def test_max_entries_counts_the_rest(tmp_path: Path) -> None:
    a = build_image(tmp_path / "a", [make_tar([Entry(f"f{i:02}", b"a") for i in range(30)])])
    b = build_image(tmp_path / "b", [make_tar([Entry(f"f{i:02}", b"b") for i in range(30)])])
    layer = diff_images(a, b, max_entries=10).layers[0]
    assert (len(layer.entries), layer.omitted, layer.differing_paths) == (10, 20, 30)
    assert "… and 10 more" in render_text(diff_images(a, b, max_entries=30), max_paths=20)


# --- config -------------------------------------------------------------------------------


def test_config_and_manifest_changes(tmp_path: Path) -> None:
    a = build_image(
        tmp_path / "a",
        [BASE],
        [{"created_by": "/bin/sh -c x", "created": "2024-01-01T00:00:00Z"}],
        config_extra={
            "created": "2024-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/usr/bin", "A=1"], "Labels": {"io.buildah.version": "1.28.0"}},
        },
        annotations={"org.opencontainers.image.base.name": "debian:12"},
    )
    b = build_image(
        tmp_path / "b",
        [BASE],
        [{"created_by": "/bin/sh -c x", "created": "2025-06-01T00:00:00Z"}],
        config_extra={
            "created": "2025-06-01T00:00:00Z",
            "config": {"Env": ["PATH=/usr/bin", "B=2"], "Labels": {"io.buildah.version": "1.33.0"}},
        },
    )
    diff = diff_images(a, b)
    assert diff.first_differing_layer is None
    assert [(c.path, c.a, c.b, c.in_a, c.in_b) for c in diff.config_changes] == [
        ('manifest.annotations["org.opencontainers.image.base.name"]', "debian:12", None, True, False),
        ("config.Env.A", "1", None, True, False),
        ("config.Env.B", None, "2", False, True),
        ('config.Labels["io.buildah.version"]', "1.28.0", "1.33.0", True, True),
        ("created", "2024-01-01T00:00:00Z", "2025-06-01T00:00:00Z", True, True),
        ("history[0].created", "2024-01-01T00:00:00Z", "2025-06-01T00:00:00Z", True, True),
    ]
    assert [f.culprit for f in diff.findings] == ["created-time", "builder-version", "base-name"]
    text = render_text(diff)
    assert "every layer is the same; the manifest or config differs" in text
    assert 'created: "2024-01-01T00:00:00Z" ≠ "2025-06-01T00:00:00Z"' in text
    assert 'config.Env.B: (absent) ≠ "2"' in text


# --- opening, errors --------------------------------------------------------------------


def test_open_image_by_oci_reference(tmp_path: Path) -> None:
    built = build_image(tmp_path / "img", [BASE])
    opened = open_image(f"oci:{tmp_path / 'img'}:latest")
    assert opened.image.digest == built.image.digest
    assert opened.name == f"oci:{tmp_path / 'img'}:latest"
    assert open_image(str(tmp_path / "img")).image.digest == built.image.digest
    with pytest.raises(ImageError, match="no image tagged"):
        open_image(f"oci:{tmp_path / 'img'}:nope")
    with pytest.raises(ImageError, match="not an OCI image layout"):
        open_image(f"oci:{tmp_path / 'missing'}")


def test_corrupted_layer_is_refused(tmp_path: Path) -> None:
    a = build_image(tmp_path / "a", [make_tar([Entry("f", b"a")])])
    b = build_image(tmp_path / "b", [make_tar([Entry("f", b"b")])])
    path = b.layout.blob_path(b.image.layers[0].digest)
    path.write_bytes(make_tar([Entry("f", b"c")]))
    with pytest.raises(ImageError, match="does not match"):
        diff_images(a, b)


def test_not_a_tar_and_zstd_are_refused(tmp_path: Path) -> None:
    a = build_image(tmp_path / "a", [make_tar([Entry("f", b"a")])])
    b = build_image(tmp_path / "b", [b"this is not a tar archive at all" * 40])
    with pytest.raises(ImageError, match="layer 0"):
        diff_images(a, b)
    layer = a.image.layers[0]
    zstd = LayoutImage(
        a.layout,
        a.image.__class__(
            manifest=a.image.manifest,
            config=a.image.config,
            layers=(
                layer.__class__(
                    index=0,
                    descriptor=layer.descriptor.__class__(
                        media_type=media.OCI_LAYER_ZSTD, digest=layer.digest, size=layer.descriptor.size
                    ),
                    diff_id=Digest.of(b"other"),
                    history=None,
                ),
            ),
        ),
        "zstd",
    )
    with pytest.raises(ImageError, match="zstd") as info:
        diff_images(build_image(tmp_path / "c", [make_tar([Entry("f", b"c")])]), zstd)
    assert "skopeo copy" in info.value.hint


# --- rendering ----------------------------------------------------------------------------

SNAPSHOT = """\
A: oci:build-1 sha256:<digest>
B: oci:build-2 sha256:<digest>
DIFFERENT — first differing layer: 1 (RUN at Dockerfile:3)

Likely causes:
  - var/log/dpkg.log written by RUN at Dockerfile:3 — dpkg and apt log every run with the time; use --scrub dpkg-log, or rm it in the same RUN
  - built-at written by RUN at Dockerfile:3 — the command writes the build time; use $SOURCE_DATE_EPOCH instead of the clock (e.g. date -u -d @$SOURCE_DATE_EPOCH)
  - app added by COPY at Dockerfile:4 — the engine did not clamp file times; build with a fixed time (buildah --timestamp $SOURCE_DATE_EPOCH), or let repro normalise the layers
  - config created — the image records when it was built; build with a fixed time (buildah --timestamp $SOURCE_DATE_EPOCH)

Layers: A has 3, B has 3; the same: 0
  layer 1: 2 paths differ — RUN at Dockerfile:3
      ~ built-at          content sha256:<digest>… (29 B) ≠ sha256:<digest>… (29 B)
      ~ var/log/dpkg.log  content sha256:<digest>… (19 B) ≠ sha256:<digest>… (19 B)
  layer 2: 1 path differs — COPY at Dockerfile:4
      ~ app  mtime 1970-01-01T00:00:00Z ≠ 1970-01-01T00:00:01Z

Config and manifest (1 field differs):
  created: "2024-01-01T00:00:00Z" ≠ "2024-01-02T00:00:00Z"
"""

SNAPSHOT_DOCKERFILE = b"""\
FROM busybox:1.36
ENV TZ=UTC
RUN date > /built-at && echo installed >> /var/log/dpkg.log
COPY app /app
"""


def _snapshot_images(tmp_path: Path) -> tuple[LayoutImage, LayoutImage]:
    history: list[dict[str, Any]] = [
        *BASE_HISTORY,
        {"created_by": "/bin/sh -c #(nop) ENV TZ=UTC", "empty_layer": True},
        {"created_by": "/bin/sh -c date > /built-at && echo installed >> /var/log/dpkg.log"},
        {"created_by": "/bin/sh -c #(nop) COPY file:5e1f in /app "},
    ]
    images = []
    for n, day in ((1, "Mon Jan  1 10:00:00 UTC 2024\n"), (2, "Tue Jan  2 10:00:00 UTC 2024\n")):
        run = make_tar(
            [Entry("built-at", day.encode()), Entry("var/log/dpkg.log", f"2024-01-0{n} install\n".encode())]
        )
        copy = make_tar([Entry("app", b"binary", mtime=n - 1)])
        images.append(
            build_image(
                tmp_path / f"b{n}",
                [BASE, run, copy],
                history,
                config_extra={"created": f"2024-01-0{n}T00:00:00Z"},
                name=f"oci:build-{n}",
            )
        )
    return images[0], images[1]


def _scrub_digests(text: str) -> str:
    return re.sub(r"sha256:[0-9a-f]{12,64}", "sha256:<digest>", text)


def test_render_text_snapshot(tmp_path: Path) -> None:
    a, b = _snapshot_images(tmp_path)
    diff = diff_images(a, b, dockerfile=parse(SNAPSHOT_DOCKERFILE))
    assert _scrub_digests(render_text(diff)) == SNAPSHOT


def test_json_is_stable_and_serialisable(tmp_path: Path) -> None:
    a, b = _snapshot_images(tmp_path)
    df = parse(SNAPSHOT_DOCKERFILE)
    first = json.dumps(diff_images(a, b, dockerfile=df).to_json(), sort_keys=False)
    second = json.dumps(diff_images(a, b, dockerfile=df).to_json(), sort_keys=False)
    assert first == second
    obj = json.loads(first)
    assert list(obj) == [
        "identical",
        "a",
        "b",
        "first_differing_layer",
        "findings",
        "layers",
        "config_changes",
        "history_note",
    ]
    assert obj["first_differing_layer"] == 1
    assert obj["layers"][1]["origin"]["location"] == "Dockerfile:3"
    assert obj["findings"][0]["location"] == "Dockerfile:3"
    assert obj["findings"][0]["paths"] == ["var/log/dpkg.log"]
    assert obj["layers"][0]["status"] == "same"


def test_history_note_when_layers_cannot_be_mapped(tmp_path: Path) -> None:
    a, b = _snapshot_images(tmp_path)
    other = parse(b"FROM busybox:1.36\nRUN make\nCOPY app /app\n")
    diff = diff_images(a, b, dockerfile=other)
    assert "layers not mapped to Dockerfile lines" in diff.history_note
    text = render_text(diff)
    assert "Dockerfile:" not in text
    assert "layer 1 (/bin/sh -c date > /built-at" in text


# --- streaming ------------------------------------------------------------------------------


class _PatternReader(io.RawIOBase):
    """``size`` bytes of a repeating pattern, produced on demand."""

    def __init__(self, size: int, seed: bytes) -> None:
        self._left = size
        self._block = (seed * (65536 // len(seed) + 1))[:65536]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._left, len(self._block))
        buffer[:n] = self._block[:n]
        self._left -= n
        return n


def _write_big_layer(layout: ImageLayout, seed: bytes, size: int, *, compress: bool) -> tuple[Any, Digest]:
    media_type = media.OCI_LAYER_GZIP if compress else media.OCI_LAYER_TAR
    diff_hasher = Digest.hasher()

    class _Tee(io.RawIOBase):
        def __init__(self, sink: Any) -> None:
            self._sink = sink

        def writable(self) -> bool:
            return True

        def write(self, data: Any) -> int:
            diff_hasher.update(bytes(data))
            self._sink.write(data)
            return len(data)

    with layout.blob_writer(media_type) as writer:
        sink: Any = writer
        if compress:
            sink = gzip.GzipFile(fileobj=cast(IO[bytes], writer), mode="wb", compresslevel=1, mtime=0)
        with tarfile.open(fileobj=_Tee(sink), mode="w|", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo("big.bin")
            info.size = size
            tar.addfile(info, _PatternReader(size, seed))
            small = tarfile.TarInfo("small")
            small.size = len(seed)
            tar.addfile(small, io.BytesIO(seed))
        if compress:
            sink.close()
    assert writer.descriptor is not None
    return writer.descriptor, diff_hasher.digest()


def _big_image(directory: Path, seed: bytes, *, compress: bool) -> LayoutImage:
    layout = ImageLayout.create(directory)
    descriptor, diff_id = _write_big_layer(layout, seed, 50 * 1024 * 1024, compress=compress)
    config = {"rootfs": {"type": "layers", "diff_ids": [str(diff_id)]}, "history": [{"created_by": "big"}]}
    config_desc = layout.write_blob(json.dumps(config).encode(), media.OCI_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": [descriptor.to_json()],
    }
    layout.set_tag("latest", layout.write_blob(json.dumps(manifest).encode(), media.OCI_MANIFEST))
    return LayoutImage(layout, layout.image("latest"), directory.name)


def test_a_50_mb_layer_is_streamed_in_bounded_memory(tmp_path: Path) -> None:
    a = _big_image(tmp_path / "a", b"repro-a ", compress=False)
    b = _big_image(tmp_path / "b", b"repro-b ", compress=True)
    tracemalloc.start()
    try:
        diff = diff_images(a, b)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    layer = diff.layers[0]
    assert [(e.path, e.aspects) for e in layer.entries] == [
        ("big.bin", ("content",)),
        ("small", ("content",)),
    ]
    big = layer.entries[0]
    assert big.a is not None
    assert big.a.size == 50 * 1024 * 1024
    assert big.a.sample is None  # large files keep only their hash


def _states(paths: Sequence[str]) -> Iterator[EntryState]:
    for path in paths:
        yield EntryState(
            path=path, type="file", mode=0o644, uid=0, gid=0, uname="", gname="", mtime=0, size=0
        )


def test_compare_layers_matches_entries_in_any_order() -> None:
    entries, omitted, order = compare_layers(
        lambda: _states(["a", "b", "c", "d"]), lambda: _states(["d", "c", "x", "a"])
    )
    assert [(e.path, e.only_in) for e in entries] == [("b", "a"), ("x", "b")]
    assert (omitted, order) == (0, True)
    entries, _, order = compare_layers(lambda: _states(["a", "b"]), lambda: _states(["a", "b"]))
    assert (entries, order) == ((), False)


def test_result_type_is_exported() -> None:
    assert ImageDiff.__name__ == "ImageDiff"
