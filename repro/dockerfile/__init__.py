"""Dockerfiles read as BuildKit reads them: a lossless parser and the stage graph.

>>> from repro.dockerfile import parse, build_stage_graph
>>> df = parse(b"ARG BASE=alpine:3.20\\nFROM ${BASE} AS build\\nFROM scratch\\nCOPY --from=build /a /a\\n")
>>> [(use.kind, use.text, use.expanded) for use in build_stage_graph(df).external_images()]
[('from', '${BASE}', 'alpine:3.20')]
"""

from __future__ import annotations

from repro.dockerfile.files import MAX_DOCKERFILE_BYTES, read_dockerfile
from repro.dockerfile.parser import (
    Argument,
    Directive,
    Dockerfile,
    Flag,
    Heredoc,
    Instruction,
    Span,
    Token,
    TokenKind,
    parse,
)
from repro.dockerfile.stages import (
    GlobalArg,
    ImageUse,
    Stage,
    StageGraph,
    StageReference,
    build_stage_graph,
)

__all__ = [
    "MAX_DOCKERFILE_BYTES",
    "Argument",
    "Directive",
    "Dockerfile",
    "Flag",
    "GlobalArg",
    "Heredoc",
    "ImageUse",
    "Instruction",
    "Span",
    "Stage",
    "StageGraph",
    "StageReference",
    "Token",
    "TokenKind",
    "build_stage_graph",
    "parse",
    "read_dockerfile",
]
