"""What BuildKit or buildah build, pin pins: ARG-assembled images, --from=$VAR, lenient forms."""

from __future__ import annotations

from pathlib import Path

import pytest

from repro.errors import EXIT_OK, EXIT_PARTIAL
from repro.pin import pin_paths
from tests.unit.pin.helpers import TableResolver, default_table, fake_digest, manifest

EXTRA = [
    "docker.io/library/rust:1.60.0-bullseye",
    "docker.io/library/nginx:1.20",
    "docker.io/library/ubuntu:xenial",
    "docker.io/library/docker:29-dind",
]


def _resolver() -> TableResolver:
    table = default_table()
    table.update({name: manifest(name) for name in EXTRA})
    return TableResolver(table)


def d(name: str) -> str:
    return str(fake_digest(f"docker.io/library/{name}"))


# (Dockerfile, pinned Dockerfile, notes expected)
CASES = {
    "arg-variant": (
        'ARG VARIANT="1.60.0-bullseye"\nFROM rust:${VARIANT}\n',
        f'ARG VARIANT="1.60.0-bullseye@{d("rust:1.60.0-bullseye")}"\nFROM rust:${{VARIANT}}\n',
    ),
    "arg-empty-patch": (
        'ARG patch=""\nFROM nginx:1.20${patch}\n',
        f'ARG patch="@{d("nginx:1.20")}"\nFROM nginx:1.20${{patch}}\n',
    ),
    "arg-self-default": (
        "ARG IMAGE=${IMAGE:-ubuntu:xenial}\nFROM ${IMAGE}\n",
        f"ARG IMAGE=${{IMAGE:-ubuntu:xenial@{d('ubuntu:xenial')}}}\nFROM ${{IMAGE}}\n",
    ),
    "arg-in-name": (
        "ARG REG=docker\nFROM ${REG}.io/library/${REG}:29-dind\n",
        f"ARG REG=docker\nFROM ${{REG}}.io/library/${{REG}}:29-dind@{d('docker:29-dind')}\n",
    ),
    "arg-redefined-in-a-stage": (
        "ARG BASE=debian:bookworm\nFROM ${BASE} AS a\nARG BASE=alpine:3.20\nFROM ${BASE}\n",
        f"ARG BASE=debian:bookworm@{d('debian:bookworm')}\nFROM ${{BASE}} AS a\nARG BASE=alpine:3.20\nFROM ${{BASE}}\n",
    ),
    "copy-from-var-image": (
        "ARG IMG=busybox:1.36\nFROM scratch\nCOPY --from=$IMG /a /a\n",
        f"ARG IMG=busybox:1.36@{d('busybox:1.36')}\nFROM scratch\nCOPY --from=$IMG /a /a\n",
    ),
    "copy-from-var-stage": (
        "ARG STAGE=b\nFROM busybox:1.36 AS b\nFROM scratch\nCOPY --from=${STAGE} /a /a\n",
        f"ARG STAGE=b\nFROM busybox:1.36@{d('busybox:1.36')} AS b\nFROM scratch\nCOPY --from=${{STAGE}} /a /a\n",
    ),
    "ends-in-continuation": (
        "FROM busybox:1.36\nRUN echo a \\\n",
        f"FROM busybox:1.36@{d('busybox:1.36')}\nRUN echo a \\\n",
    ),
    "stage-name-with-slash": (
        "FROM busybox:1.36 AS platform-arm/v7\nFROM scratch\nCOPY --from=platform-arm/v7 /a /a\n",
        f"FROM busybox:1.36@{d('busybox:1.36')} AS platform-arm/v7\nFROM scratch\nCOPY --from=platform-arm/v7 /a /a\n",
    ),
    "stage-named-from-an-arg": (
        "ARG NAME=base\nFROM busybox:1.36 AS ${NAME}\nFROM scratch\nCOPY --from=base /a /a\n",
        f"ARG NAME=base\nFROM busybox:1.36@{d('busybox:1.36')} AS ${{NAME}}\nFROM scratch\nCOPY --from=base /a /a\n",
    ),
    "copy-from-itself": (
        "FROM busybox:1.36 AS a\nCOPY --from=a /x /x\nFROM alpine:3.20\n",
        f"FROM busybox:1.36@{d('busybox:1.36')} AS a\nCOPY --from=a /x /x\nFROM alpine:3.20@{d('alpine:3.20')}\n",
    ),
    "instruction-before-from": (
        "LABEL a=b\nFROM busybox:1.36\n",
        f"LABEL a=b\nFROM busybox:1.36@{d('busybox:1.36')}\n",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_known_answer(name: str, tmp_path: Path) -> None:
    before, after = CASES[name]
    path = tmp_path / "Dockerfile"
    path.write_text(before)
    report = pin_paths([path], client=_resolver(), write_lock=False)
    assert path.read_text() == after
    assert report.exit_code == EXIT_OK
    # Idempotent: the pinned file pins to itself.
    again = pin_paths([path], client=_resolver(), write_lock=False)
    assert path.read_text() == after
    assert not again.failures


def test_warnings_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("FROM busybox:1.36 AS a\nCOPY --from=a /x /x\n")
    report = pin_paths([path], client=_resolver(), write_lock=False)
    [note] = report.notes
    assert note.site.line == 2
    assert note.message.startswith("warning: cannot copy from stage 'a'")


def test_one_arg_for_several_images_is_reported_for_each(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    text = "ARG V=1.36\nFROM busybox:${V}\nFROM alpine:${V}\n"
    path.write_text(text)
    report = pin_paths([path], client=_resolver(), write_lock=False)
    assert path.read_text() == text
    assert report.exit_code == EXIT_PARTIAL
    assert all("several different images" in f.message for f in report.failures)


@pytest.mark.parametrize("name", sorted(CASES))
def test_buildkit_parser_reads_the_pinned_file_alike(name: str, tmp_path: Path) -> None:
    """BuildKit's own parser (PyPI ``dockerfile``) sees the same instructions before and after."""
    dockerfile = pytest.importorskip("dockerfile")
    before, after = CASES[name]

    def shape(text: str) -> list[tuple[str, int]]:
        return [(c.cmd, len(c.value)) for c in dockerfile.parse_string(text)]

    assert shape(before) == shape(after)
