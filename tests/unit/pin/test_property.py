"""Pinning changes exactly the image tokens: every other byte of the file stays as it was.

The generator builds Dockerfiles from pieces whose image tokens it knows, so the
expected output is computed without the parser: the pieces, with each image token
replaced by its pinned form.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repro.pin import pin_paths
from repro.reference import parse_reference
from tests.unit.pin.helpers import TableResolver, fake_digest

# Spellings of the images in the resolver table, and the canonical name each resolves as.
IMAGES = {
    "debian:bookworm": "docker.io/library/debian:bookworm",
    "docker.io/library/debian:bookworm": "docker.io/library/debian:bookworm",
    "index.docker.io/library/debian:bookworm": "docker.io/library/debian:bookworm",
    "library/alpine:3.20": "docker.io/library/alpine:3.20",
    "alpine:3.20": "docker.io/library/alpine:3.20",
    "busybox:1.36": "docker.io/library/busybox:1.36",
    "busybox": "docker.io/library/busybox:latest",
    "ghcr.io/acme/base:2": "ghcr.io/acme/base:2",
}

Piece = tuple[str, str]  # ("text", literal) or ("image", token)

_blank = st.sampled_from(["", " ", "\t", "  "])
_space = st.sampled_from([" ", "  ", "\t"])
_word = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_./=", min_size=1, max_size=12)
_image = st.sampled_from(sorted(IMAGES))


@st.composite
def _from_line(draw: st.DrawFn, number: int) -> list[Piece]:
    keyword = draw(st.sampled_from(["FROM", "from", "From"]))
    pieces: list[Piece] = [("text", draw(_blank) + keyword + draw(_space))]
    if draw(st.booleans()):
        platform = draw(st.sampled_from(["linux/amd64", "$BUILDPLATFORM", "${TARGETPLATFORM}"]))
        pieces.append(("text", f"--platform={platform}" + draw(_space)))
    if draw(st.booleans()):
        pieces.append(("text", "\\\n" + draw(_space)))
    pieces.append(("image", draw(_image)))
    if draw(st.booleans()):
        pieces.append(
            ("text", draw(_space) + draw(st.sampled_from(["AS", "as"])) + draw(_space) + f"stage{number}")
        )
    pieces.append(("text", draw(_blank)))
    return pieces


@st.composite
def _other_line(draw: st.DrawFn) -> list[Piece]:
    kind = draw(st.sampled_from(["run", "comment", "copy", "mount", "blank", "env", "continued"]))
    if kind == "run":
        return [("text", "RUN " + " ".join(draw(st.lists(_word, min_size=1, max_size=5))))]
    if kind == "comment":
        return [("text", "# " + " ".join(draw(st.lists(_word, max_size=5))))]
    if kind == "copy":
        return [("text", "COPY --from="), ("image", draw(_image)), ("text", " /src /dst")]
    if kind == "mount":
        return [
            ("text", "RUN --mount=type=bind,from="),
            ("image", draw(_image)),
            ("text", ",target=/m " + draw(_word)),
        ]
    if kind == "env":
        return [("text", f"ENV {draw(st.sampled_from(['A', 'B_2']))}={draw(_word)}")]
    if kind == "continued":
        words = draw(st.lists(_word, min_size=2, max_size=4))
        return [("text", "RUN " + " \\\n    ".join(words))]
    return [("text", draw(_blank))]


@st.composite
def dockerfiles(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """(input bytes, expected pinned bytes)."""
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    lines: list[list[Piece]] = []
    if draw(st.booleans()):
        lines.append([("text", "# syntax="), ("image", "docker/dockerfile:1.7")])
    lines.append(draw(_from_line(0)))
    for number in range(1, draw(st.integers(1, 9))):
        lines.append(draw(st.one_of(_from_line(number), _other_line())))
    final_eol = draw(st.booleans())
    bom = "\ufeff" if draw(st.booleans()) else ""

    def render(pinned: bool) -> bytes:
        out = []
        for line in lines:
            text = ""
            for kind, value in line:
                piece = value
                if kind == "image" and pinned:
                    ref = parse_reference(value)
                    canonical = f"{ref.name}:{ref.effective_tag}"
                    written = ref if ref.tag is not None else ref.with_tag("latest")
                    piece = written.with_digest(fake_digest(canonical))
                text += piece.replace("\n", eol)
            out.append(text)
        return (bom + eol.join(out) + (eol if final_eol else "")).encode()

    return render(False), render(True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dockerfiles())
def test_only_image_tokens_change(case: tuple[bytes, bytes]) -> None:
    source, expected = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Dockerfile"
        path.write_bytes(source)
        pin_paths([path], client=TableResolver(), write_lock=False)
        assert path.read_bytes() == expected
