"""The RUN variables: declared after every FROM, numbered out of the progress, and gone
from the normalised history."""

from __future__ import annotations

import pytest

from repro.build.engine import BuildEvent
from repro.build.pipeline import _without_declaration
from repro.build.runenv import CA_VARIABLES, declare_args, run_variables
from repro.dockerfile import parse
from repro.errors import DockerfileError
from repro.layers.leftovers import CA_BUNDLE_MOUNT, is_run_variables_entry, strip_run_variables


def test_every_stage_declares_the_variables_and_nothing_else_changes() -> None:
    original = (
        b"# syntax=docker/dockerfile:1\r\n"
        b"FROM --platform=x \\\r\n  a AS build\r\n"
        b"RUN make\r\n"
        b"FROM scratch\r\n"
        b"COPY --from=build /out /out\r\n"
    )
    declared = declare_args(original, ["SOURCE_DATE_EPOCH", "SSL_CERT_FILE"])
    assert declared == (
        b"# syntax=docker/dockerfile:1\r\n"
        b"FROM --platform=x \\\r\n  a AS build\nARG SOURCE_DATE_EPOCH SSL_CERT_FILE\r\n"
        b"RUN make\r\n"
        b"FROM scratch\nARG SOURCE_DATE_EPOCH SSL_CERT_FILE\r\n"
        b"COPY --from=build /out /out\r\n"
    )
    keywords = [i.keyword for i in parse(declared).instructions]
    assert keywords == ["FROM", "ARG", "RUN", "FROM", "ARG", "COPY"]
    assert declare_args(b"FROM a", ["X"]) == b"FROM a\nARG X"
    with pytest.raises(DockerfileError):
        declare_args(b"FROM\n", ["X"])


def test_run_variables() -> None:
    assert run_variables(5, ca_bundle=False) == {"SOURCE_DATE_EPOCH": "5"}
    with_ca = run_variables(5, ca_bundle=True)
    assert [name for name in with_ca if name != "SOURCE_DATE_EPOCH"] == list(CA_VARIABLES)
    assert set(CA_VARIABLES) == {
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
        "PIP_CERT",
        "NODE_EXTRA_CA_CERTS",
        "CURL_CA_BUNDLE",
    }
    assert {with_ca[name] for name in CA_VARIABLES} == {CA_BUNDLE_MOUNT}


def step(text: str, step: int, steps: int) -> BuildEvent:
    return BuildEvent(kind="step", text=text, elapsed=0, step=step, steps=steps, instruction=text)


def test_progress_counts_the_users_instructions_only() -> None:
    declaration = "ARG SOURCE_DATE_EPOCH"
    shown = [
        _without_declaration(step(text, n, 4), declaration)
        for n, text in enumerate(["FROM a", "ARG SOURCE_DATE_EPOCH", "ARG SOURCE_DATE_EPOCH", "RUN x"], 1)
    ]
    # the second ARG is the user's own declaration: it stays, as step 2 of 3
    assert [(e.step, e.steps, e.instruction) for e in shown] == [
        (1, 3, "FROM a"),
        (0, 4, "ARG SOURCE_DATE_EPOCH"),
        (2, 3, "ARG SOURCE_DATE_EPOCH"),
        (3, 3, "RUN x"),
    ]


def test_history_keeps_no_trace_of_the_variables() -> None:
    variables = run_variables(77, ca_bundle=True)
    arg = "/bin/sh -c #(nop) ARG " + " ".join(variables)
    assert is_run_variables_entry({"created_by": arg, "empty_layer": True}, variables)
    assert is_run_variables_entry(
        {"created_by": "/bin/sh -c #(nop) ARG SOURCE_DATE_EPOCH", "empty_layer": True}, variables
    )
    assert not is_run_variables_entry(
        {"created_by": "/bin/sh -c #(nop) ARG VERSION", "empty_layer": True}, variables
    )
    assert not is_run_variables_entry({"created_by": arg}, variables)  # it made a layer: not a declaration
    assert not is_run_variables_entry({"created_by": arg, "empty_layer": True}, {})

    words = " ".join(f"{k}={v}" for k, v in sorted(variables.items()))
    assert strip_run_variables(f"|6 {words} /bin/sh -c make", variables) == "/bin/sh -c make"
    assert strip_run_variables(f"|7 A=1 {words} /bin/sh -c make", variables) == "|1 A=1 /bin/sh -c make"
    assert strip_run_variables("RUN |1 SOURCE_DATE_EPOCH=77 /bin/sh -c make # buildkit", variables) == (
        "RUN /bin/sh -c make # buildkit"
    )
    # the command's own words stay, and so does another epoch value
    assert strip_run_variables("|1 A=1 /bin/sh -c SOURCE_DATE_EPOCH=77 make", variables) == (
        "|1 A=1 /bin/sh -c SOURCE_DATE_EPOCH=77 make"
    )
    assert strip_run_variables("|1 SOURCE_DATE_EPOCH=78 /bin/sh -c make", variables) == (
        "|1 SOURCE_DATE_EPOCH=78 /bin/sh -c make"
    )
    assert strip_run_variables("/bin/sh -c make", variables) == "/bin/sh -c make"
