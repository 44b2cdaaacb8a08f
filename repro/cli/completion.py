"""``repro completion SHELL``: print the shell completion script (bash, zsh or fish).

The script is generated from the real argument parser by ``shtab``, so it always knows the
current commands and flags. Install it the usual way, e.g.
``repro completion bash > /etc/bash_completion.d/repro`` or
``repro completion zsh > "${fpath[1]}/_repro"``, or
``repro completion fish > ~/.config/fish/completions/repro.fish``.
"""

from __future__ import annotations

import argparse
import sys

from repro.cli._commands import command_help
from repro.cli._common import _Parser
from repro.errors import EXIT_OK

SHELLS = ("bash", "zsh", "fish")


def _cmd_completion(args: argparse.Namespace) -> int:
    import shtab

    from repro.cli import build_parser

    sys.stdout.write(shtab.complete(build_parser(), shell=args.shell))
    return EXIT_OK


def _add_completion_command(commands: argparse._SubParsersAction[_Parser]) -> None:
    completion = commands.add_parser(
        "completion",
        help=command_help("completion"),
        description="Print the completion script for SHELL on stdout, generated from repro's own "
        "argument parser. bash: repro completion bash > /etc/bash_completion.d/repro (or source it "
        'from ~/.bashrc); zsh: repro completion zsh > "${fpath[1]}/_repro"; fish: repro completion fish '
        "> ~/.config/fish/completions/repro.fish.",
    )
    completion.add_argument("shell", choices=SHELLS, metavar="SHELL", help=f"one of {', '.join(SHELLS)}")
    completion.set_defaults(handler=_cmd_completion)
