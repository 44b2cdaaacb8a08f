"""The JSON form of a parsed Dockerfile that the known-answer assets are compared with.

Every span is shown as the bytes it covers, so an expected file reads as the Dockerfile
does. To write the expected files again after a deliberate change, run
``python -m tests.unit.dockerfile.known_answers`` and review the diff.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from repro.dockerfile import Dockerfile, Instruction, Span, StageGraph, build_stage_graph, parse

ASSETS = Path(__file__).parent / "assets"


def _raw(df: Dockerfile, span: Span | None) -> str | None:
    if span is None:
        return None
    return df.data[span.start : span.end].decode("utf-8")


def describe_instruction(df: Dockerfile, ins: Instruction) -> dict[str, Any]:
    return {
        "keyword": ins.keyword,
        "keyword_raw": _raw(df, ins.keyword_span),
        "lines": [ins.start_line, ins.end_line],
        "raw": _raw(df, ins.span),
        "flags": [
            {"name": f.name, "value": f.value, "raw": _raw(df, f.span), "value_raw": _raw(df, f.value_span)}
            for f in ins.flags
        ],
        "arguments": [{"text": a.text, "raw": _raw(df, a.span)} for a in ins.arguments],
        "json_form": ins.json_form,
        "heredocs": [
            {
                "name": h.name,
                "content": h.content,
                "text": h.text,
                "chomp": h.chomp,
                "expand": h.expand,
                "fd": h.file_descriptor,
                "lines": [h.start_line, h.end_line],
                "terminator": _raw(df, h.terminator_span),
            }
            for h in ins.heredocs
        ],
        "trigger": describe_instruction(df, ins.trigger) if ins.trigger is not None else None,
    }


def describe(df: Dockerfile) -> dict[str, Any]:
    return {
        "bom": df.bom,
        "escape": df.escape,
        "directives": [
            {"name": d.name, "value": d.value, "line": d.line, "value_raw": _raw(df, d.value_span)}
            for d in df.directives
        ],
        "instructions": [describe_instruction(df, ins) for ins in df.instructions],
    }


def describe_graph(graph: StageGraph) -> dict[str, Any]:
    df = graph.dockerfile
    return {
        "stages": [
            {
                "index": s.index,
                "name": s.name,
                "base": s.base,
                "base_raw": _raw(df, s.base_span),
                "base_expanded": s.base_expanded,
                "base_stage": s.base_stage,
                "platform": s.platform,
                "instructions": len(s.instructions),
            }
            for s in graph.stages
        ],
        "global_args": [
            {"name": a.name, "line": a.line, "default_raw": _raw(df, a.default_span), "value": a.value}
            for a in graph.global_args
        ],
        "stage_references": [
            {"kind": r.kind, "line": r.line, "text": r.text, "raw": _raw(df, r.span), "stage": r.stage}
            for r in graph.stage_references
        ],
        "images": [
            {
                "kind": u.kind,
                "line": u.line,
                "text": u.text,
                "raw": _raw(df, u.span),
                "expanded": u.expanded,
                "arg_default_raw": _raw(df, u.arg_default_span),
                "skip_reason": u.skip_reason,
                "platform": u.platform,
            }
            for u in graph.external_images()
        ],
    }


def regenerate() -> None:
    for path in sorted(ASSETS.glob("*.Dockerfile")):
        df = parse(path.read_bytes(), filename=path.name)
        expected = {"parse": describe(df), "graph": describe_graph(build_stage_graph(df))}
        text = json.dumps(expected, indent=2, ensure_ascii=False) + "\n"
        path.with_suffix(".json").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    regenerate()
