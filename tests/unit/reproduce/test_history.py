"""Mapping layers to Dockerfile instructions from the history that buildah and BuildKit write."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from repro.dockerfile import parse
from repro.errors import UsageError
from repro.oci.layout import HistoryEntry
from repro.reproduce.history import CreatedBy, HistoryMap, map_image, map_layers, parse_created_by
from tests.unit.reproduce.test_diff import BASE, Entry, build_image, make_tar


def entries(*specs: str | tuple[str, bool]) -> list[HistoryEntry]:
    """History entries; a (text, True) pair is an empty_layer entry."""
    out = []
    for spec in specs:
        text, empty = spec if isinstance(spec, tuple) else (spec, False)
        out.append(HistoryEntry(created_by=text, empty_layer=empty))
    return out


def described(mapping: HistoryMap) -> list[str]:
    return [origin.describe() for origin in mapping.origins]


def layer_count(history: Sequence[HistoryEntry]) -> int:
    return sum(1 for entry in history if not entry.empty_layer)


# Debian's base image as the classic builder wrote it.
DEBIAN_BASE = (
    "/bin/sh -c #(nop) ADD file:6f0b8a2c8e1d in / ",
    ('/bin/sh -c #(nop)  CMD ["bash"]', True),
)


@pytest.mark.parametrize(
    ("created_by", "keyword", "text"),
    [
        # buildah / classic builder
        ("/bin/sh -c apt-get update", "RUN", "/bin/sh -c apt-get update"),
        ("|1 VERSION=1.2 /bin/sh -c make", "RUN", "|1 VERSION=1.2 /bin/sh -c make"),
        ("/bin/sh -c #(nop) COPY file:ab12 in /app ", "COPY", "file:ab12 in /app"),
        ("/bin/sh -c #(nop) ADD dir:cd34 in /srv ", "ADD", "dir:cd34 in /srv"),
        ("/bin/sh -c #(nop) ENV A=1", "ENV", "A=1"),
        ('/bin/sh -c #(nop)  CMD ["bash"]', "CMD", '["bash"]'),
        ("/bin/sh -c #(nop) ARG VERSION", "ARG", "VERSION"),
        # BuildKit
        ("RUN /bin/sh -c apt-get update # buildkit", "RUN", "/bin/sh -c apt-get update"),
        ("RUN |1 V=2 /bin/sh -c make # buildkit", "RUN", "|1 V=2 /bin/sh -c make"),
        ("COPY --from=build /out/app /app # buildkit", "COPY", "--from=build /out/app /app"),
        ("ENV A=1", "ENV", "A=1"),
        ("WORKDIR /app", "WORKDIR", "/app"),
        # neither says which instruction
        ("/bin/sh", None, "/bin/sh"),
        ("", None, ""),
        ("Imported from -", None, "Imported from -"),
        ("mmdebstrap bookworm", None, "mmdebstrap bookworm"),
    ],
)
def test_parse_created_by(created_by: str, keyword: str | None, text: str) -> None:
    assert parse_created_by(created_by) == CreatedBy(keyword, text)


SINGLE = parse(
    b"""\
FROM debian:12
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && \\
    apt-get install -y curl
COPY app.sh /usr/local/bin/
CMD ["app.sh"]
"""
)


def test_single_stage_buildah_history() -> None:
    history = entries(
        *DEBIAN_BASE,
        ("/bin/sh -c #(nop) ENV DEBIAN_FRONTEND=noninteractive", True),
        "/bin/sh -c apt-get update &&     apt-get install -y curl",
        "/bin/sh -c #(nop) COPY file:9a8b7c in /usr/local/bin/ ",
        ('/bin/sh -c #(nop) CMD ["app.sh"]', True),
    )
    mapping = map_layers(history, 3, SINGLE)
    assert mapping.mapped, mapping.reason
    assert described(mapping) == [
        "the base image (FROM debian:12 at Dockerfile:1)",
        "RUN at Dockerfile:3",
        "COPY at Dockerfile:5",
    ]
    assert [o.source for o in mapping.origins] == ["base", "instruction", "instruction"]
    assert mapping.origins[1].location == "Dockerfile:3"
    assert mapping.origins[1].keyword == "RUN"
    assert mapping.origins[0].keyword is None


def test_single_stage_buildkit_history() -> None:
    history = entries(
        *DEBIAN_BASE,
        ("ENV DEBIAN_FRONTEND=noninteractive", True),
        "RUN /bin/sh -c apt-get update &&     apt-get install -y curl # buildkit",
        "COPY app.sh /usr/local/bin/ # buildkit",
        ('CMD ["app.sh"]', True),
    )
    assert described(map_layers(history, 3, SINGLE))[1:] == ["RUN at Dockerfile:3", "COPY at Dockerfile:5"]


def test_engines_that_record_fewer_or_more_empty_entries() -> None:
    # No entries for ENV and CMD, and an extra empty entry the Dockerfile does not have.
    history = entries(
        *DEBIAN_BASE,
        ("/bin/sh -c #(nop) LABEL io.buildah.version=1.28.0", True),
        "/bin/sh -c apt-get update &&     apt-get install -y curl",
        "/bin/sh -c #(nop) COPY file:9a8b7c in /usr/local/bin/ ",
    )
    assert described(map_layers(history, 3, SINGLE))[1:] == ["RUN at Dockerfile:3", "COPY at Dockerfile:5"]


def test_empty_run_layer_from_buildkit() -> None:
    # BuildKit marks a RUN that changed nothing as empty_layer; it still pairs with its line.
    df = parse(b"FROM scratch\nCOPY a /a\nRUN true\nCOPY b /b\n")
    history = entries(
        "COPY a /a # buildkit", ("RUN /bin/sh -c true # buildkit", True), "COPY b /b # buildkit"
    )
    assert described(map_layers(history, 2, df)) == ["COPY at Dockerfile:2", "COPY at Dockerfile:4"]


MULTI = parse(
    b"""\
FROM golang:1.22 AS build
WORKDIR /src
COPY . .
RUN go build -o /out/app .

FROM scratch
COPY --from=build /out/app /app
ENTRYPOINT ["/app"]
"""
)


def test_multi_stage_from_scratch_with_copy_from() -> None:
    history = entries(
        "/bin/sh -c #(nop) COPY file:1234abcd in /app ",
        ('/bin/sh -c #(nop) ENTRYPOINT ["/app"]', True),
    )
    mapping = map_layers(history, 1, MULTI)
    assert described(mapping) == ["COPY at Dockerfile:7"]
    assert mapping.origins[0].stage == 1


def test_target_stage_with_its_base_image() -> None:
    history = entries(
        "/bin/sh -c #(nop) ADD file:go-base in / ",
        ("/bin/sh -c #(nop) WORKDIR /src", True),
        "/bin/sh -c #(nop) COPY dir:5678 in . ",
        "/bin/sh -c go build -o /out/app .",
    )
    mapping = map_layers(history, 3, MULTI, target="build")
    assert described(mapping) == [
        "the base image (FROM golang:1.22 at Dockerfile:1)",
        "COPY at Dockerfile:3",
        "RUN at Dockerfile:4",
    ]
    assert described(map_layers(history, 3, MULTI, target="0")) == described(mapping)
    with pytest.raises(UsageError, match="no stage 'nope'"):
        map_layers(history, 3, MULTI, target="nope")


def test_from_another_stage_inherits_its_instructions() -> None:
    df = parse(
        b"""\
FROM debian:12 AS base
RUN apt-get update
FROM base
ARG VERSION=1
RUN echo $VERSION > /version
COPY app /app
"""
    )
    history = entries(
        *DEBIAN_BASE,
        "/bin/sh -c apt-get update",
        ("/bin/sh -c #(nop) ARG VERSION=1", True),
        "|1 VERSION=1 /bin/sh -c echo $VERSION > /version",
        "/bin/sh -c #(nop) COPY file:77 in /app ",
    )
    mapping = map_layers(history, 4, df)
    assert described(mapping) == [
        "the base image (FROM debian:12 at Dockerfile:1)",
        "RUN at Dockerfile:2",
        "RUN at Dockerfile:5",
        "COPY at Dockerfile:6",
    ]
    assert [o.stage for o in mapping.origins] == [0, 0, 1, 1]


def test_several_base_layers_come_first() -> None:
    df = parse(b"FROM python:3.12\nRUN pip install flask\n")
    history = entries(
        "/bin/sh -c #(nop) ADD file:1 in / ",
        "/bin/sh -c apt-get update && apt-get install -y ca-certificates",
        ("/bin/sh -c #(nop) ENV PYTHON_VERSION=3.12.1", True),
        "RUN /bin/sh -c set -eux; ./configure # buildkit",
        ('CMD ["python3"]', True),
        "/bin/sh -c pip install flask",
    )
    mapping = map_layers(history, 4, df)
    assert [o.source for o in mapping.origins] == ["base", "base", "base", "instruction"]
    assert mapping.origins[3].describe() == "RUN at Dockerfile:2"


def test_exec_form_and_heredoc_runs() -> None:
    df = parse(b'FROM scratch\nRUN ["/bin/busybox", "--install"]\nRUN <<EOF\necho hi > /hi\nEOF\n')
    buildah = entries('/bin/sh -c ["/bin/busybox", "--install"]', "/bin/sh -c <<EOF\necho hi > /hi\nEOF")
    assert described(map_layers(buildah, 2, df)) == ["RUN at Dockerfile:2", "RUN at Dockerfile:3"]
    buildkit = entries(
        "RUN /bin/busybox --install # buildkit", "RUN /bin/sh -c <<EOF\necho hi > /hi\nEOF # buildkit"
    )
    assert described(map_layers(buildkit, 2, df)) == ["RUN at Dockerfile:2", "RUN at Dockerfile:3"]


# --- falling back: never a wrong line ----------------------------------------------------


def assert_no_lines(mapping: HistoryMap) -> None:
    assert not mapping.mapped
    assert mapping.reason
    assert all(o.source == "unknown" and o.instruction is None for o in mapping.origins)
    assert all(o.location is None for o in mapping.origins)


def test_fewer_history_entries_than_layers() -> None:
    history = entries("/bin/sh -c apt-get update &&     apt-get install -y curl")
    mapping = map_layers(history, 3, SINGLE)
    assert_no_lines(mapping)
    assert "1 layer entries for 3 layers" in mapping.reason
    assert described(mapping) == ["layer 0 (no history)", "layer 1 (no history)", "layer 2 (no history)"]


def test_text_that_does_not_match_is_not_paired() -> None:
    df = parse(b"FROM scratch\nCOPY app /app\nRUN true\n")
    # a RUN whose command only ends like the instruction's is a different command
    mapping = map_layers(entries("/bin/sh -c #(nop) COPY file:1 in /app ", "/bin/sh -c make true"), 2, df)
    assert_no_lines(mapping)
    assert described(mapping)[1] == "layer 1 (/bin/sh -c make true)"
    # the right command in the wrong place
    swapped = entries("/bin/sh -c true", "/bin/sh -c #(nop) COPY file:1 in /app ")
    assert_no_lines(map_layers(swapped, 2, df))
    # a COPY to another destination
    other = entries("/bin/sh -c #(nop) COPY file:1 in /elsewhere ", "/bin/sh -c true")
    assert_no_lines(map_layers(other, 2, df))


def test_squashed_stage_is_not_attributed_to_its_last_instruction() -> None:
    # buildah without --layers: one layer for the whole stage, named after the last step.
    history = entries(*DEBIAN_BASE, "/bin/sh -c #(nop) COPY file:9a8b7c in /usr/local/bin/ ")
    assert_no_lines(map_layers(history, 2, SINGLE))


def test_from_scratch_with_more_layers_than_instructions() -> None:
    df = parse(b"FROM scratch\nCOPY app /app\n")
    history = entries("/bin/sh -c #(nop) ADD file:1 in / ", "/bin/sh -c #(nop) COPY file:2 in /app ")
    mapping = map_layers(history, 2, df)
    assert_no_lines(mapping)
    assert "FROM scratch" in mapping.reason


def test_without_a_dockerfile_layers_keep_created_by() -> None:
    history = entries(*DEBIAN_BASE, "/bin/sh -c apt-get update")
    mapping = map_layers(history, 2, None)
    assert not mapping.mapped
    assert [o.created_by for o in mapping.origins] == [DEBIAN_BASE[0], "/bin/sh -c apt-get update"]
    assert mapping.origin(5) is None


def test_map_image_reads_the_history_of_a_layout(tmp_path: Path) -> None:
    df = parse(b"FROM busybox\nRUN touch /x\n")
    image = build_image(
        tmp_path / "img",
        [BASE, make_tar([Entry("x")])],
        [{"created_by": "/bin/sh -c #(nop) ADD file:1 in / "}, {"created_by": "/bin/sh -c touch /x"}],
    ).image
    mapping = map_image(image, df)
    assert described(mapping) == ["the base image (FROM busybox at Dockerfile:1)", "RUN at Dockerfile:2"]
    assert mapping.origins[1].to_json() == {
        "layer": 1,
        "source": "instruction",
        "created_by": "/bin/sh -c touch /x",
        "instruction": "RUN",
        "location": "Dockerfile:2",
        "text": "RUN touch /x",
        "stage": 0,
    }
