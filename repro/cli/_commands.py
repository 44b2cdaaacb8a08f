"""The table of commands: each group's module, the function that adds its parsers, and the
one-line help of every command in it.

``repro --help`` needs only the names and these lines; a command's full parser (and the
library modules its flags name, such as the engine registry) is built only when that
command runs, so that ``repro --version`` and ``repro pin --check`` do not pay for the
other commands. Each command module takes its help line from here, so the two never
disagree.
"""

from __future__ import annotations

from typing import Final


class CommandGroup:
    """Commands whose parsers one function of one ``repro.cli`` module adds together.

    A plain class: a NamedTuple or dataclass would cost this table's import a few
    milliseconds of every start-up.
    """

    __slots__ = ("adder", "commands", "module")

    def __init__(self, module: str, adder: str, commands: dict[str, str]) -> None:
        self.module = module
        self.adder = adder
        #: Command name -> its one-line help, in the order ``repro --help`` lists them.
        self.commands = commands


COMMAND_GROUPS: Final[tuple[CommandGroup, ...]] = (
    CommandGroup(
        "repro.cli.resolve", "_add_resolve_command", {"resolve": "resolve image references to digests"}
    ),
    CommandGroup(
        "repro.cli.pin",
        "_add_pin_commands",
        {
            "pin": "pin FROM (and other) image tags to digests",
            "refresh": "move pinned digests to where their tags point now",
        },
    ),
    CommandGroup(
        "repro.cli.build",
        "_add_build_commands",
        {
            "build": "build an image reproducibly into an OCI layout",
            "verify": "build twice, independently, and compare the digests",
            "diff": "compare two images and explain the differences",
        },
    ),
    CommandGroup(
        "repro.cli.sbom",
        "_add_sbom_commands",
        {"sbom": "write the SBOM of an image (CycloneDX, SPDX, table); compare two SBOMs"},
    ),
    CommandGroup(
        "repro.cli.push",
        "_add_push_command",
        {"push": "push an image from an OCI layout, with its referrers"},
    ),
    CommandGroup(
        "repro.cli.attest",
        "_add_attest_commands",
        {
            "keygen": "create a key pair for signing with --sign key",
            "verify-image": "verify an image's signed attestations",
        },
    ),
    CommandGroup(
        "repro.cli.policy",
        "_add_policy_commands",
        {"policy": "check Dockerfiles and images against Rego policies"},
    ),
    CommandGroup(
        "repro.cli.release",
        "_add_release_command",
        {"release": "pin check, build twice, SBOM, policy, sign, push, verify: fail-closed"},
    ),
    CommandGroup(
        "repro.cli.plan",
        "_add_plan_command",
        {"plan": "print a GitHub Actions matrix of the Dockerfiles under PATH, one release each"},
    ),
    CommandGroup(
        "repro.cli.doctor", "_add_doctor_command", {"doctor": "check what each feature needs on this machine"}
    ),
    CommandGroup(
        "repro.cli.completion", "_add_completion_command", {"completion": "print the shell completion script"}
    ),
)


def command_help(name: str) -> str:
    """The one-line help of the top-level command ``name``."""
    for group in COMMAND_GROUPS:
        if name in group.commands:
            return group.commands[name]
    raise KeyError(name)


def group_of(name: str) -> CommandGroup | None:
    """The group that holds the top-level command ``name``; None for anything else."""
    for group in COMMAND_GROUPS:
        if name in group.commands:
            return group
    return None
