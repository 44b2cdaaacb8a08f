from __future__ import annotations

import re

import pytest

from repro import errors
from tests.conftest import repo_root


def all_error_classes() -> list[type[errors.Error]]:
    found: list[type[errors.Error]] = []
    pending: list[type[errors.Error]] = [errors.Error]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda c: c.__name__)
def test_every_error_has_an_exit_code_and_a_docstring(cls: type[errors.Error]) -> None:
    assert isinstance(cls.exit_code, int)
    assert 0 < cls.exit_code < 256
    assert cls.__doc__, f"{cls.__name__} needs a docstring saying when it is raised"
    err = cls("something went wrong")
    assert str(err) == "something went wrong"


def test_hint_defaults_per_class_and_can_be_overridden() -> None:
    assert errors.RegistryUnreachableError("x").hint == errors.RegistryUnreachableError.default_hint
    assert errors.RegistryError("x", hint="try again").hint == "try again"


def test_registry_errors_share_the_registry_exit_code() -> None:
    for cls in all_error_classes():
        if issubclass(cls, errors.RegistryError):
            assert cls.exit_code == errors.EXIT_REGISTRY


def test_readme_exit_code_table_matches_the_code() -> None:
    readme = (repo_root() / "README.md").read_text()
    section = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| `?(\d+)`? \|", section, re.MULTILINE)}
    defined = {value for name, value in vars(errors).items() if name.startswith("EXIT_")}
    assert documented == defined
