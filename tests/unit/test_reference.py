"""Known answers for image references, from the distribution/reference grammar and tests.

Expected results are those of Docker's ``ParseNormalizedNamed`` (what ``docker pull``
uses), which differs from the bare ``Parse`` of the grammar in one respect that matters
here: the default domain ``docker.io`` (and ``library/``) is added *before* the grammar
and the 255-character limit are applied.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from repro.digest import Digest
from repro.errors import ReferenceFormatError
from repro.reference import ImageRef, parse_reference

F64 = "f" * 64
SHA256_F = f"sha256:{F64}"
SHA512_F = f"sha512:{'f' * 128}"
ECC = "ecc" + "f" * 61  # 64 hex digits, as in the upstream tests


class Valid(NamedTuple):
    text: str
    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None


VALID = [
    # One component: never a domain, even with '.' or ':' in it, because a domain needs
    # a '/' after it. So "test.com:5000" is the official image "test.com" at tag "5000".
    Valid("test_com", "docker.io", "library/test_com"),
    Valid("test.com:tag", "docker.io", "library/test.com", "tag"),
    Valid("test.com:5000", "docker.io", "library/test.com", "5000"),
    Valid("foo_bar.com:8080", "docker.io", "library/foo_bar.com", "8080"),
    Valid("localhost", "docker.io", "library/localhost"),
    Valid("localhost:5000", "docker.io", "library/localhost", "5000"),
    Valid("ubuntu", "docker.io", "library/ubuntu"),
    Valid("lowercase:Uppercase", "docker.io", "library/lowercase", "Uppercase"),  # tags may be upper case
    # A first component with '.' or ':', or exactly "localhost", is a domain.
    Valid("test.com/repo:tag", "test.com", "repo", "tag"),
    Valid("test:5000/repo", "test:5000", "repo"),
    Valid("test:5000/repo:tag", "test:5000", "repo", "tag"),
    Valid(f"test:5000/repo@{SHA256_F}", "test:5000", "repo", None, SHA256_F),
    Valid(f"test:5000/repo:tag@{SHA256_F}", "test:5000", "repo", "tag", SHA256_F),
    Valid("localhost/repo", "localhost", "repo"),
    Valid("localhost:5000/repo", "localhost:5000", "repo"),
    Valid("127.0.0.1:5000/docker/docker", "127.0.0.1:5000", "docker/docker"),
    Valid("192.168.1.1/repo", "192.168.1.1", "repo"),
    Valid("[fc00::1]:5000/repo", "[fc00::1]:5000", "repo"),
    Valid("[2001:db8::1]/repo:tag", "[2001:db8::1]", "repo", "tag"),
    Valid("sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", "bar/baz/quux"),
    Valid("sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux", "some-long-tag"),
    Valid(
        "b.gcr.io/test.example.com/my-app:test.example.com",
        "b.gcr.io",
        "test.example.com/my-app",
        "test.example.com",
    ),
    # Punycode domains (the upstream tests use ☃.com and 🐳.com spelled this way).
    Valid("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", "xn--n3h.com"),
    Valid(
        f"xn--7o8h.com/myimage:xn--7o8h.com@{SHA512_F}", "xn--7o8h.com", "myimage", "xn--7o8h.com", SHA512_F
    ),
    Valid("ghcr.io/owner/app:1.0", "ghcr.io", "owner/app", "1.0"),
    # Tricky: the first component is upper case, so Docker takes it for a domain (the
    # domain grammar allows upper case) rather than failing the lower-case rule; the
    # upstream tests keep this as a known quirk.
    Valid("Uppercase/lowercase:tag", "Uppercase", "lowercase", "tag"),
    # Tricky: "Docker.io" is not the string "docker.io", so it is not the Hub and gets
    # no "library/".
    Valid("Docker.io/ubuntu", "Docker.io", "ubuntu"),
    # No '.' or ':' and not "localhost": a path component, so the name is on Docker Hub.
    Valid("a/b/c/d:tag", "docker.io", "a/b/c/d", "tag"),
    Valid("foo/foo_bar.com:8080", "docker.io", "foo/foo_bar.com", "8080"),
    Valid("user/repo", "docker.io", "user/repo"),
    Valid("library/debian", "docker.io", "library/debian"),
    # Docker Hub spellings all normalise to docker.io/library/NAME.
    Valid("docker.io/ubuntu", "docker.io", "library/ubuntu"),
    Valid("docker.io/library/ubuntu:latest", "docker.io", "library/ubuntu", "latest"),
    Valid("index.docker.io/library/ubuntu", "docker.io", "library/ubuntu"),
    Valid("index.docker.io/ubuntu", "docker.io", "library/ubuntu"),
    Valid("docker.io/user/repo", "docker.io", "user/repo"),
    Valid(f"repo@{SHA256_F}", "docker.io", "library/repo", None, SHA256_F),
    # Separators: '.', '_', '__' and any run of '-'.
    Valid("a/b.c_d__e-f---g:T_a.g-", "docker.io", "a/b.c_d__e-f---g", "T_a.g-"),
    # 64 characters that are not all hex are an ordinary name; 64 hex with a tag too.
    Valid(
        "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
        "docker.io",
        "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    ),
    Valid(f"{F64}:tag", "docker.io", f"library/{F64}", "tag"),
    # Limits: a 128-character tag; a 255-character normalised name.
    Valid("repo:" + "t" * 128, "docker.io", "library/repo", "t" * 128),
    Valid("a" * 237, "docker.io", "library/" + "a" * 237),
    Valid("test.com/" + "a" * 246, "test.com", "a" * 246),
]


INVALID = [
    ("", "invalid reference format"),
    (":justtag", "invalid reference format"),
    (f"@{SHA256_F}", "invalid reference format"),
    ("repo:", "invalid reference format"),
    ("repo@", "invalid reference format"),
    ("repo:tag:tag", "invalid reference format"),
    ("repo:" + "t" * 129, "invalid reference format"),
    ("repo:-tag", "invalid reference format"),
    ("aa/asdf$$^/aa", "invalid reference format"),
    ("-foo", "invalid reference format"),
    ("foo-", "invalid reference format"),
    ("foo..bar", "invalid reference format"),
    ("foo___bar", "invalid reference format"),
    ("a//b", "invalid reference format"),
    ("/repo", "invalid reference format"),
    ("repo/", "invalid reference format"),
    ("ubuntu ", "invalid reference format"),
    ("ubuntu\n", "invalid reference format"),
    ("http://test.com/repo", "invalid reference format"),
    ("test.com:abc/repo", "invalid reference format"),
    ("-test.com/repo", "invalid reference format"),
    ("[fc00::1/repo", "invalid reference format"),
    (f"repo@{SHA256_F}@{SHA256_F}", "invalid reference format"),
    # Too few hex digits for the grammar (it asks for at least 32).
    ("repo@sha256:ffffffff", "invalid reference format"),
    # Tricky: Docker's grammar would read "foo_bar.com/repo" as a two-component path with
    # no domain at all ('_' is not allowed in a host name), a name no registry can serve.
    # It is refused instead.
    ("foo_bar.com/repo", "is not a valid registry host"),
    ("foo_bar.com:8080/repo", "invalid reference format"),
    # The path must be lower case; the check covers everything before the first ':'.
    ("Uppercase:tag", "repository name must be lowercase"),
    ("test:5000/Uppercase/lowercase:tag", "repository name must be lowercase"),
    ("docker.io/Foo", "repository name must be lowercase"),
    ("[fc00::1]/Repo", "repository name must be lowercase"),
    (f"Repo@{SHA256_F}", "repository name must be lowercase"),
    # The grammar accepts these digests; the digest check then refuses them.
    (f"validname@invaliddigest:{ECC}", "unsupported digest algorithm"),
    (f"repo@sha256:{'f' * 32}", "invalid checksum digest length"),
    (f"repo@sha256:{F64.upper()}", "invalid checksum digest format"),
    # Tricky: Docker's case check reads up to the first ':', which here is inside the
    # digest, so an upper-case algorithm is reported as an upper-case repository name.
    (f"repo@SHA256:{F64}", "repository name must be lowercase"),
    # Lengths count the normalised name: "docker.io/library/" + 238 is 256.
    ("a" * 238, "must not be more than 255 characters"),
    ("test.com/" + "a" * 247, "must not be more than 255 characters"),
    # Upstream's 255-character "a/a/…/a" is fine for the bare grammar, but normalised
    # it gains "docker.io/" and is too long.
    ("a/" * 127 + "a:tag-puts-this-over-max", "must not be more than 255 characters"),
    ("a/" * 128 + "a:tag", "must not be more than 255 characters"),
    # A bare 64-hex string looks like an image ID, so Docker refuses it as a name.
    (F64, "cannot specify 64-byte hexadecimal strings"),
    ("x" * 2000, "too long"),
]


@pytest.mark.parametrize("case", VALID, ids=lambda c: c.text[:60])
def test_valid_references(case: Valid) -> None:
    ref = parse_reference(case.text)
    assert ref.text == case.text
    assert (ref.domain, ref.path, ref.tag) == (case.domain, case.path, case.tag)
    assert ref.digest == (Digest.parse(case.digest) if case.digest else None)
    assert ref.name == f"{case.domain}/{case.path}"
    # The canonical string parses back to the same reference.
    again = parse_reference(str(ref))
    assert (again.name, again.tag, again.digest) == (ref.name, ref.tag, ref.digest)


@pytest.mark.parametrize(("text", "message"), INVALID, ids=[t[:60] for t, _ in INVALID])
def test_invalid_references(text: str, message: str) -> None:
    with pytest.raises(ReferenceFormatError, match=message) as info:
        parse_reference(text)
    if len(text) < 100:
        assert repr(text) in str(info.value)


def test_vector_tables_are_large_enough() -> None:
    assert len(VALID) + len(INVALID) >= 40


@pytest.mark.parametrize(
    ("text", "written", "pinned"),
    [
        ("debian", "debian", f"debian@{SHA256_F}"),
        ("debian:bookworm", "debian", f"debian:bookworm@{SHA256_F}"),
        ("library/debian:12", "library/debian", f"library/debian:12@{SHA256_F}"),
        ("docker.io/debian", "docker.io/debian", f"docker.io/debian@{SHA256_F}"),
        (
            f"index.docker.io/library/debian:12@sha512:{'0' * 128}",
            "index.docker.io/library/debian",
            f"index.docker.io/library/debian:12@{SHA256_F}",
        ),
        ("localhost:5000/app:v1", "localhost:5000/app", f"localhost:5000/app:v1@{SHA256_F}"),
        ("[fc00::1]:5000/app", "[fc00::1]:5000/app", f"[fc00::1]:5000/app@{SHA256_F}"),
        ("Uppercase/lowercase:Tag", "Uppercase/lowercase", f"Uppercase/lowercase:Tag@{SHA256_F}"),
    ],
)
def test_with_digest_keeps_the_users_spelling(text: str, written: str, pinned: str) -> None:
    ref = parse_reference(text)
    assert ref.written_name == written
    assert ref.with_digest(Digest.parse(SHA256_F)) == pinned
    again = parse_reference(pinned)
    assert (again.name, again.tag, again.written_name) == (ref.name, ref.tag, written)
    assert again.digest == Digest.parse(SHA256_F)


@pytest.mark.parametrize(
    ("text", "familiar"),
    [
        ("docker.io/library/ubuntu:latest", "ubuntu:latest"),
        ("index.docker.io/ubuntu", "ubuntu"),
        ("docker.io/user/repo", "user/repo"),
        ("library/a/b", "library/a/b"),  # only a lone "library/NAME" is shortened
        ("localhost/repo", "localhost/repo"),
        (f"ghcr.io/o/app:1@{SHA256_F}", f"ghcr.io/o/app:1@{SHA256_F}"),
        (f"debian@{SHA256_F}", f"debian@{SHA256_F}"),
    ],
)
def test_familiar(text: str, familiar: str) -> None:
    assert parse_reference(text).familiar == familiar


def test_str_is_canonical() -> None:
    assert str(parse_reference("debian")) == "docker.io/library/debian"
    assert str(parse_reference(f"debian:12@{SHA256_F}")) == f"docker.io/library/debian:12@{SHA256_F}"


def test_registry_reference_and_default_tag() -> None:
    bare = parse_reference("debian")
    assert (bare.tag, bare.effective_tag, bare.reference, bare.is_pinned) == (None, "latest", "latest", False)
    tagged = parse_reference("debian:12")
    assert (tagged.effective_tag, tagged.reference) == ("12", "12")
    both = parse_reference(f"debian:12@{SHA256_F}")
    assert (both.effective_tag, both.reference, both.is_pinned) == ("12", SHA256_F, True)
    digest_only = parse_reference(f"debian@{SHA256_F}")
    assert (digest_only.tag, digest_only.reference) == (None, SHA256_F)


def test_with_tag_and_without_digest() -> None:
    ref = parse_reference(f"docker.io/debian:12@{SHA256_F}")
    retagged = ref.with_tag("bookworm")
    assert retagged == parse_reference(f"docker.io/debian:bookworm@{SHA256_F}")
    bare = ref.without_digest()
    assert bare == parse_reference("docker.io/debian:12")
    assert bare.without_digest() == bare
    assert parse_reference("debian").with_tag("12").text == "debian:12"
    with pytest.raises(ReferenceFormatError, match="invalid tag format"):
        ref.with_tag("-bad")


def test_refs_are_frozen_values() -> None:
    ref = parse_reference("debian")
    assert isinstance(ref, ImageRef)
    assert {ref, parse_reference("debian")} == {ref}
    with pytest.raises(AttributeError):
        ref.tag = "x"  # type: ignore[misc]


# ---- property: any name the grammar allows survives pinning -------------------------

_ALNUM = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
_SEPARATOR = st.sampled_from([".", "_", "__", "-", "--", "---"])


@st.composite
def _path_component(draw: st.DrawFn) -> str:
    parts = [draw(_ALNUM)]
    for _ in range(draw(st.integers(0, 2))):
        parts += [draw(_SEPARATOR), draw(_ALNUM)]
    return "".join(parts)


_DOMAIN_COMPONENT = st.from_regex(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?", fullmatch=True)
_PORT = st.integers(1, 65535).map(lambda port: f":{port}")


@st.composite
def _domain(draw: st.DrawFn) -> str | None:
    kind = draw(st.sampled_from(["none", "hub", "legacy-hub", "localhost", "dotted", "ipv6"]))
    if kind == "none":
        return None
    if kind == "hub":
        return "docker.io"
    if kind == "legacy-hub":
        return "index.docker.io"
    if kind == "localhost":
        host = "localhost"
    elif kind == "dotted":
        host = ".".join(draw(st.lists(_DOMAIN_COMPONENT, min_size=2, max_size=4)))
    else:
        # At least one ':' so that it is taken for a domain (as any real IPv6 address is).
        host = "[" + draw(st.from_regex(r"[a-fA-F0-9]{0,4}:[a-fA-F0-9:]{0,10}", fullmatch=True)) + "]"
    return host + draw(st.one_of(st.just(""), _PORT))


_TAG = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_DIGEST = st.builds(Digest.of, st.binary(max_size=8), st.sampled_from(["sha256", "sha512"]))


@given(
    domain=_domain(),
    components=st.lists(_path_component(), min_size=1, max_size=3),
    tag=st.none() | _TAG,
    old_digest=st.none() | _DIGEST,
    new_digest=_DIGEST,
)
def test_pinning_round_trips(
    domain: str | None, components: list[str], tag: str | None, old_digest: Digest | None, new_digest: Digest
) -> None:
    path = "/".join(components)
    written = f"{domain}/{path}" if domain else path
    text = written + (f":{tag}" if tag else "") + (f"@{old_digest}" if old_digest else "")
    if domain in (None, "docker.io", "index.docker.io"):
        # On Docker Hub a first component that looks like a domain ("a.b", "localhost")
        # would be read as one once the Hub prefix is dropped (in the familiar form, or
        # when no domain was written); Hub namespaces never look like that.
        assume("." not in components[0] and components[0] != "localhost")
    # A lone 64-hex string is refused on purpose (it looks like an image ID).
    assume(not (len(text) == 64 and all(c in "0123456789abcdef" for c in text)))

    ref = parse_reference(text)
    hub = domain in (None, "docker.io", "index.docker.io")
    assert ref.domain == ("docker.io" if hub else domain)
    assert ref.path == (f"library/{path}" if hub and len(components) == 1 else path)
    assert ref.written_name == written
    assert (ref.tag, ref.digest) == (tag or None, old_digest)

    pinned = parse_reference(ref.with_digest(new_digest))
    assert (pinned.name, pinned.tag, pinned.digest) == (ref.name, ref.tag, new_digest)
    assert pinned.written_name == written
    assert pinned.without_digest().text == written + (f":{tag}" if tag else "")

    for other in (str(ref), ref.familiar):
        again = parse_reference(other)
        assert (again.name, again.tag, again.digest) == (ref.name, ref.tag, ref.digest)
