from __future__ import annotations

from pathlib import Path

import pytest

from repro.config import Config, RegistryConfig, cache_directory, find_config_file, load_config
from repro.errors import ConfigError

PYPROJECT = """\
[project]
name = "app"

[tool.repro]
timeout = 12

[tool.repro.registries."docker.io"]
mirrors = ["127.0.0.1:5000/hub"]

[tool.repro.registries."127.0.0.1:5000"]
insecure = true
max_concurrency = 4

[tool.repro.registries."registry.example.com"]
ca_file = "certs/ca.pem"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_without_any_file(tmp_path: Path) -> None:
    config = load_config(tmp_path, environ={})
    assert config == Config()
    assert config.registry("ghcr.io") == RegistryConfig()
    assert config.registry("ghcr.io").insecure is False


def test_pyproject_tool_repro_table(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", PYPROJECT)
    config = load_config(tmp_path, environ={})
    assert config.source == tmp_path / "pyproject.toml"
    assert config.timeout == 12.0
    assert config.registry("docker.io").mirrors == ("127.0.0.1:5000/hub",)
    assert config.registry("127.0.0.1:5000") == RegistryConfig(insecure=True, max_concurrency=4)
    # ca_file is relative to the file that names it, not to the working directory
    assert config.registry("registry.example.com").ca_file == tmp_path / "certs/ca.pem"


def test_found_next_to_the_dockerfile_and_in_parents(tmp_path: Path) -> None:
    write(tmp_path / "repro.toml", '[registries."a.example"]\ninsecure = true\n')
    dockerfile = write(tmp_path / "svc" / "api" / "Dockerfile", "FROM scratch\n")
    assert find_config_file(dockerfile) == tmp_path / "repro.toml"
    assert load_config(dockerfile, environ={}).registry("a.example").insecure


def test_nearest_file_wins_and_pyproject_without_table_is_skipped(tmp_path: Path) -> None:
    write(tmp_path / "repro.toml", "timeout = 5\n")
    write(tmp_path / "svc" / "pyproject.toml", '[project]\nname = "x"\n')
    assert find_config_file(tmp_path / "svc") == tmp_path / "repro.toml"
    write(tmp_path / "svc" / "repro.toml", "timeout = 7\n")
    assert load_config(tmp_path / "svc", environ={}).timeout == 7.0


def test_explicit_file_beats_repro_config_variable(tmp_path: Path) -> None:
    a = write(tmp_path / "a.toml", "timeout = 1\n")
    b = write(tmp_path / "b.toml", "timeout = 2\n")
    assert load_config(tmp_path, explicit=a, environ={"REPRO_CONFIG": str(b)}).timeout == 1.0
    assert load_config(tmp_path, environ={"REPRO_CONFIG": str(b)}).timeout == 2.0


def test_environment_overrides_file(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", PYPROJECT)
    config = load_config(
        tmp_path,
        environ={
            "REPRO_TIMEOUT": "3",
            "REPRO_INSECURE_REGISTRIES": "docker.io, other.example",
            "REPRO_REGISTRY_MIRRORS": "quay.io=127.0.0.1:5000/quay;127.0.0.1:5001/quay",
            "REPRO_MAX_CONCURRENCY": "2",
        },
    )
    assert config.timeout == 3.0
    assert config.registry("docker.io").insecure
    assert config.registry("docker.io").mirrors == ("127.0.0.1:5000/hub",)
    assert config.registry("other.example").insecure
    assert config.registry("quay.io").mirrors == ("127.0.0.1:5000/quay", "127.0.0.1:5001/quay")
    assert {r.max_concurrency for r in config.registries.values()} == {2}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("timeout = 0\n", "timeout: must be a positive number of seconds"),
        ("timeout = nan\n", "timeout: must be a positive number of seconds, got nan"),
        ("timeout = inf\n", "timeout: must be a positive number of seconds, got inf"),
        ("timeout = -inf\n", "timeout: must be a positive number"),
        ("[policy]\nsize_budget_mb = nan\n", "size_budget_mb: must be positive (and finite)"),
        ("x = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
        ("timeout = true\n", "timeout: expected int or float"),
        ("colour = 1\n", "unknown key(s) colour"),
        ('[registries."x"]\ninsecure = "yes"\n', 'registries."x".insecure: expected bool'),
        ('[registries."x"]\nmax_concurrency = 0\n', "must be at least 1"),
        ('[registries."x"]\nmax_concurrency = true\n', "expected int, got True"),
        ('[registries."x"]\nmirrors = "m"\n', "mirrors: expected list"),
        ('[registries."x"]\nmirror = ["m"]\n', "unknown key(s) mirror"),
        ("timeout = = 3\n", "invalid TOML"),
        ("cache_max_mb = 0\n", "cache_max_mb: must be at least 1"),
        ('cache_max_mb = "1G"\n', "cache_max_mb: expected int"),
        ("cache_dir = 1\n", "cache_dir: expected str"),
    ],
)
def test_invalid_files_are_rejected_with_the_place(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "repro.toml", text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, environ={})
    assert message in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REPRO_TIMEOUT", "soon"),
        ("REPRO_TIMEOUT", "-1"),
        ("REPRO_TIMEOUT", "nan"),
        ("REPRO_TIMEOUT", "inf"),
        ("REPRO_TIMEOUT", "Infinity"),
        ("REPRO_MAX_CONCURRENCY", "0"),
        ("REPRO_REGISTRY_MIRRORS", "docker.io"),
    ],
)
def test_invalid_environment_is_rejected(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config(tmp_path, environ={name: value})


def test_binary_file_is_a_config_error_not_a_decode_error(tmp_path: Path) -> None:
    path = tmp_path / "repro.toml"
    path.write_bytes(b"timeout = 3\n\xff\xfe\x00\x81 binary")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_config(tmp_path, environ={})
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_config(explicit=path, environ={})


def test_missing_explicit_file_and_pyproject_without_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path, explicit=tmp_path / "nope.toml", environ={})
    bare = write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n')
    with pytest.raises(ConfigError, match=r"no \[tool.repro\] table"):
        load_config(tmp_path, explicit=bare, environ={})


def test_lockfile_is_relative_to_the_config_file_and_overridable(tmp_path: Path) -> None:
    write(tmp_path / "repro.toml", 'lockfile = "locks/images.lock"\n')
    assert load_config(tmp_path / "sub", environ={}).lockfile == tmp_path / "locks/images.lock"
    assert load_config(tmp_path, environ={"REPRO_LOCKFILE": "/x.lock"}).lockfile == Path("/x.lock")


# --- [tool.repro.policy] ---------------------------------------------------------------


def test_policy_table_is_read_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        "[tool.repro.policy]\n"
        'disable = ["REPRO-NET-001"]\n'
        'severity = { "REPRO-VER-001" = "note" }\n'
        'allowed_registries = ["docker.io", "ghcr.io/acme"]\n'
        "size_budget_mb = 300\n"
        'policy_dirs = ["policies"]\n'
        "exceptions = [\n"
        '  { rule = "REPRO-USER-001", path = "tools/*", reason = "chroot", expires = 2026-06-30 },\n'
        '  { rule = "REPRO-PIN-001", image = "debian:*", reason = "vendor", expires = "2026-07-01" },\n'
        "]\n",
    )
    policy = load_config(tmp_path, environ={}).policy
    assert policy.disable == frozenset({"REPRO-NET-001"})
    assert policy.severity == {"REPRO-VER-001": "note"}
    assert policy.allowed_registries == ("docker.io", "ghcr.io/acme")
    assert policy.size_budget_mb == 300.0
    assert policy.policy_dirs == (tmp_path / "policies",)
    assert policy.base_dir == tmp_path
    first, second = policy.exceptions
    assert (first.rule, first.path, first.expires.isoformat()) == ("REPRO-USER-001", "tools/*", "2026-06-30")
    assert (second.image, second.expires.isoformat()) == ("debian:*", "2026-07-01")


def test_policy_defaults_without_a_table(tmp_path: Path) -> None:
    policy = load_config(tmp_path, environ={}).policy
    assert policy.disable == frozenset()
    assert policy.exceptions == ()
    assert policy.size_budget_mb is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[policy]\ncolour = 1\n", "policy: unknown key(s) colour"),
        (
            '[policy]\nseverity = { "X" = "fatal" }\n',
            'policy.severity."X": expected one of error, warning, note',
        ),
        ("[policy]\nsize_budget_mb = 0\n", "size_budget_mb: must be positive"),
        ('[policy]\ndisable = "X"\n', "policy.disable: expected list"),
        ('[policy]\nexceptions = [{ rule = "X", expires = 2026-01-01 }]\n', "'reason' is required"),
        ('[policy]\nexceptions = [{ rule = "X", reason = "r" }]\n', "'expires' is required"),
        ('[policy]\nexceptions = [{ rule = "X", reason = " ", expires = 2026-01-01 }]\n', "must say why"),
        (
            '[policy]\nexceptions = [{ rule = "X", reason = "r", expires = "soon" }]\n',
            "expected a date YYYY-MM-DD",
        ),
        (
            '[policy]\nexceptions = [{ rule = "X", reason = "r", expires = 2026-01-01, when = 1 }]\n',
            "unknown key(s) when",
        ),
    ],
)
def test_invalid_policy_tables_are_rejected(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path / "repro.toml", text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, environ={})
    assert message in str(info.value)


def readme_config_block() -> str:
    from tests.conftest import repo_root

    text = (repo_root() / "README.md").read_text()
    start = text.index("```toml\n[tool.repro]\n") + len("```toml\n")
    return text[start : text.index("```", start)]


def test_the_readme_block_pasted_into_repro_toml_is_accepted(tmp_path: Path) -> None:
    write(tmp_path / "repro.toml", readme_config_block())
    config = load_config(tmp_path, environ={})
    assert config.source == tmp_path / "repro.toml"
    assert config.registry("127.0.0.1:5000").insecure
    assert config.registry("docker.io").mirrors == ("127.0.0.1:5000/hub",)
    assert config.lockfile == tmp_path / "repro.lock"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('timeout = 3\n[tool.repro]\nlockfile = "x"\n', r"not timeout beside \[tool.repro\]"),
        ("[tool.black]\nline-length = 1\n", r"not other \[tool.\*\] tables"),
        ("[tool.repro]\ntimeout = 3\n[tool.ruff]\nx = 1\n", r"not tool.ruff beside"),
    ],
)
def test_a_repro_toml_mixing_layouts_says_what_to_change(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path / "repro.toml", text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(tmp_path, environ={})
    assert caught.value.hint is not None
    assert "[registries." in caught.value.hint


def test_unknown_keys_name_the_likely_one(tmp_path: Path) -> None:
    write(tmp_path / "repro.toml", '[registries."h"]\ninsecur = true\n')
    with pytest.raises(ConfigError, match=r"insecur \(did you mean insecure\?\)") as caught:
        load_config(tmp_path, environ={})
    assert caught.value.hint is not None
    assert "mirrors" in caught.value.hint


def test_search_stops_at_the_repository_root(tmp_path: Path) -> None:
    write(tmp_path / "repro.toml", '[registries."outside.example"]\ninsecure = true\n')
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    dockerfile = write(tmp_path / "repo" / "app" / "Dockerfile", "FROM scratch\n")
    assert find_config_file(dockerfile) is None
    assert load_config(dockerfile, environ={}) == Config()
    write(tmp_path / "repo" / "repro.toml", '[registries."inside.example"]\ninsecure = true\n')
    assert find_config_file(dockerfile) == tmp_path / "repo" / "repro.toml"


def test_found_from_the_dockerfile_or_context_wherever_the_command_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    write(project / "repro.toml", '[registries."127.0.0.1:5000"]\ninsecure = true\n')
    context = project / "ctx"
    context.mkdir()
    elsewhere = tmp_path / "elsewhere"
    write(elsewhere / "repro.toml", "timeout = 1\n")
    monkeypatch.chdir(elsewhere)
    # a Dockerfile outside the project (-f) and the project's context: the context's file
    dockerfile = write(tmp_path / "dockerfiles" / "Dockerfile", "FROM scratch\n")
    config = load_config((dockerfile, context), environ={})
    assert config.source == project / "repro.toml"
    assert config.registry("127.0.0.1:5000").insecure
    # a command that names no file: the current directory's
    assert load_config(None, environ={}).source == elsewhere / "repro.toml"


def test_the_cache_directory_from_the_file_the_environment_and_xdg(tmp_path: Path) -> None:
    home = {"HOME": "/home/u"}
    assert cache_directory(load_config(tmp_path, environ={}), home) == Path("/home/u/.cache/repro")
    xdg = {**home, "XDG_CACHE_HOME": "/var/cache/u"}
    assert cache_directory(load_config(tmp_path, environ={}), xdg) == Path("/var/cache/u/repro")
    relative_xdg = {**home, "XDG_CACHE_HOME": "cache"}  # ignored, as the XDG spec says
    assert cache_directory(Config(), relative_xdg) == Path("/home/u/.cache/repro")
    write(tmp_path / "repro.toml", 'cache_dir = "build-cache"\ncache_max_mb = 512\n')
    config = load_config(tmp_path, environ={})
    assert (config.cache_dir, config.cache_max_mb) == (tmp_path / "build-cache", 512)
    assert cache_directory(config, xdg) == tmp_path / "build-cache"
    overridden = load_config(tmp_path, environ={"REPRO_CACHE_DIR": "/srv/repro-cache"})
    assert cache_directory(overridden, xdg) == Path("/srv/repro-cache")
