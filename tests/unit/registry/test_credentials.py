"""Tests for repro.registry.credentials: config.json lookup and credential helpers.

Credential helpers here are real executables on PATH speaking the
docker-credential-helpers protocol; each records its argv and stdin so tests can check
what repro sent and how often it asked.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from repro.errors import AuthenticationError, ConfigError, ProcessError, ReferenceFormatError
from repro.registry.credentials import DOCKER_HUB_SERVER, HELPER_TIMEOUT, Credential, CredentialStore
from tests.fakes import Call, FakeRunner

SECRET = "s3cr3t-Pa55w0rd"
TOKEN = "refresh-token-0123456789"

_HELPER_SCRIPT = """#!{python}
import json, pathlib, sys
here = pathlib.Path(__file__)
spec = json.loads(here.with_name(here.name + ".spec").read_text())
server_url = sys.stdin.read()
with here.with_name(here.name + ".calls").open("a") as calls:
    calls.write(json.dumps({{"argv": sys.argv[1:], "stdin": server_url}}) + "\\n")
sys.stdout.write(spec["stdout"])
sys.stderr.write(spec["stderr"])
sys.exit(spec["exit"])
"""


class Helpers:
    """Installs docker-credential-NAME programs into a directory on PATH."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir

    def add(self, name: str, *, stdout: str = "", stderr: str = "", exit_code: int = 0) -> None:
        program = self.bin_dir / f"docker-credential-{name}"
        program.write_text(_HELPER_SCRIPT.format(python=sys.executable))
        program.chmod(0o755)
        spec = {"stdout": stdout, "stderr": stderr, "exit": exit_code}
        program.with_name(program.name + ".spec").write_text(json.dumps(spec))

    def answer(self, name: str, username: str, secret: str) -> None:
        """A helper that holds ``username``/``secret`` for whatever it is asked."""
        self.add(name, stdout=json.dumps({"ServerURL": "x", "Username": username, "Secret": secret}))

    def calls(self, name: str) -> list[dict[str, Any]]:
        log = self.bin_dir / f"docker-credential-{name}.calls"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture
def helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Helpers:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return Helpers(bin_dir)


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "docker"
    directory.mkdir()
    return directory


def write_config(config_dir: Path, document: Mapping[str, Any]) -> None:
    (config_dir / "config.json").write_text(json.dumps(document))


def basic(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode()


def shown(error: BaseException) -> str:
    """Everything a user could see of ``error``: the traceback ``-v`` prints, and the hint."""
    return "".join(traceback.format_exception(error)) + str(getattr(error, "hint", ""))


# --- Credential -------------------------------------------------------------------


def test_repr_and_str_hide_secrets() -> None:
    credential = Credential(username="alice", password=SECRET, identity_token=TOKEN)
    for text in (repr(credential), str(credential), f"{credential}", repr([credential])):
        assert "alice" in text
        assert SECRET not in text
        assert TOKEN not in text
        assert "<redacted>" in text
    assert (
        repr(Credential(username="bob")) == "Credential(username='bob', password=None, identity_token=None)"
    )


# --- locating and reading config.json ---------------------------------------------


def test_missing_config_file_means_no_credentials(config_dir: Path) -> None:
    assert CredentialStore(config_dir).get("ghcr.io") is None


def test_config_dir_from_docker_config_variable(tmp_path: Path) -> None:
    chosen = tmp_path / "elsewhere"
    chosen.mkdir()
    write_config(chosen, {"auths": {"ghcr.io": {"auth": basic("alice", SECRET)}}})
    store = CredentialStore(environ={"DOCKER_CONFIG": str(chosen), "HOME": str(tmp_path / "nohome")})
    assert store.config_path == chosen / "config.json"
    assert store.get("ghcr.io") == Credential(username="alice", password=SECRET)


def test_config_dir_defaults_to_home_dot_docker(tmp_path: Path) -> None:
    (tmp_path / ".docker").mkdir()
    write_config(tmp_path / ".docker", {"auths": {"ghcr.io": {"auth": basic("alice", SECRET)}}})
    store = CredentialStore(environ={"HOME": str(tmp_path)})
    assert store.get("ghcr.io") == Credential(username="alice", password=SECRET)


def test_config_dir_argument_wins_over_environment(tmp_path: Path, config_dir: Path) -> None:
    write_config(config_dir, {"auths": {"ghcr.io": {"auth": basic("alice", SECRET)}}})
    store = CredentialStore(config_dir, environ={"DOCKER_CONFIG": str(tmp_path / "other")})
    assert store.config_path == config_dir / "config.json"


def test_invalid_json_names_file_but_not_its_content(config_dir: Path) -> None:
    (config_dir / "config.json").write_text('{"auths": {"ghcr.io": {"auth": "' + SECRET + '"}')
    with pytest.raises(ConfigError) as caught:
        CredentialStore(config_dir).get("ghcr.io")
    assert str(config_dir / "config.json") in str(caught.value)
    assert SECRET not in shown(caught.value)


def test_unreadable_config_is_a_config_error(config_dir: Path) -> None:
    (config_dir / "config.json").mkdir()
    with pytest.raises(ConfigError, match=r"config\.json: cannot read"):
        CredentialStore(config_dir).get("ghcr.io")


@pytest.mark.parametrize(
    ("document", "match"),
    [
        ([], "must be a JSON object"),
        ({"auths": ["ghcr.io"]}, "'auths' must be a JSON object"),
        ({"credsStore": 1}, "'credsStore' must be a string"),
        ({"credHelpers": {"ghcr.io": 1}}, "'credHelpers' must map"),
        ({"credsStore": "../../bin/sh"}, "not a credential helper name"),
        ({"auths": {"ghcr.io": "x"}}, "auths entry 'ghcr.io' must be a JSON object"),
        ({"auths": {"ghcr.io": {"password": 5}}}, "'password' must be a string"),
    ],
)
def test_malformed_config_structure(config_dir: Path, document: object, match: str) -> None:
    (config_dir / "config.json").write_text(json.dumps(document))
    with pytest.raises(ConfigError, match=match):
        CredentialStore(config_dir).get("ghcr.io")


# --- auths entries ----------------------------------------------------------------


def test_auths_basic_auth_field(config_dir: Path) -> None:
    write_config(config_dir, {"auths": {"ghcr.io": {"auth": basic("alice", "pa:ss")}}})
    assert CredentialStore(config_dir).get("ghcr.io") == Credential(username="alice", password="pa:ss")


def test_auths_username_and_password_fields(config_dir: Path) -> None:
    write_config(config_dir, {"auths": {"ghcr.io": {"username": "alice", "password": SECRET}}})
    assert CredentialStore(config_dir).get("ghcr.io") == Credential(username="alice", password=SECRET)


def test_auths_identity_token(config_dir: Path) -> None:
    entry = {"auth": basic("alice", SECRET), "identitytoken": TOKEN}
    write_config(config_dir, {"auths": {"ghcr.io": entry}})
    assert CredentialStore(config_dir).get("ghcr.io") == Credential(username="alice", identity_token=TOKEN)


def test_auths_placeholder_entry_means_no_credentials(config_dir: Path) -> None:
    # 'docker login' with a credsStore leaves an empty entry behind.
    write_config(config_dir, {"auths": {"ghcr.io": {}, "quay.io": {"auth": ""}}})
    store = CredentialStore(config_dir)
    assert store.get("ghcr.io") is None
    assert store.get("quay.io") is None


@pytest.mark.parametrize(
    "auth",
    [
        f"not base64 {SECRET}",
        base64.b64encode(f"no-colon-{SECRET}".encode()).decode(),
        base64.b64encode(b"\xff\xfe:" + SECRET.encode()).decode(),
    ],
)
def test_auths_malformed_auth_is_not_echoed(config_dir: Path, auth: str) -> None:
    write_config(config_dir, {"auths": {"ghcr.io": {"auth": auth}}})
    with pytest.raises(ConfigError, match="'auth' is not base64") as caught:
        CredentialStore(config_dir).get("ghcr.io")
    assert SECRET not in shown(caught.value)
    assert auth not in shown(caught.value)


# --- host keys --------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [DOCKER_HUB_SERVER, "https://index.docker.io/v1", "index.docker.io", "registry-1.docker.io", "docker.io"],
)
@pytest.mark.parametrize("registry", ["docker.io", "index.docker.io", "registry-1.docker.io"])
def test_docker_hub_key_variants(config_dir: Path, key: str, registry: str) -> None:
    write_config(config_dir, {"auths": {key: {"auth": basic("alice", SECRET)}}})
    assert CredentialStore(config_dir).get(registry) == Credential(username="alice", password=SECRET)


def test_canonical_docker_hub_key_wins(config_dir: Path) -> None:
    auths = {
        "docker.io": {"auth": basic("alias", "old")},
        DOCKER_HUB_SERVER: {"auth": basic("canonical", SECRET)},
    }
    write_config(config_dir, {"auths": auths})
    assert CredentialStore(config_dir).get("docker.io") == Credential(username="canonical", password=SECRET)


@pytest.mark.parametrize(
    "key", ["127.0.0.1:5000", "http://127.0.0.1:5000", "https://127.0.0.1:5000/v2/", "HTTPS://127.0.0.1:5000"]
)
def test_host_port_key_forms(config_dir: Path, key: str) -> None:
    write_config(config_dir, {"auths": {key: {"auth": basic("alice", SECRET)}}})
    assert CredentialStore(config_dir).get("127.0.0.1:5000") == Credential(username="alice", password=SECRET)


def test_port_and_host_must_match_exactly(config_dir: Path) -> None:
    write_config(config_dir, {"auths": {"127.0.0.1:5000": {"auth": basic("alice", SECRET)}}})
    store = CredentialStore(config_dir)
    assert store.get("127.0.0.1") is None
    assert store.get("127.0.0.1:5001") is None
    assert store.get("docker.io") is None


# --- precedence -------------------------------------------------------------------


def test_precedence_cred_helper_then_store_then_auths(config_dir: Path, helpers: Helpers) -> None:
    helpers.answer("perhost", "from-cred-helpers", "one")
    helpers.answer("store", "from-creds-store", "two")
    write_config(
        config_dir,
        {
            "credHelpers": {"ghcr.io": "perhost"},
            "credsStore": "store",
            "auths": {
                "ghcr.io": {"auth": basic("from-auths", "three")},
                "quay.io": {"auth": basic("q", "x")},
            },
        },
    )
    store = CredentialStore(config_dir)
    assert store.get("ghcr.io") == Credential(username="from-cred-helpers", password="one")
    assert store.get("quay.io") == Credential(username="from-creds-store", password="two")
    assert [call["stdin"] for call in helpers.calls("store")] == ["quay.io"]


def test_creds_store_without_credentials_does_not_fall_back_to_auths(
    config_dir: Path, helpers: Helpers
) -> None:
    helpers.add("store", stdout="credentials not found in native keychain\n", exit_code=1)
    write_config(config_dir, {"credsStore": "store", "auths": {"ghcr.io": {"auth": basic("stale", SECRET)}}})
    assert CredentialStore(config_dir).get("ghcr.io") is None
    assert len(helpers.calls("store")) == 1


def test_empty_cred_helper_entry_selects_auths(config_dir: Path, helpers: Helpers) -> None:
    helpers.answer("store", "from-creds-store", "two")
    write_config(
        config_dir,
        {
            "credHelpers": {"ghcr.io": ""},
            "credsStore": "store",
            "auths": {"ghcr.io": {"auth": basic("a", "b")}},
        },
    )
    assert CredentialStore(config_dir).get("ghcr.io") == Credential(username="a", password="b")
    assert helpers.calls("store") == []


def test_cred_helpers_key_for_docker_hub(config_dir: Path, helpers: Helpers) -> None:
    helpers.answer("hub", "alice", SECRET)
    write_config(config_dir, {"credHelpers": {"docker.io": "hub"}})
    assert CredentialStore(config_dir).get("docker.io") == Credential(username="alice", password=SECRET)


# --- the credential helper protocol -----------------------------------------------


@pytest.mark.parametrize(
    ("registry", "server_url"),
    [
        ("docker.io", DOCKER_HUB_SERVER),
        ("index.docker.io", DOCKER_HUB_SERVER),
        ("ghcr.io", "ghcr.io"),
        ("127.0.0.1:5000", "127.0.0.1:5000"),
    ],
)
def test_helper_is_asked_with_docker_server_url(
    config_dir: Path, helpers: Helpers, registry: str, server_url: str
) -> None:
    helpers.answer("rec", "alice", SECRET)
    write_config(config_dir, {"credsStore": "rec"})
    assert CredentialStore(config_dir).get(registry) == Credential(username="alice", password=SECRET)
    assert helpers.calls("rec") == [{"argv": ["get"], "stdin": server_url}]


def test_helper_token_username_means_identity_token(config_dir: Path, helpers: Helpers) -> None:
    helpers.answer("tok", "<token>", TOKEN)
    write_config(config_dir, {"credsStore": "tok"})
    assert CredentialStore(config_dir).get("ghcr.io") == Credential(identity_token=TOKEN)


@pytest.mark.parametrize(
    ("stdout", "stderr"),
    [("credentials not found in native keychain\n", ""), ("", "Credentials not found")],
)
def test_helper_not_found_means_no_credentials(
    config_dir: Path, helpers: Helpers, stdout: str, stderr: str
) -> None:
    helpers.add("none", stdout=stdout, stderr=stderr, exit_code=1)
    write_config(config_dir, {"credHelpers": {"ghcr.io": "none"}})
    assert CredentialStore(config_dir).get("ghcr.io") is None


def test_helper_failure_names_helper_and_exit_code_but_not_output(config_dir: Path, helpers: Helpers) -> None:
    leaked = json.dumps({"ServerURL": "ghcr.io", "Username": "alice", "Secret": SECRET})
    helpers.add("broken", stdout=leaked, stderr=f"keychain locked; last secret {SECRET}", exit_code=3)
    write_config(config_dir, {"credHelpers": {"ghcr.io": "broken"}})
    with pytest.raises(AuthenticationError) as caught:
        CredentialStore(config_dir).get("ghcr.io")
    assert "docker-credential-broken" in str(caught.value)
    assert "exit code 3" in str(caught.value)
    assert SECRET not in shown(caught.value)
    assert "alice" not in shown(caught.value)


@pytest.mark.parametrize(
    "stdout",
    [
        f"Secret={SECRET}",
        json.dumps([SECRET]),
        json.dumps({"Username": "alice", "Secret": [SECRET]}),
    ],
)
def test_helper_malformed_answer_is_not_echoed(config_dir: Path, helpers: Helpers, stdout: str) -> None:
    helpers.add("odd", stdout=stdout)
    write_config(config_dir, {"credsStore": "odd"})
    with pytest.raises(AuthenticationError, match="docker-credential-odd") as caught:
        CredentialStore(config_dir).get("ghcr.io")
    assert SECRET not in shown(caught.value)


def test_helper_not_installed(config_dir: Path, helpers: Helpers, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(helpers.bin_dir))
    write_config(config_dir, {"credsStore": "nowhere"})
    with pytest.raises(AuthenticationError, match="docker-credential-nowhere is not installed") as caught:
        CredentialStore(config_dir).get("ghcr.io")
    assert "install docker-credential-nowhere" in caught.value.hint


def test_helper_runs_once_per_registry(config_dir: Path, helpers: Helpers) -> None:
    helpers.answer("count", "alice", SECRET)
    helpers.add("none", stdout="credentials not found in native keychain", exit_code=1)
    write_config(config_dir, {"credsStore": "count", "credHelpers": {"quay.io": "none"}})
    store = CredentialStore(config_dir)
    first = store.get("ghcr.io")
    assert store.get("ghcr.io") == first
    assert store.get("https://ghcr.io/v2/") == first
    assert store.get("quay.io") is None
    assert store.get("quay.io") is None
    assert len(helpers.calls("count")) == 1
    assert len(helpers.calls("none")) == 1
    # Another store asks again.
    CredentialStore(config_dir).get("ghcr.io")
    assert len(helpers.calls("count")) == 2


# --- runner injection -------------------------------------------------------------


def test_custom_runner_is_used(config_dir: Path) -> None:
    answer = json.dumps({"ServerURL": DOCKER_HUB_SERVER, "Username": "alice", "Secret": SECRET})
    runner = FakeRunner(answer.encode())
    write_config(config_dir, {"credsStore": "desktop"})
    environ = {"PATH": "/nonexistent", "HOME": str(config_dir)}
    store = CredentialStore(config_dir, runner=runner, environ=environ)
    assert store.get("docker.io") == Credential(username="alice", password=SECRET)
    assert runner.calls == [
        Call(
            argv=["docker-credential-desktop", "get"],
            env=environ,
            input=DOCKER_HUB_SERVER.encode(),
            timeout=HELPER_TIMEOUT,
            check=False,
        )
    ]


def test_helper_timeout_is_an_authentication_error(config_dir: Path) -> None:
    error = ProcessError("docker-credential-slow get: timed out after 30.0 s")
    error.__cause__ = subprocess.TimeoutExpired(["docker-credential-slow", "get"], HELPER_TIMEOUT)
    write_config(config_dir, {"credsStore": "slow"})
    store = CredentialStore(config_dir, runner=FakeRunner(error=error))
    with pytest.raises(AuthenticationError, match="docker-credential-slow did not answer within 30 s"):
        store.get("ghcr.io")


def test_failed_lookup_is_not_cached(config_dir: Path) -> None:
    write_config(config_dir, {"credsStore": "flaky"})
    runner = FakeRunner(returncode=1)
    store = CredentialStore(config_dir, runner=runner)
    with pytest.raises(AuthenticationError):
        store.get("ghcr.io")
    runner.returncode = 0
    runner.stdout = json.dumps({"Username": "alice", "Secret": SECRET}).encode()
    assert store.get("ghcr.io") == Credential(username="alice", password=SECRET)
    assert len(runner.calls) == 2


# --- logging ----------------------------------------------------------------------


def test_debug_log_names_source_but_no_secret(
    config_dir: Path, helpers: Helpers, caplog: pytest.LogCaptureFixture
) -> None:
    helpers.answer("store", "alice", SECRET)
    write_config(
        config_dir,
        {"credHelpers": {"ghcr.io": "store"}, "auths": {"quay.io": {"auth": basic("bob", SECRET)}}},
    )
    store = CredentialStore(config_dir)
    with caplog.at_level(logging.DEBUG, logger="repro"):
        store.get("ghcr.io")
        store.get("quay.io")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "docker-credential-store" in text
    assert "'quay.io'" in text
    assert SECRET not in text
    assert basic("bob", SECRET) not in text


@pytest.mark.parametrize("registry", ["", "https://", "/v2/"])
def test_registry_name_must_name_a_host(config_dir: Path, registry: str) -> None:
    with pytest.raises(ReferenceFormatError):
        CredentialStore(config_dir).get(registry)
