"""The engine flags that build, verify and release share: ``--engine``, ``--engines``,
and the settings of engines that take some (``--docker-host``, ``--builder``)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING

from repro.errors import UsageError

if TYPE_CHECKING:
    from repro.config import Config

#: Flag destination -> (engine, setting): a flag given on the command line wins over
#: ``[tool.repro.engines.ENGINE]``.
_ENGINE_SETTING_FLAGS: dict[str, tuple[str, str]] = {
    "docker_host": ("docker", "host"),
    "builder": ("docker", "builder"),
}


def add_engine_options(command: argparse.ArgumentParser, *, pair: bool = False) -> None:
    """``--engine`` (and, with ``pair``, ``--engines A,B``) plus the engines' own settings."""
    from repro.build.engines import engine_names

    names = ", ".join(engine_names())
    command.add_argument(
        "--engine",
        metavar="NAME",
        help=f"build with this engine: {names} (default: REPRO_ENGINE, [tool.repro] engine, else buildah)",
    )
    if pair:
        command.add_argument(
            "--engines",
            metavar="A,B",
            help="build once with each of two engines and compare (e.g. buildah,docker)",
        )
    command.add_argument(
        "--docker-host",
        metavar="URL",
        help="docker engine: the daemon, unix:///PATH, tcp://HOST:PORT (TLS from DOCKER_TLS_VERIFY "
        "and DOCKER_CERT_PATH) or ssh://[USER@]HOST (default: DOCKER_HOST, else the docker context)",
    )
    command.add_argument(
        "--builder",
        metavar="NAME",
        help="docker engine: the buildx builder to build on (needs the buildx plugin)",
    )


def engine_names_arg(args: argparse.Namespace) -> tuple[str, ...]:
    """The engines the flags name: ``--engine NAME`` or ``--engines A,B``; () if neither."""
    single = getattr(args, "engine", None)
    pair = getattr(args, "engines", None)
    if single and pair:
        raise UsageError("--engine and --engines are exclusive")
    if pair:
        names = tuple(name.strip() for name in pair.split(","))
        if len(names) != 2 or not all(names):
            raise UsageError(f"--engines {pair}: expected two engine names, A,B")
        return names
    return (single.strip(),) if single else ()


def with_engine_settings(args: argparse.Namespace, config: Config) -> Config:
    """``config`` with the engine-setting flags given on the command line applied."""
    options = {name: dict(settings) for name, settings in config.engine_options.items()}
    for dest, (engine, setting) in _ENGINE_SETTING_FLAGS.items():
        value = getattr(args, dest, None)
        if value:
            options.setdefault(engine, {})[setting] = value
    return dataclasses.replace(config, engine_options=options)
