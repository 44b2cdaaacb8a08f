from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repro.errors import ImageError
from repro.layers.filesystem import ImageFilesystem, normalise
from tests.unit.layers.layerkit import Dir, File, Link, layer_tar, make_image

ELF = b"\x7fELF" + b"\x02\x01\x01" + b"\x00" * 100


def scan(tmp_path: Path, layers: list[list[File | Dir | Link] | bytes], **kwargs: object) -> ImageFilesystem:
    compress = kwargs.pop("compress", False)
    layout, image = make_image(tmp_path / "img", layers, compress=compress)  # type: ignore[arg-type]
    return ImageFilesystem.scan(layout, image, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("compress", [False, True])
def test_layers_merge_in_order(tmp_path: Path, compress: bool) -> None:
    fs = scan(
        tmp_path,
        [
            [Dir("etc"), File("etc/a", b"one"), File("etc/b", b"b")],
            [File("etc/a", b"two"), File("etc/c", b"c")],
        ],
        compress=compress,
    )
    assert [e.path for e in fs.entries()] == ["etc", "etc/a", "etc/b", "etc/c"]
    assert fs.read("etc/a") == b"two"
    assert fs.entry("etc/a").layer == 1  # type: ignore[union-attr]
    assert fs.first_layer("etc/a") == 0  # rewritten, never deleted: its existence continues
    assert fs.first_layer("etc/c") == 1
    with fs.open("etc/b") as stream:
        assert stream.read() == b"b"


def test_whiteout_deletes_and_recreation_restarts_first_layer(tmp_path: Path) -> None:
    fs = scan(
        tmp_path,
        [
            [Dir("d"), File("d/x", b"x"), File("d/y", b"y"), Dir("d/sub"), File("d/sub/z", b"z")],
            [File("d/.wh.x"), File("d/.wh.sub")],
            [File("d/x", b"again")],
        ],
    )
    assert [e.path for e in fs.entries()] == ["d", "d/x", "d/y"]
    assert fs.first_layer("d/x") == 2
    assert fs.read("d/x") == b"again"


def test_opaque_directory_hides_lower_children_only(tmp_path: Path) -> None:
    fs = scan(
        tmp_path,
        [
            [Dir("d"), File("d/old", b"o"), File("d/keep", b"k")],
            # the new child comes before the marker; the marker hides lower layers only
            [Dir("d"), File("d/new", b"n"), File("d/keep", b"k2"), File("d/.wh..wh..opq")],
        ],
    )
    assert [e.path for e in fs.entries()] == ["d", "d/keep", "d/new"]
    assert fs.first_layer("d/keep") == 1  # the lower d/keep was hidden, this one is new


def test_file_over_directory_removes_the_tree(tmp_path: Path) -> None:
    fs = scan(tmp_path, [[Dir("a"), File("a/b", b"b")], [File("a", b"now a file")]])
    assert [e.path for e in fs.entries()] == ["a"]
    assert fs.read("a") == b"now a file"


def test_path_traversal_is_clamped_to_the_root(tmp_path: Path) -> None:
    fs = scan(
        tmp_path, [[File("../../etc/passwd", b"root"), File("/abs/file", b"a"), File("./x/../y", b"y")]]
    )
    assert [e.path for e in fs.entries()] == ["abs/file", "etc/passwd", "y"]


def test_symlinks_resolve_inside_the_root_only(tmp_path: Path) -> None:
    fs = scan(
        tmp_path,
        [
            [
                Dir("usr/lib"),
                File("usr/lib/os-release", b"ID=debian\n"),
                Link("etc/os-release", "../usr/lib/os-release"),
                Link("escape", "../../../../usr/lib/os-release"),
                Link("abs", "/usr/lib/os-release"),
                Link("loop1", "loop2"),
                Link("loop2", "loop1"),
            ]
        ],
    )
    assert fs.read("etc/os-release") == b"ID=debian\n"
    assert fs.read("escape") == b"ID=debian\n"  # ".." stops at the root
    assert fs.read("abs") == b"ID=debian\n"
    assert fs.resolve("loop1") is None
    with pytest.raises(ImageError, match="no such file"):
        fs.read("loop1")
    assert fs.entry("etc/os-release").type == "symlink"  # type: ignore[union-attr]


def test_members_under_a_symlinked_directory_land_at_its_target(tmp_path: Path) -> None:
    fs = scan(tmp_path, [[Dir("usr/bin"), Link("bin", "usr/bin")], [File("bin/tool", ELF, 0o755)]])
    assert fs.entry("usr/bin/tool") is not None
    assert fs.entry("bin/tool") is None


def test_hard_links_share_content(tmp_path: Path) -> None:
    fs = scan(tmp_path, [[File("a", b"content"), Link("b", "a", hard=True)]], compress=True)
    assert fs.read("b") == b"content"
    assert fs.entry("b").size == 7  # type: ignore[union-attr]


@pytest.mark.parametrize("compress", [False, True])
def test_prefetch_reads_during_the_scan_and_misses_cost_one_pass_per_layer(
    tmp_path: Path, compress: bool
) -> None:
    fs = scan(
        tmp_path,
        [[File("want/a", b"a"), File("other/b", b"b"), File("other/c", b"c")]],
        prefetch=["want/*"],
        compress=compress,
    )
    assert fs.layer_passes == 1
    assert fs.read("want/a") == b"a"
    assert fs.layer_passes == 1
    fs.prefetch(["other/b", "other/c"])
    assert fs.layer_passes == (2 if compress else 1)  # an uncompressed layer is read in place
    assert (fs.read("other/b"), fs.read("other/c")) == (b"b", b"c")
    assert fs.layer_passes == (2 if compress else 1)


def test_tracked_files_keep_every_layer_version(tmp_path: Path) -> None:
    fs = scan(
        tmp_path,
        [[File("s", b"v1")], [File("x", b"")], [File("s", b"v2")], [File(".wh.s")]],
        track=["s"],
    )
    assert fs.versions("s") == [(0, b"v1"), (2, b"v2"), (3, None)]


def test_binaries_are_detected_and_hashed_on_demand(tmp_path: Path) -> None:
    import hashlib

    fs = scan(
        tmp_path,
        [
            [
                File("bin/tool", ELF, 0o755),
                File("bin/script", b"#!/bin/sh\n", 0o755),
                File("lib/libx.so.1", ELF),
            ]
        ],
        inspect_binaries=True,
        compress=True,
    )
    assert [e.path for e in fs.binaries()] == ["bin/tool", "lib/libx.so.1"]
    assert fs.sha256("bin/tool") == hashlib.sha256(ELF).hexdigest()
    passes = fs.layer_passes
    with fs.open("bin/script") as stream:  # the first bytes are known: no second pass
        assert stream.read(4) == b"#!/b"
    assert fs.layer_passes == passes
    with fs.open("bin/script") as stream:
        assert stream.read() == b"#!/bin/sh\n"


def test_size_limit_on_read(tmp_path: Path) -> None:
    fs = scan(tmp_path, [[File("big", b"x" * 100)]])
    with pytest.raises(ImageError, match="more than"):
        fs.read("big", max_size=10)


def test_glob_matches_like_fnmatchcase(tmp_path: Path) -> None:
    fs = scan(
        tmp_path, [[File("var/lib/dpkg/info/a.list"), File("var/lib/dpkg/info/b.md5sums"), File("x.list")]]
    )
    assert [e.path for e in fs.glob("var/lib/dpkg/info/*.list")] == ["var/lib/dpkg/info/a.list"]
    assert [e.path for e in fs.glob("*.list")] == ["var/lib/dpkg/info/a.list", "x.list"]


def test_damaged_layers_are_image_errors(tmp_path: Path) -> None:
    whole = layer_tar([File("a", b"x" * 5000)])
    with pytest.raises(ImageError):
        scan(tmp_path / "1", [whole[:1500]])
    with pytest.raises(ImageError):
        scan(tmp_path / "2", [b"\x1f\x8b" + b"garbage" * 10])


def test_a_header_claiming_a_huge_size_is_refused_without_allocating(tmp_path: Path) -> None:
    info = tarfile.TarInfo("huge")
    info.size = 1 << 40  # 1 TiB claimed, a few bytes present
    header = info.tobuf(format=tarfile.GNU_FORMAT)
    with pytest.raises(ImageError):
        scan(tmp_path, [header + b"x" * 512], prefetch=["huge"])


def test_zstd_layers_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="zstd"):
        scan(tmp_path, [b"\x28\xb5\x2f\xfd" + b"\x00" * 100])


def test_normalise() -> None:
    assert normalise("./a/./b/") == "a/b"
    assert normalise("../../x") == "x"
    assert normalise("/") == ""


_names = st.lists(
    st.text(alphabet="ab./", min_size=1, max_size=8).filter(lambda s: s.strip("/.")), min_size=1, max_size=8
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=_names, data=st.data())
def test_hostile_member_names_never_escape_or_crash(
    tmp_path_factory: pytest.TempPathFactory, names: list[str], data: st.DataObject
) -> None:
    tmp = tmp_path_factory.mktemp("fuzz")
    members: list[File | Dir | Link] = []
    for name in names:
        kind = data.draw(st.sampled_from(["file", "dir", "symlink", "hardlink", "whiteout"]))
        if kind == "file":
            members.append(File(name, b"x"))
        elif kind == "dir":
            members.append(Dir(name))
        elif kind == "whiteout":
            members.append(File(name.rstrip("/") + "/.wh.a"))
        else:
            members.append(Link(name, data.draw(st.sampled_from(names)), hard=kind == "hardlink"))
    buffer = io.BytesIO(layer_tar(members))
    try:
        fs = scan(tmp, [buffer.getvalue(), layer_tar(members[::-1])])
    except ImageError:
        return
    for entry in fs.entries():
        assert not entry.path.startswith("/")
        assert ".." not in entry.path.split("/")
        resolved = fs.resolve(entry.path)
        assert resolved is None or (not resolved.startswith("/") and ".." not in resolved.split("/"))
