"""The engine registry: choosing an engine (flag, REPRO_ENGINE, config, default), engine
settings, the CLI flags, and verify with two engines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from repro.build import BuildSpec, build
from repro.build.buildah import BuildahEngine
from repro.build.engines import (
    DEFAULT_ENGINE,
    ENGINES,
    choose_engine_names,
    create_engine,
    engine_class,
    engine_names,
    engine_noise,
)
from repro.cli import main
from repro.config import Config, load_config
from repro.errors import EXIT_OK, EXIT_USAGE, ConfigError, UsageError
from repro.layers.noise import EngineNoise
from repro.layers.normalize import normalize_config
from repro.oci.layout import ImageLayout
from repro.reproduce.verify import verify
from tests.unit.build.fakes import FakeEngine

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    monkeypatch.delenv("REPRO_ENGINE", raising=False)
    directory = tmp_path / "ctx"
    directory.mkdir()
    (directory / "Dockerfile").write_text(f"FROM busybox@{DIGEST}\nRUN echo hi > /out.txt\n")
    return directory


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[FakeEngine, dict[str, str]]]]:
    """Two stand-in engines registered as ``fake`` and ``other``."""
    monkeypatch.setitem(ENGINES, "fake", "tests.unit.build.fakes:FakeEngine")
    monkeypatch.setitem(ENGINES, "other", "tests.unit.build.fakes:FakeEngine")
    FakeEngine.made.clear()
    yield FakeEngine.made
    FakeEngine.made.clear()


def test_buildah_is_registered_and_the_default() -> None:
    assert "buildah" in engine_names()
    assert DEFAULT_ENGINE == "buildah"
    assert choose_engine_names((), config=Config()) == ("buildah",)
    assert engine_class("buildah") is BuildahEngine


def test_flag_wins_over_config_and_environment(tmp_path: Path) -> None:
    (tmp_path / "repro.toml").write_text('engine = "buildah"\n')
    config = load_config(tmp_path, environ={"REPRO_ENGINE": "buildah"})
    assert config.engine == "buildah"
    assert choose_engine_names(("buildah", "buildah"), config=config) == ("buildah", "buildah")


def test_repro_engine_wins_over_the_file(tmp_path: Path, fakes: object) -> None:
    (tmp_path / "repro.toml").write_text('engine = "buildah"\n')
    assert load_config(tmp_path, environ={}).engine == "buildah"
    config = load_config(tmp_path, environ={"REPRO_ENGINE": "fake"})
    assert choose_engine_names((), config=config) == ("fake",)


def test_unknown_engine_is_a_usage_error_naming_the_choices() -> None:
    with pytest.raises(UsageError, match="unknown engine 'podman'") as info:
        choose_engine_names(("podman",), config=Config())
    assert info.value.exit_code == EXIT_USAGE
    assert "buildah" in (info.value.hint or "")
    with pytest.raises(UsageError, match="unknown engine 'nope'"):
        choose_engine_names((), config=Config(engine="nope"))


def test_engine_settings_come_from_the_config_table_and_flags(
    tmp_path: Path, fakes: list[tuple[FakeEngine, dict[str, str]]]
) -> None:
    (tmp_path / "repro.toml").write_text('[engines.fake]\nname = "from-file"\ncontent = "x"\n')
    config = load_config(tmp_path, environ={})
    assert config.engine_options == {"fake": {"name": "from-file", "content": "x"}}
    engine = create_engine("fake", config=config, options={"name": "from-flag"})
    assert engine.identity().name == "from-flag"
    assert fakes[-1][1] == {"name": "from-flag", "content": "x"}


def test_engine_settings_must_be_strings(tmp_path: Path) -> None:
    (tmp_path / "repro.toml").write_text("[engines.docker]\nhost = 5\n")
    with pytest.raises(ConfigError, match=r"engines\.docker\.host: expected str"):
        load_config(tmp_path, environ={})


def test_buildah_takes_no_settings() -> None:
    with pytest.raises(ConfigError, match=r"engines\.buildah: unknown setting"):
        create_engine("buildah", config=Config(engine_options={"buildah": {"host": "x"}}))


def test_noise_of_every_engine_is_removed_whoever_built() -> None:
    noise = engine_noise()
    assert "io.buildah.version" in noise.labels
    config = {
        "config": {"Labels": {"io.buildah.version": "1.28.2", "org.example.keep": "yes"}},
        "container": "0123abcd",
    }
    out = normalize_config(config, [], 0, noise=noise | EngineNoise(config_keys=frozenset({"x"})))
    assert out["config"]["Labels"] == {"org.example.keep": "yes"}  # user labels stay
    assert "container" not in out


def test_build_uses_the_engine_the_spec_names(ctx: Path, tmp_path: Path, fakes: list[object]) -> None:
    result = build(BuildSpec(ctx, output=tmp_path / "out", engines=("fake",)), config=Config())
    assert (result.engine.name, result.engine.version) == ("fake", "0.0")
    assert len(fakes) == 1


def test_build_refuses_two_engines(ctx: Path, tmp_path: Path, fakes: object) -> None:
    with pytest.raises(UsageError, match="one engine"):
        build(BuildSpec(ctx, output=tmp_path / "out", engines=("fake", "other")), config=Config())


def test_verify_with_two_engines_builds_once_with_each(ctx: Path, tmp_path: Path) -> None:
    first, second = FakeEngine(name="one"), FakeEngine(name="two")
    result = verify(BuildSpec(ctx, output=tmp_path / "out"), config=Config(), engines=[first, second])
    assert result.reproducible
    assert (len(first.requests), len(second.requests)) == (1, 1)
    assert [str(b.engine) for b in result.builds] == ["one 0.0", "two 0.0"]
    assert result.to_json()["engines"] == ["one 0.0", "two 0.0"]
    assert ImageLayout.open(tmp_path / "out").find("latest").digest == result.digest


def test_verify_with_two_engines_that_disagree_names_both(ctx: Path) -> None:
    engines = [FakeEngine(name="one"), FakeEngine(content=b"other\n", name="two")]
    result = verify(BuildSpec(ctx), config=Config(), engines=engines, concurrent=False)
    assert not result.reproducible
    assert result.diff is not None
    assert result.diff.a_name.startswith("build A (one 0.0; LC_ALL=C.UTF-8, TZ=UTC")
    assert result.diff.b_name.startswith("build B (two 0.0; LC_ALL=fr_FR.UTF-8, TZ=Pacific/Kiritimati")


def test_verify_refuses_three_engines(ctx: Path) -> None:
    with pytest.raises(UsageError, match="one or two engines"):
        verify(BuildSpec(ctx), config=Config(), engines=[FakeEngine()] * 3)


def test_cli_engine_flags(
    ctx: Path, tmp_path: Path, fakes: list[object], capsys: pytest.CaptureFixture[str]
) -> None:
    out = f"oci:{tmp_path / 'out'}"
    assert main(["build", str(ctx), "-o", out, "--engine", "fake", "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["engine"] == {"name": "fake", "version": "0.0"}
    assert main(["verify", str(ctx), "--engines", "fake,other", "--sequential", "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["reproducible"] is True
    assert len(fakes) == 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["verify", "--engines", "fake"], "expected two engine names"),
        (["verify", "--engines", "fake,"], "expected two engine names"),
        (["verify", "--engine", "fake", "--engines", "fake,other"], "exclusive"),
        (["verify", "--engine", "podman"], "unknown engine 'podman'"),
    ],
)
def test_cli_bad_engine_flags_are_usage_errors(
    ctx: Path, fakes: list[object], capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main([argv[0], str(ctx), *argv[1:]]) == EXIT_USAGE
    assert message in capsys.readouterr().err
    assert fakes == []
