"""``repro refresh --commit``: the rewritten files as one commit on a new branch.

A scheduled job then needs one ``git push`` and one ``gh pr create``: the commit message
is the refresh's Markdown summary (which image moved, from which digest to which), so the
pull request can take its body from the commit. Only the files refresh wrote are
committed; anything else in the work tree is left as it was. The branch is named after
the change (``repro/refresh-<10 hex>``), so the same refresh twice names the same branch
and a second, different one never overwrites the first.

    >>> branch = commit_files([Path("Dockerfile")], "Refresh pinned base images")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from repro.errors import ProcessError, UsageError
from repro.process import Runner, run

__all__ = ["BRANCH_PREFIX", "commit_files"]

BRANCH_PREFIX = "repro/refresh"


def _git(runner: Runner, top: Path, *argv: str, input: bytes | None = None) -> str:
    try:
        completed = runner(["git", "-C", str(top), *argv], input=input, timeout=120)
    except ProcessError as exc:
        hint = None
        if "user.email" in str(exc) or "user.name" in str(exc) or "identity" in str(exc):
            hint = "set git config user.name and user.email (in CI: the bot's name and address)"
        raise UsageError(f"refresh --commit: git {argv[0]} failed: {exc}", hint=hint) from exc
    return completed.stdout.decode("utf-8", "replace").strip()


def commit_files(files: Sequence[Path], message: str, *, runner: Runner = run) -> str:
    """Commit ``files`` with ``message`` on a new branch of their repository; return the branch."""
    paths = sorted({path.resolve() for path in files})
    if not paths:
        raise UsageError("refresh --commit: no file was rewritten, nothing to commit")
    try:
        found = runner(["git", "-C", str(paths[0].parent), "rev-parse", "--show-toplevel"], timeout=60)
    except ProcessError as exc:
        raise UsageError(
            f"refresh --commit: {paths[0].parent} is not in a git work tree",
            hint="run it in a clone of the repository, or leave out --commit",
        ) from exc
    top = Path(found.stdout.decode("utf-8", "replace").strip()).resolve()
    relative = []
    for path in paths:
        if not path.is_relative_to(top):
            raise UsageError(f"refresh --commit: {path} is outside the repository {top}")
        relative.append(str(path.relative_to(top)))
    identity = hashlib.sha256(message.encode())
    for path in paths:
        identity.update(path.read_bytes())
    branch = f"{BRANCH_PREFIX}-{identity.hexdigest()[:10]}"
    _git(runner, top, "switch", "--create", branch)  # the rewritten files come along
    _git(runner, top, "add", "--", *relative)
    _git(runner, top, "commit", "--quiet", "--file", "-", "--", *relative, input=message.encode())
    return branch
