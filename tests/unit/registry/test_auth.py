"""The pure parts of registry auth: challenge parsing and scope strings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from repro.registry.auth import Challenge, basic_header, merge_scopes, parse_challenges, repository_scope


def test_docker_hub_style_bearer() -> None:
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/debian:pull"'
    )
    assert parse_challenges(header) == [
        Challenge(
            "bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "scope": "repository:library/debian:pull",
            },
        )
    ]


def test_basic_realm() -> None:
    assert parse_challenges('Basic realm="repro-testbed"') == [Challenge("basic", {"realm": "repro-testbed"})]


def test_quoted_commas_escapes_and_spacing() -> None:
    header = r'Bearer  realm = "https://a/t?x=1,2" , scope="repository:a/b:pull,push", error="say \"hi\\\""'
    [challenge] = parse_challenges(header)
    assert challenge.params == {
        "realm": "https://a/t?x=1,2",
        "scope": "repository:a/b:pull,push",
        "error": 'say "hi\\"',
    }


def test_several_challenges_in_one_header() -> None:
    header = 'Basic realm="r1", Bearer realm="https://t", service=s, Negotiate'
    assert [(c.scheme, dict(c.params)) for c in parse_challenges(header)] == [
        ("basic", {"realm": "r1"}),
        ("bearer", {"realm": "https://t", "service": "s"}),
        ("negotiate", {}),
    ]


def test_scheme_and_param_names_are_case_insensitive_first_wins() -> None:
    [challenge] = parse_challenges('BEARER Realm="one", REALM="two"')
    assert challenge.scheme == "bearer"
    assert challenge.params == {"realm": "one"}


def test_token68() -> None:
    [challenge] = parse_challenges("Negotiate dG9rZW4=")
    assert challenge.token68 == "dG9rZW4="
    assert challenge.params == {}


@pytest.mark.parametrize(
    "header",
    [
        "",
        ",,,",
        '"',
        'Bearer realm="unterminated',
        "Bearer =",
        "Bearer realm",
        "===",
        'Bearer realm="a" junk junk, service="s"',
        "\x00\x01 Bearer",
        "Bearer " + "a=b," * 2000,
    ],
)
def test_hostile_headers_do_not_crash(header: str) -> None:
    for challenge in parse_challenges(header):
        assert challenge.scheme


def test_garbage_after_a_value_is_skipped() -> None:
    [challenge] = parse_challenges('Bearer realm="a" junk junk, service="s"')
    assert challenge.params == {"realm": "a", "service": "s"}


def test_overlong_header_yields_nothing() -> None:
    assert parse_challenges('Bearer realm="' + "x" * 20000 + '"') == []


@given(st.text(max_size=300))
def test_parser_is_total(header: str) -> None:
    parse_challenges(header)


def test_repository_scope() -> None:
    assert repository_scope("library/debian", ("pull",)) == "repository:library/debian:pull"
    assert repository_scope("a/b", ("pull", "push")) == "repository:a/b:pull,push"


def test_merge_scopes_widens_per_resource() -> None:
    assert merge_scopes(["repository:a:pull"], ["repository:a:push,pull"]) == ("repository:a:pull,push",)
    assert merge_scopes(["repository:a:pull"], ["repository:b:pull repository:a:delete"]) == (
        "repository:a:pull,delete",
        "repository:b:pull",
    )
    assert merge_scopes(["repository:a:pull"], [""]) == ("repository:a:pull",)
    assert merge_scopes(["weird"], ["weird"]) == ("weird",)


def test_basic_header() -> None:
    assert basic_header("user", "pa:ss") == "Basic dXNlcjpwYTpzcw=="
