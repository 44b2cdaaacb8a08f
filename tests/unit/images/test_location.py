"""The one parser of image locations: references, oci:, oci-archive:, docker-archive:."""

from __future__ import annotations

from pathlib import Path

import pytest

from repro.errors import ReferenceFormatError, UsageError
from repro.images.location import (
    ArchiveLocation,
    LayoutLocation,
    RegistryLocation,
    is_local,
    parse_layout_location,
    parse_location,
)
from repro.images.store import open_store


@pytest.mark.parametrize(
    ("text", "directory", "tag"),
    [
        ("oci:out:v1", Path("out"), "v1"),
        ("oci:out", Path("out"), None),
        ("oci:out:", Path("out"), None),
        ("oci:/tmp/a/b:latest", Path("/tmp/a/b"), "latest"),
        ("oci:/tmp/a:b/c", Path("/tmp/a:b/c"), None),  # what follows the last ':' is a path
        ("oci:dir.with:colon:v2", Path("dir.with:colon"), "v2"),
    ],
)
def test_layouts(text: str, directory: Path, tag: str | None) -> None:
    location = parse_location(text)
    assert location == LayoutLocation(text, directory, tag)
    assert parse_layout_location(text) == location
    assert is_local(text)


def test_display_and_with_tag() -> None:
    location = parse_location("oci:out")
    assert isinstance(location, LayoutLocation)
    assert location.display == "oci:out"
    assert location.with_tag("v1").display == "oci:out:v1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("oci-archive:app.tar", ArchiveLocation("oci-archive:app.tar", "oci-archive", Path("app.tar"))),
        (
            "oci-archive:/x/app.tar:v1",
            ArchiveLocation("oci-archive:/x/app.tar:v1", "oci-archive", Path("/x/app.tar"), "v1"),
        ),
        (
            "docker-archive:app.tar",
            ArchiveLocation("docker-archive:app.tar", "docker-archive", Path("app.tar")),
        ),
        (
            "docker-archive:app.tar:registry.example/app:1.0",
            ArchiveLocation(
                "docker-archive:app.tar:registry.example/app:1.0",
                "docker-archive",
                Path("app.tar"),
                "registry.example/app:1.0",
            ),
        ),
    ],
)
def test_archives(text: str, expected: ArchiveLocation) -> None:
    assert parse_location(text) == expected
    assert is_local(text)


def test_registry_references() -> None:
    location = parse_location("registry.example/app:1.0")
    assert isinstance(location, RegistryLocation)
    assert (location.ref.domain, location.ref.path, location.ref.tag) == ("registry.example", "app", "1.0")
    assert location.display == "registry.example/app:1.0"
    assert not is_local("registry.example/app:1.0")


@pytest.mark.parametrize("text", ["oci:", "oci-archive:", "docker-archive:", "docker-archive::app:1"])
def test_a_form_without_its_path_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match=r"no (directory|file)"):
        parse_location(text, what="-o")


def test_malformed_names_are_refused_where_they_are_written() -> None:
    with pytest.raises(ReferenceFormatError):
        parse_location("Not A Reference")
    with pytest.raises(ReferenceFormatError):
        parse_location("docker-archive:app.tar:UPPER:case")


def test_layout_only_arguments_say_what_would_work() -> None:
    with pytest.raises(UsageError, match=r"-o out/dir: give an OCI layout, oci:DIR\[:TAG\]"):
        parse_layout_location("out/dir", what="-o")
    with pytest.raises(UsageError, match="-o takes no docker-archive") as caught:
        parse_layout_location("docker-archive:app.tar", what="-o")
    assert caught.value.hint is not None
    assert "repro push docker-archive:app.tar oci:DIR:TAG" in caught.value.hint


def test_an_archive_store_is_read_only() -> None:
    with pytest.raises(UsageError, match="an archive cannot be written here"):
        open_store(parse_location("oci-archive:app.tar"), create=True)


def test_a_registry_store_needs_a_client() -> None:
    with pytest.raises(UsageError, match="registry client"):
        open_store(parse_location("registry.example/app:1.0"))
