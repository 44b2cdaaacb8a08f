from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from repro import __version__, errors
from repro.cli import build_parser, main
from repro.errors import EXIT_CHECK_FAILED, EXIT_CONFIG, EXIT_FILE_ACCESS, EXIT_INTERNAL, EXIT_USAGE

_real_build_parser = build_parser


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"repro {__version__}"


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "resolve" in out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "repro: error: no command given" in err


def test_bad_arguments_exit_with_the_usage_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["resolve"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "the following arguments are required: REF" in err
    assert "hint: run 'repro --help'" in err


def test_invalid_reference_is_one_line_and_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["resolve", "Not/Valid"]) == EXIT_USAGE
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("repro: error: ")
    assert "Not/Valid" in err[0]
    assert err[1].startswith("hint: ")
    assert len(err) == 2, "no traceback without -v"


def test_traceback_only_with_verbose(capsys: pytest.CaptureFixture[str], tmp_path: object) -> None:
    assert main(["-v", "resolve", "Not/Valid"]) == EXIT_USAGE
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_config_errors_use_the_config_exit_code(
    capsys: pytest.CaptureFixture[str], tmp_path: pytest.TempPathFactory
) -> None:
    assert main(["--config", "/nonexistent/repro.toml", "resolve", "busybox"]) == EXIT_CONFIG
    assert "configuration file not found" in capsys.readouterr().err


def test_python_dash_m_runs_the_same_cli() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "repro", "--version"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0
    assert completed.stdout.strip() == f"repro {__version__}"


# -- every outcome has a documented exit code ------------------------------------------


def _crash(args: object) -> int:
    raise KeyError("the unexpected")


def test_unexpected_exception_is_exit_70_without_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("repro.cli.build_parser", _parser_with_crashing_resolve)
    assert main(["resolve", "busybox"]) == EXIT_INTERNAL != EXIT_CHECK_FAILED
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[0] == "repro: error: internal error: KeyError: 'the unexpected'"
    assert "-v" in err.splitlines()[1]


def test_unexpected_exception_shows_the_traceback_with_v(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("repro.cli.build_parser", _parser_with_crashing_resolve)
    assert main(["resolve", "busybox", "-v"]) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "KeyError: 'the unexpected'" in err


def _parser_with_crashing_resolve(command: str | None = None) -> argparse.ArgumentParser:
    from repro.cli import _command_parsers

    parser = _real_build_parser(command)
    for leaf in _command_parsers(parser):
        if leaf.prog.endswith(" resolve"):
            leaf.set_defaults(handler=_crash)
    return parser


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (PermissionError(13, "Permission denied", "/ro/dir/Dockerfile"), EXIT_FILE_ACCESS),
        (FileNotFoundError(2, "No such file or directory", "/gone"), EXIT_FILE_ACCESS),
        (OSError(28, "No space left on device", "/full/x"), EXIT_FILE_ACCESS),
        (RecursionError("maximum recursion depth exceeded"), EXIT_INTERNAL),
        (MemoryError(), EXIT_INTERNAL),
        (ValueError("cannot convert float NaN to integer"), EXIT_INTERNAL),
        (OSError("no file named"), EXIT_INTERNAL),
    ],
)
def test_os_and_unexpected_errors_map_to_documented_codes(
    exc: BaseException, code: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def raising(args: object) -> int:
        raise exc

    monkeypatch.setattr("repro.cli.build_parser", lambda command=None: _parser_with_handler(raising))
    assert main(["resolve", "busybox"]) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("repro: error: ")
    if code == EXIT_FILE_ACCESS:
        assert str(getattr(exc, "filename", "")) in err


def _parser_with_handler(handler: object) -> argparse.ArgumentParser:
    from repro.cli import _command_parsers

    parser = _real_build_parser()
    for command in _command_parsers(parser):
        command.set_defaults(handler=handler)
    return parser


def test_every_error_class_has_a_documented_code_in_main(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.unit.test_errors import all_error_classes

    for cls in all_error_classes():

        def raising(args: object, cls: type[errors.Error] = cls) -> int:
            raise cls("boom")

        monkeypatch.setattr(
            "repro.cli.build_parser", lambda command=None, raising=raising: _parser_with_handler(raising)
        )
        assert (
            main(["resolve", "busybox"]) == cls.exit_code != EXIT_CHECK_FAILED
            or cls is errors.CheckFailedError
        )
        assert capsys.readouterr().err.startswith("repro: error: boom")


# -- global options before or after the command --------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["-v", "resolve", "Not/Valid"],
        ["resolve", "Not/Valid", "-v"],
        ["resolve", "-v", "Not/Valid"],
        ["-vv", "resolve", "Not/Valid"],
        ["resolve", "Not/Valid", "-vv"],
        ["--verbose", "resolve", "Not/Valid"],
    ],
)
def test_verbose_before_or_after_the_command(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == EXIT_USAGE
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_verbose_counts_add_up(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[argparse.Namespace] = []

    def record(args: argparse.Namespace) -> int:
        seen.append(args)
        return 0

    monkeypatch.setattr("repro.cli.build_parser", lambda command=None: _parser_with_handler(record))
    assert main(["-v", "resolve", "busybox", "-v", "--config", "c.toml", "--json"]) == 0
    assert (seen[0].verbose, seen[0].config, seen[0].json) == (2, Path("c.toml"), True)
    assert main(["--json", "--config", "c.toml", "resolve", "busybox"]) == 0
    assert (seen[1].verbose, seen[1].config, seen[1].json) == (0, Path("c.toml"), True)
    assert main(["resolve", "busybox"]) == 0
    assert (seen[2].verbose, seen[2].config, seen[2].json) == (0, None, False)


def test_config_after_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["resolve", "busybox", "--config", "/nonexistent/repro.toml"]) == EXIT_CONFIG
    assert "configuration file not found" in capsys.readouterr().err


def test_two_different_configs_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", "a.toml", "resolve", "busybox", "--config", "b.toml"]) == EXIT_USAGE
    assert "--config given twice" in capsys.readouterr().err


def test_json_before_a_command_without_json_output_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json", "policy", "test", "."]) == EXIT_USAGE
    assert "has no JSON output" in capsys.readouterr().err


def test_nan_timeout_in_the_environment_is_a_config_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPRO_TIMEOUT", "nan")
    assert main(["resolve", "busybox"]) == EXIT_CONFIG
    assert "REPRO_TIMEOUT" in capsys.readouterr().err


def test_binary_config_is_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "repro.toml"
    config.write_bytes(bytes(range(256)))
    assert main(["--config", str(config), "resolve", "busybox"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "not UTF-8" in err


def test_build_warns_loudly_about_a_secret_build_argument(capsys: pytest.CaptureFixture[str]) -> None:
    from repro.cli._common import _warn_secret_build_args

    _warn_secret_build_args({"MY_PASS": "hunter2hunter2", "VERSION": "1.2"})
    err = capsys.readouterr().err
    assert "WARNING: build argument MY_PASS looks like a secret" in err
    assert "--secret id=MY_PASS" in err
    assert "hunter2hunter2" not in err
    assert "VERSION" not in err


def test_a_secret_build_argument_never_reaches_an_error_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from repro import redact

    def failing(args: argparse.Namespace) -> int:
        from repro.cli._common import _build_args

        _build_args(args)
        raise errors.BuildError("buildah bud --build-arg MY_PASS=hunter2hunter2 failed: echo hunter2hunter2")

    monkeypatch.setattr("repro.cli.build_parser", lambda command=None: _parser_with_handler(failing))
    try:
        assert main(["build", ".", "-o", "oci:out", "--build-arg", "MY_PASS=hunter2hunter2", "-v"]) == 5
    finally:
        redact.forget_all()
    err = capsys.readouterr().err
    assert "hunter2hunter2" not in err
    assert "Traceback" in err
