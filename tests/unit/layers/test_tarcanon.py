"""The canonical tar writer: a known-answer vector, its properties, and hostile input."""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import tarfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repro.errors import ImageError
from repro.layers.scrub import Scrubber, resolve_profiles
from repro.layers.tarcanon import GzipWriter, LayerWriteResult, Limits, canonicalize, sort_key
from tests.unit.layers.vectors.tartools import (
    Item,
    end_marker,
    make_tar,
    pax_member,
    raw_header,
    raw_member,
    raw_tar,
)

VECTORS = Path(__file__).parent / "vectors"
EPOCH = 1_700_000_000
CAPABILITY = "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
LONG_DIR = "opt/" + "d" * 60
LONG_FILE = f"{LONG_DIR}/" + "f" * 80

# Computed once by the implementation, then checked entry by entry in
# test_vector_v1_content (which does not depend on these constants).
VECTOR_V1_INPUT_SHA256 = "26a222ad2aa00aed6fc5606090d3a75efe1976d8f106e84165c6d554957b9ad0"
VECTOR_V1_TAR_SHA256 = "0fe1c74f0a0d6541913e77a9cb00de0627d581e1d8a0db376762c85f266de746"
VECTOR_V1_GZIP_SHA256 = "7b1de4ae1d854235767e34695a0a8fb3f85166a61f8b328fcfa114ef12879911"


def vector_v1_items() -> list[Item]:
    """A layer with most of what the canonical form has rules for, in a scrambled order."""
    return [
        Item("usr/bin/tool", data=b"#!/bin/sh\necho tool\n", mode=0o104755, uid=1000, gid=1000,
             mtime=1_800_000_000, uname="builder", gname="staff",
             pax={"SCHILY.xattr.user.b": "2", "SCHILY.xattr.security.selinux": "system_u:object_r:bin_t:s0",
                  "SCHILY.xattr.user.a": "1", "SCHILY.xattr.security.capability": CAPABILITY,
                  "atime": "1800000001.25", "ctime": "1800000002.5", "comment": "from a tar writer"}),
        Item("usr/bin/alias", tarfile.LNKTYPE, linkname="usr/bin/tool", mode=0o4755, uid=1000, gid=1000,
             mtime=1_800_000_000),
        Item("usr/bin/", tarfile.DIRTYPE, mode=0o40755, mtime=1_800_000_000, uname="root", gname="root"),
        Item("usr/", tarfile.DIRTYPE, mode=0o755, mtime=1_600_000_000),
        Item("./", tarfile.DIRTYPE, mode=0o755, mtime=1_600_000_000),
        Item("etc/motd", data=b"hello\n", mtime=1_600_000_000.75),
        Item("/etc/absolute", data=b"was /etc/absolute\n", mtime=1_500_000_000),
        Item("etc/naïve.txt", data=b"utf-8 name\n", mtime=1_500_000_000),
        Item("etc/passwd-link", tarfile.SYMTYPE, linkname="/etc/passwd", mode=0o777),
        Item("etc/", tarfile.DIRTYPE, mode=0o755, mtime=1_500_000_000),
        Item("bin", tarfile.SYMTYPE, linkname="usr/bin", mode=0o777),
        Item("dev/null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3),
        Item("dev/sda", tarfile.BLKTYPE, mode=0o660, gid=6, devmajor=8, devminor=0),
        Item("dev/", tarfile.DIRTYPE, mode=0o755),
        Item("run/initctl", tarfile.FIFOTYPE, mode=0o600),
        Item("var/lib/gone/new", data=b"new in this layer\n"),
        Item("var/lib/gone/.wh..wh..opq", data=b""),
        Item("var/lib/gone/", tarfile.DIRTYPE, mode=0o755),
        Item("var/lib/-dash", data=b"sorts before .wh. as bytes\n"),
        Item("var/lib/.wh.old", data=b""),
        Item(LONG_FILE, data=b"long name\n", uid=3_000_000, gid=3_000_001),
        Item(f"{LONG_DIR}/link", tarfile.SYMTYPE, linkname="../" + "t" * 120, mode=0o777),
    ]  # fmt: skip


def vector_v1_input() -> bytes:
    return make_tar(vector_v1_items())


def run(data: bytes, tmp_path: Path, **kwargs: object) -> tuple[bytes, LayerWriteResult]:
    out = io.BytesIO()
    kwargs.setdefault("source_date_epoch", EPOCH)
    result = canonicalize(io.BytesIO(data), out, tmp_dir=tmp_path, **kwargs)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == [], "the spool file must be removed"
    return out.getvalue(), result


def members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getmembers()


def gzip_bytes(data: bytes, level: int = 6) -> bytes:
    out = io.BytesIO()
    writer = GzipWriter(out, level)
    writer.write(data)
    writer.close()
    return out.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the known-answer vector -----------------------------------------------------------


def test_vector_v1_input_is_the_committed_one() -> None:
    committed = (VECTORS / "layer-v1.tar").read_bytes()
    assert sha256(committed) == VECTOR_V1_INPUT_SHA256
    assert vector_v1_input() == committed, "the generator drifted from vectors/layer-v1.tar"


def test_vector_v1_known_answer(tmp_path: Path) -> None:
    out, result = run((VECTORS / "layer-v1.tar").read_bytes(), tmp_path)
    assert sha256(out) == VECTOR_V1_TAR_SHA256
    assert str(result.diff_id) == f"sha256:{VECTOR_V1_TAR_SHA256}"
    assert result.size == len(out)


@pytest.mark.skipif("zlib-ng" in zlib.ZLIB_RUNTIME_VERSION, reason="zlib-ng deflates differently")
def test_vector_v1_gzip_known_answer(tmp_path: Path) -> None:
    out, _ = run((VECTORS / "layer-v1.tar").read_bytes(), tmp_path)
    compressed = gzip_bytes(out)
    assert sha256(compressed) == VECTOR_V1_GZIP_SHA256
    assert gzip.decompress(compressed) == out
    # the header carries neither a time nor a name nor the platform zlib was built on
    assert compressed[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def test_vector_v1_content(tmp_path: Path) -> None:
    out, result = run(vector_v1_input(), tmp_path)
    got = members(out)
    assert [m.name for m in got] == [
        ".",  # tarfile strips the trailing slash of "./" and of directories
        "bin",
        "dev",
        "dev/null",
        "dev/sda",
        "etc",
        "etc/absolute",
        "etc/motd",
        "etc/naïve.txt",
        "etc/passwd-link",
        "opt/" + "d" * 60 + "/" + "f" * 80,
        "opt/" + "d" * 60 + "/link",
        "run/initctl",
        "usr",
        "usr/bin",
        "usr/bin/alias",
        "usr/bin/tool",
        "var/lib/.wh.old",
        "var/lib/-dash",
        "var/lib/gone",
        "var/lib/gone/.wh..wh..opq",
        "var/lib/gone/new",
    ]
    assert result.entries == len(got)
    by_name = {m.name: m for m in got}
    for member in got:
        assert member.mtime <= EPOCH
        assert member.uname == member.gname == ""
        assert set(member.pax_headers) <= {"path", "linkpath", "uid", "gid"} | {
            "SCHILY.xattr.security.capability",
            "SCHILY.xattr.user.a",
            "SCHILY.xattr.user.b",
        }
    assert by_name["etc/motd"].mtime == 1_600_000_000  # sub-seconds dropped
    assert by_name["usr"].mtime == 1_600_000_000
    assert by_name["usr/bin"].mtime == EPOCH  # clamped
    assert by_name["usr/bin"].mode == 0o755  # file-type bits dropped
    # the hard link group: the first name in canonical order holds the data
    alias, tool = by_name["usr/bin/alias"], by_name["usr/bin/tool"]
    assert alias.isreg()
    assert alias.mode == 0o4755
    assert (alias.uid, alias.gid) == (1000, 1000)
    assert tool.islnk()
    assert tool.linkname == "usr/bin/alias"
    assert tool.size == 0
    assert list(alias.pax_headers) == [
        "SCHILY.xattr.security.capability",
        "SCHILY.xattr.user.a",
        "SCHILY.xattr.user.b",
    ]
    assert alias.pax_headers["SCHILY.xattr.security.capability"] == CAPABILITY
    assert tool.pax_headers == {}
    with tarfile.open(fileobj=io.BytesIO(out)) as tar:
        data = tar.extractfile("usr/bin/alias")
        assert data is not None
        assert data.read() == b"#!/bin/sh\necho tool\n"
    assert (by_name["dev/null"].devmajor, by_name["dev/null"].devminor) == (1, 3)
    assert by_name["dev/sda"].isblk()
    assert by_name["dev/sda"].devmajor == 8
    assert by_name["run/initctl"].isfifo()
    assert by_name["etc/passwd-link"].linkname == "/etc/passwd"  # a symlink target is data
    assert by_name["bin"].issym()
    assert by_name["bin"].linkname == "usr/bin"
    long_member = by_name[LONG_FILE]
    assert long_member.pax_headers == {"path": LONG_FILE, "uid": "3000000", "gid": "3000001"}
    assert (long_member.uid, long_member.gid) == (3_000_000, 3_000_001)
    assert by_name[f"{LONG_DIR}/link"].linkname == "../" + "t" * 120
    assert by_name["etc/naïve.txt"].pax_headers == {"path": "etc/naïve.txt"}
    # PAX headers only where ustar cannot say it
    assert by_name["etc/motd"].pax_headers == {}
    # raw names: directories end in "/", the root is "./", the end is two zero blocks
    assert out[:2] == b"./"
    assert out.endswith(bytes(1024))
    assert len(out) % 512 == 0
    assert b"usr/bin/\x00" in out


def test_the_output_is_a_fixed_point(tmp_path: Path) -> None:
    once, first = run(vector_v1_input(), tmp_path)
    twice, second = run(once, tmp_path)
    assert twice == once
    assert second.diff_id == first.diff_id


def test_gzip_input_gives_the_same_tar(tmp_path: Path) -> None:
    plain, _ = run(vector_v1_input(), tmp_path)
    compressed = gzip.compress(vector_v1_input(), mtime=12345)
    assert run(compressed, tmp_path)[0] == plain
    # concatenated gzip members are one stream, as gzip(1) and Go read them
    data = vector_v1_input()
    multi = gzip.compress(data[:1000]) + gzip.compress(data[1000:])
    assert run(multi, tmp_path)[0] == plain


def test_gzip_writer_round_trips_and_is_deterministic() -> None:
    data = bytes(range(256)) * 5000
    assert gzip.decompress(gzip_bytes(data)) == data
    assert gzip_bytes(data) == gzip_bytes(data)
    assert gzip_bytes(data, 1) != gzip_bytes(data, 9)


# --- properties -------------------------------------------------------------------------


def valid_shuffle(items: list[Item], rng: random.Random) -> list[Item]:
    """A random order that keeps each hard link after its target (what tar requires)."""
    shuffled = items[:]
    rng.shuffle(shuffled)
    links = [i for i in shuffled if i.kind == tarfile.LNKTYPE]
    rest = [i for i in shuffled if i.kind != tarfile.LNKTYPE]
    return rest + links


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_entry_order_does_not_matter(seed: int, tmp_path: Path) -> None:
    items = vector_v1_items()
    expected, _ = run(make_tar(items), tmp_path)
    shuffled = valid_shuffle(items, random.Random(seed))
    assert run(make_tar(shuffled), tmp_path)[0] == expected


def test_the_tar_format_of_the_input_does_not_matter(tmp_path: Path) -> None:
    items = [
        Item("a/", tarfile.DIRTYPE, mode=0o755, uname="x"),
        Item("a/" + "n" * 150, data=b"long"),
        Item("a/link", tarfile.SYMTYPE, linkname="t" * 150),
        Item("b", data=b"x" * 600, mtime=EPOCH + 10),
    ]
    outputs = {
        run(make_tar(items, tar_format=f), tmp_path)[0] for f in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT)
    }
    assert len(outputs) == 1


def test_which_name_holds_hard_linked_data_does_not_matter(tmp_path: Path) -> None:
    one = [Item("z", data=b"data", mode=0o755), Item("a", tarfile.LNKTYPE, linkname="z", mode=0o755)]
    other = [Item("a", data=b"data", mode=0o755), Item("z", tarfile.LNKTYPE, linkname="a", mode=0o755)]
    out = run(make_tar(one), tmp_path)[0]
    assert out == run(make_tar(other), tmp_path)[0]
    a, z = members(out)
    assert a.name == "a"
    assert a.isreg()
    assert z.islnk()
    assert z.linkname == "a"


def test_a_chain_of_hard_links_becomes_one_group(tmp_path: Path) -> None:
    items = [
        Item("c", data=b"data"),
        Item("b", tarfile.LNKTYPE, linkname="c"),
        Item("a", tarfile.LNKTYPE, linkname="b"),
    ]
    got = members(run(make_tar(items), tmp_path)[0])
    assert [(m.name, m.type, m.linkname) for m in got] == [
        ("a", tarfile.REGTYPE, ""),
        ("b", tarfile.LNKTYPE, "a"),
        ("c", tarfile.LNKTYPE, "a"),
    ]


def test_hard_link_to_a_lower_layer_is_kept(tmp_path: Path) -> None:
    got = members(run(make_tar([Item("new", tarfile.LNKTYPE, linkname="/usr/lib/old")]), tmp_path)[0])
    assert [(m.name, m.linkname) for m in got] == [("new", "usr/lib/old")]


def test_mtimes_are_clamped_and_never_negative(tmp_path: Path) -> None:
    items = [
        Item("future", mtime=EPOCH + 1),
        Item("past", mtime=EPOCH - 1),
        Item("now", mtime=EPOCH),
        Item("negative", pax={"mtime": "-5.5"}),
    ]
    got = {m.name: m.mtime for m in members(run(make_tar(items), tmp_path)[0])}
    assert got == {"future": EPOCH, "past": EPOCH - 1, "now": EPOCH, "negative": 0}


def test_duplicate_entries_keep_the_last_as_extraction_does(tmp_path: Path) -> None:
    items = [Item("f", data=b"first"), Item("l", tarfile.LNKTYPE, linkname="f"), Item("f", data=b"second")]
    out = run(make_tar(items), tmp_path)[0]
    with tarfile.open(fileobj=io.BytesIO(out)) as tar:
        contents = {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}  # type: ignore[union-attr]
    # "l" still names the first file's data; "f" is the second file
    assert contents == {"f": b"second", "l": b"first"}


def test_whiteouts_come_first_in_their_directory() -> None:
    names = ["d/zz", "d/.wh.b", "d/.wh..wh..opq", "d/!bang", "d", "d/-dash", "d/.hidden", "d/.wh.a", ""]
    assert sorted(names, key=sort_key) == [
        "",
        "d",
        "d/.wh..wh..opq",
        "d/.wh.a",
        "d/.wh.b",
        "d/!bang",
        "d/-dash",
        "d/.hidden",
        "d/zz",
    ]


def test_directories_come_right_before_their_contents() -> None:
    names = ["a.b", "a/b", "a", "a-b", "a/b/c", "ab"]
    assert sorted(names, key=sort_key) == ["a", "a/b", "a/b/c", "a-b", "a.b", "ab"]


def test_scrubbed_entries_are_dropped_and_reported(tmp_path: Path) -> None:
    items = [
        Item("var/cache/apt/", tarfile.DIRTYPE),
        Item("var/cache/apt/pkgcache.bin", data=b"volatile"),
        Item("var/cache/apt/keep.txt", data=b"kept"),
        Item("var/log/dpkg.log", data=b"log"),
        Item("var/log/dpkg-link", tarfile.LNKTYPE, linkname="var/log/dpkg.log"),
    ]
    scrubber = Scrubber(resolve_profiles(["apt", "dpkg-log"]))
    out, result = run(make_tar(items), tmp_path, scrubber=scrubber)
    assert result.scrubbed == (("var/cache/apt/pkgcache.bin", "apt"), ("var/log/dpkg.log", "dpkg-log"))
    got = members(out)
    # the other name of a scrubbed hard link now holds the data
    assert [(m.name, m.type) for m in got] == [
        ("var/cache/apt", tarfile.DIRTYPE),
        ("var/cache/apt/keep.txt", tarfile.REGTYPE),
        ("var/log/dpkg-link", tarfile.REGTYPE),
    ]


# --- hostile input ----------------------------------------------------------------------


def rejects(data: bytes, tmp_path: Path, match: str, limits: Limits | None = None) -> None:
    extra = {"limits": limits} if limits is not None else {}
    with pytest.raises(ImageError, match=match):
        run(data, tmp_path, where="layer 3 (sha256:abc)", **extra)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "match"),
    [
        (b"../etc/passwd", r"layer 3 .*'\.\./etc/passwd'.*climbs out"),
        (b"a/../../etc/passwd", "climbs out"),
        (b"/../etc/passwd", "climbs out"),
    ],
)
def test_path_traversal_is_refused(name: bytes, match: str, tmp_path: Path) -> None:
    rejects(raw_tar([raw_member(name, b"x")]), tmp_path, match)


def test_absolute_paths_become_relative(tmp_path: Path) -> None:
    out = run(
        raw_tar([raw_member(b"/etc/passwd", b"x"), raw_member(b"//usr/./bin/../lib/x", b"y")]), tmp_path
    )[0]
    assert [m.name for m in members(out)] == ["etc/passwd", "usr/lib/x"]


@pytest.mark.parametrize(
    ("members_", "match"),
    [
        ([raw_member(b"l", typeflag=b"1", linkname=b"../../etc/shadow")], "climbs out"),
        (
            [raw_member(b"d/", typeflag=b"5"), raw_member(b"l", typeflag=b"1", linkname=b"d")],
            "to the directory",
        ),
        ([raw_member(b"l", typeflag=b"1", linkname=b"l")], "to itself"),
        ([raw_member(b"l", typeflag=b"1", linkname=b"/")], "layer root"),
        ([raw_member(b"l", typeflag=b"1", linkname=b"f"), raw_member(b"f", b"x")], "only adds later"),
        ([raw_member(b"s", typeflag=b"2", linkname=b"/etc"), raw_member(b"s/passwd", b"x")], "beneath 's'"),
        ([raw_member(b"f", b"x"), raw_member(b"f/g", b"y")], "beneath 'f'"),
        ([raw_member(b"s", typeflag=b"2")], "empty target"),
        ([raw_member(b".", b"x")], "root is a file"),
    ],
)
def test_links_and_shapes_that_reordering_would_change_are_refused(
    members_: list[bytes], match: str, tmp_path: Path
) -> None:
    rejects(raw_tar(members_), tmp_path, match)


def test_a_symlink_out_of_the_tree_is_data(tmp_path: Path) -> None:
    out = run(raw_tar([raw_member(b"evil", typeflag=b"2", linkname=b"../../../../etc/passwd")]), tmp_path)[0]
    (member,) = members(out)
    assert member.issym()
    assert member.linkname == "../../../../etc/passwd"


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (raw_tar([raw_member(b"caf\xe9", b"x")]), "not valid UTF-8"),
        (raw_tar([pax_member({b"path": b"a\x00b"}), raw_member(b"x", b"x")]), "NUL"),
        (raw_tar([raw_member(b"f", b"x", checksum_delta=1)]), "checksum"),
        (raw_member(b"f", b"x" * 1000)[:700], "truncated"),
        (raw_tar([raw_member(b"f", b"x")]) + b"garbage", "after the end-of-archive marker"),
        (raw_tar([raw_member(b"f", b"x", typeflag=b"S")]), "sparse"),
        (raw_tar([raw_member(b"v", typeflag=b"V")]), "volume"),
        (raw_tar([raw_member(b"f", b"x", typeflag=b"Z")]), "unknown entry type"),
        (raw_tar([raw_header(b"d", b"5", size=512) + bytes(512)]), "directory with 512 bytes"),
        (raw_tar([raw_header(b"f", size_field=b"\x80" + b"\xff" * 11)]), "exceeds the limit"),
        (raw_tar([raw_header(b"f", size_field=b"12\x0034" + bytes(7))]), "invalid size"),
        (raw_tar([pax_member({b"path": b"a"}), pax_member({b"path": b"b"}), raw_member(b"x")]), "two PAX"),
        (
            raw_tar(
                [
                    raw_member(b"././@LongLink", b"long\x00", b"L"),
                    pax_member({b"path": b"p"}),
                    raw_member(b"x"),
                ]
            ),
            "both a GNU long name and a PAX path",
        ),
        (raw_tar([pax_member({b"path": b"x"}, b"g"), raw_member(b"f")]), "global header sets file fields"),
        (raw_tar([pax_member({b"GNU.sparse.major": b"1"}), raw_member(b"f")]), "sparse"),
        (raw_tar([pax_member({b"size": b"-1"}), raw_member(b"f")]), "negative size"),
        (raw_tar([pax_member({b"mtime": b"soon"}), raw_member(b"f")]), "invalid PAX mtime"),
        (raw_tar([raw_member(b"././@PaxHeader", b"5 a=\n", b"x")]), "ends after an extended header"),
        (raw_tar([raw_member(b"././@PaxHeader", b"99 a=b\n", b"x"), raw_member(b"f")]), "malformed PAX"),
        (raw_tar([raw_header(b"x", b"x", size=10_000_000)]), "extended header of 10000000 bytes"),
        (b"\x28\xb5\x2f\xfd" + bytes(100), "zstd"),
        (gzip.compress(raw_tar([raw_member(b"f", b"x")]))[:-12], "truncated gzip"),
        (gzip.compress(raw_tar([raw_member(b"f", b"x")])) + b"trailing", "after the end of the gzip"),
        (b"\x1f\x8b" + bytes(100), "corrupt gzip"),
        (b"not a tar archive at all" * 30, "checksum"),
    ],
)
def test_malformed_and_ambiguous_streams_are_refused(data: bytes, match: str, tmp_path: Path) -> None:
    rejects(data, tmp_path, match)


def test_a_global_header_with_only_a_comment_is_ignored(tmp_path: Path) -> None:
    out = run(raw_tar([pax_member({b"comment": b"git archive"}, b"g"), raw_member(b"f", b"x")]), tmp_path)[0]
    assert [m.name for m in members(out)] == ["f"]


def test_end_of_stream_without_marker_and_empty_layers_are_accepted(tmp_path: Path) -> None:
    assert members(run(raw_member(b"f", b"x"), tmp_path)[0])[0].name == "f"
    out, result = run(b"", tmp_path)
    assert out == end_marker()
    assert result.entries == 0


def test_signed_checksums_of_old_writers_are_accepted(tmp_path: Path) -> None:
    name = "é".encode()  # bytes over 0x7f: the signed sum differs
    header = raw_header(name)
    signed = sum(b - 256 if b > 127 else b for b in header[:148] + b" " * 8 + header[156:])
    header = header[:148] + b"%06o\x00 " % signed + header[156:]
    assert members(run(header + end_marker(), tmp_path)[0])[0].name == "é"


def test_gzip_bombs_hit_the_ratio_limit(tmp_path: Path) -> None:
    bomb = gzip.compress(raw_header(b"zeros", size=8 << 20) + bytes(8 << 20) + end_marker())
    limits = Limits(ratio_grace_bytes=1 << 20, max_ratio=100)
    rejects(bomb, tmp_path, "more than 100 times its compressed size", limits)
    rejects(bomb, tmp_path, "expands to more than", Limits(max_layer_bytes=4 << 20))


def test_entry_count_and_name_length_limits(tmp_path: Path) -> None:
    many = raw_tar([raw_member(b"f%d" % i) for i in range(20)])
    rejects(many, tmp_path, "more than 10 tar headers", Limits(max_entries=10))
    long_name = raw_tar([pax_member({b"path": b"a" * 5000}), raw_member(b"x")])
    rejects(long_name, tmp_path, "longer than 4096 bytes")


@st.composite
def hostile_headers(draw: st.DrawFn) -> bytes:
    names = st.sampled_from([b"a", b"a/b", b"../x", b"/abs", b"", b".", b"a/./b", b"\xff", b"d/", b"x" * 99])
    chunks = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from([b"0", b"1", b"2", b"3", b"5", b"6", b"x", b"L", b"g", b"\x00", b"Q"]))
        data = draw(st.binary(max_size=40)) if kind in (b"0", b"x", b"L", b"g") else b""
        if kind in (b"x", b"g") and draw(st.booleans()):
            data = b"%d path=%s\n" % (len(draw(names)) + 8, draw(names))
        header = raw_member(draw(names), data, kind, linkname=draw(names))
        if draw(st.booleans()):
            position = draw(st.integers(0, len(header) - 1))
            header = header[:position] + bytes([draw(st.integers(0, 255))]) + header[position + 1 :]
        chunks.append(header)
    tail = draw(st.sampled_from([end_marker(), b"", bytes(512), b"junk"]))
    return b"".join(chunks) + tail


def check_clean_or_refused(data: bytes, tmp_path: Path) -> None:
    try:
        out, _ = run(data, tmp_path, limits=Limits(max_layer_bytes=1 << 20))
    except ImageError as exc:
        message = str(exc)
    else:
        message = ""
    if message:
        assert message.startswith("layer")
        return
    for member in members(out):
        assert not member.name.startswith("/")
        assert ".." not in member.name.split("/")
        assert member.mtime <= EPOCH
    assert run(out, tmp_path)[0] == out  # whatever it accepted, its output is canonical


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=hostile_headers())
def test_random_headers_give_a_clean_result_or_an_image_error(data: bytes, tmp_path: Path) -> None:
    check_clean_or_refused(data, tmp_path)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3000), compress=st.booleans())
def test_random_bytes_give_a_clean_result_or_an_image_error(
    data: bytes, compress: bool, tmp_path: Path
) -> None:
    check_clean_or_refused(gzip.compress(data) if compress else data, tmp_path)
