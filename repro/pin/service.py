"""``pin``, ``check`` and ``refresh``: the library behind the commands of the same names.

    >>> report = pin_paths(["."], client=client)             # doctest: +SKIP
    >>> [str(r.site) for r in report.results if r.action == "pinned"]  # doctest: +SKIP
    ['Dockerfile:1']

Each file is its own unit: a file that cannot be read or parsed, or a reference that
cannot be resolved, is reported as ``file:line: reason`` and everything else is still
done; the report's ``exit_code`` is then the "partial" code. With ``fail_fast`` any
failure stops the command before anything is written. Every distinct reference is
resolved once through ``client.resolve_many``. A file is replaced atomically, and only if
it still holds the bytes it was read with; each lock file is updated under an exclusive
lock, merged with what concurrent runs wrote, for the files that were pinned.

One module, though long: pin, check and refresh walk the same files, resolve through the
same batch and write through the same guarded path; their differences are a few branches.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from repro.digest import Digest
from repro.errors import (
    EXIT_DOCKERFILE,
    EXIT_USAGE,
    DockerfileError,
    Error,
    PartialError,
    PlatformNotFoundError,
    RegistryError,
)
from repro.fsutil import ChangedSinceReadError, atomic_write_each, locked
from repro.lock import LOCK_FILENAME, LockEntry, Lockfile, LockfileError, lock_key, read_lock, timestamp
from repro.oci.media import INDEX_TYPES
from repro.pin.model import (
    Action,
    CheckReport,
    FileChange,
    FileOutcome,
    FileStatus,
    FindingKind,
    PinFinding,
    PinReport,
    PinResult,
    RefreshChange,
    RefreshReport,
    Site,
)
from repro.pin.rewrite import Edit, EditConflictError, apply_edits
from repro.pin.scan import Scan, ScannedFile, Use, required_platforms, scan_paths
from repro.platform import Platform
from repro.reference import ImageRef, parse_reference

__all__ = [
    "FunctionResolver",
    "PlatformDigest",
    "Resolution",
    "ResolvedLike",
    "Resolver",
    "check_paths",
    "pin_paths",
    "refresh_paths",
]

logger = logging.getLogger(__name__)


Clock = Callable[[], datetime.datetime]


# --- what pin needs from a registry client ----------------------------------------------


class PlatformManifestLike(Protocol):
    @property
    def platform(self) -> Platform: ...

    @property
    def digest(self) -> Digest: ...


class ResolvedLike(Protocol):
    """What a resolution must tell: the digest, its media type, and per-platform digests."""

    @property
    def digest(self) -> Digest: ...

    @property
    def media_type(self) -> str: ...

    @property
    def platforms(self) -> Sequence[PlatformManifestLike]: ...


class Resolver(Protocol):
    """Anything that resolves many references at once; :class:`repro.registry.RegistryClient` is one."""

    def resolve_many(self, refs: list[ImageRef]) -> Mapping[ImageRef, ResolvedLike | RegistryError]: ...


@dataclass(frozen=True)
class PlatformDigest:
    platform: Platform
    digest: Digest


@dataclass(frozen=True)
class Resolution:
    """A plain :class:`ResolvedLike`, for resolvers that are not a registry client."""

    digest: Digest
    media_type: str
    platforms: tuple[PlatformDigest, ...] = ()


@dataclass
class FunctionResolver:
    """A :class:`Resolver` from a function (or a dict) of one reference.

    The function gets canonical references (``docker.io/library/debian:bookworm``) and
    raises :class:`~repro.errors.RegistryError` for one it cannot resolve.
    """

    resolve: Callable[[ImageRef], ResolvedLike]
    calls: list[ImageRef] = field(default_factory=list)

    @classmethod
    def from_mapping(cls, table: Mapping[str, ResolvedLike]) -> FunctionResolver:
        """Resolve from ``{"docker.io/library/debian:bookworm": Resolution(...)}``."""

        def lookup(ref: ImageRef) -> ResolvedLike:
            try:
                return table[str(ref)]
            except KeyError:
                from repro.errors import NotFoundError

                raise NotFoundError(f"{ref}: manifest unknown") from None

        return cls(lookup)

    def resolve_many(self, refs: list[ImageRef]) -> dict[ImageRef, ResolvedLike | RegistryError]:
        results: dict[ImageRef, ResolvedLike | RegistryError] = {}
        for ref in refs:
            self.calls.append(ref)
            try:
                results[ref] = self.resolve(ref)
            except RegistryError as exc:
                results[ref] = exc
        return results


# --- helpers ----------------------------------------------------------------------------


def _tag_ref(ref: ImageRef) -> ImageRef:
    """The canonical ``name:tag`` to ask a registry for (``latest`` when none was written)."""
    return parse_reference(f"{ref.name}:{ref.effective_tag}")


def _digest_ref(ref: ImageRef) -> ImageRef:
    return parse_reference(f"{ref.name}@{ref.digest}")


def _platform_digests(resolved: ResolvedLike) -> tuple[tuple[Platform, Digest], ...]:
    return tuple((entry.platform, entry.digest) for entry in resolved.platforms)


def _from_lock(entry: LockEntry) -> Resolution:
    """What the lock says a digest is, standing in for asking the registry again."""
    platforms = tuple(PlatformDigest(Platform.parse(p), d) for p, d in entry.platforms.items())
    return Resolution(entry.digest, entry.media_type or "", platforms)


def _is_index(resolved: ResolvedLike) -> bool:
    return resolved.media_type in INDEX_TYPES


def _platform_problem(
    text: str, have: Sequence[Platform], is_index: bool, required: Sequence[Platform]
) -> str | None:
    if not required:
        return None
    if is_index:
        missing = [p for p in required if not any(h.matches(p) for h in have)]
        if missing:
            listed = ", ".join(sorted({str(h) for h in have})) or "no platforms"
            return f"{text} has no manifest for {', '.join(map(str, missing))} (its index has {listed})"
        return None
    if len(required) > 1:
        return (
            f"{text} is a single-platform manifest, but the build targets "
            f"{', '.join(map(str, required))}: pin the index (the tag) instead"
        )
    return None


def _relative(path: Path, directory: Path) -> str:
    return Path(os.path.relpath(path.resolve(), directory.resolve())).as_posix()


# --- lock files ---------------------------------------------------------------------------


@dataclass
class _LockPlan:
    """One lock file: the files it covers in this run, its old content, its new entries."""

    path: Path
    old: Lockfile | None
    #: Files whose entries this run replaces (those done); the others keep theirs.
    done: set[str] = field(default_factory=set)
    entries: dict[str, LockEntry] = field(default_factory=dict)
    first_site: dict[str, Site] = field(default_factory=dict)


class _Locks:
    def __init__(self, files: Sequence[ScannedFile], lockfile: Path | None) -> None:
        self.plans: dict[Path, _LockPlan] = {}
        self.by_file: dict[str, _LockPlan] = {}
        #: Each file's path relative to its lock's directory (as the lock records it).
        self.relative: dict[str, str] = {}
        #: Entries recorded per file, committed to the plan only once the file is done.
        self.pending: dict[str, list[tuple[LockEntry, Site, str]]] = {}
        for scanned in files:
            path = lockfile if lockfile is not None else scanned.path.parent / LOCK_FILENAME
            key = path.absolute()
            plan = self.plans.get(key)
            if plan is None:
                plan = self.plans[key] = _LockPlan(path, read_lock(path))
            self.relative[scanned.display] = _relative(scanned.path, path.parent)
            self.by_file[scanned.display] = plan

    def check_destinations(self) -> None:
        """Refuse before anything is written when a lock file could not be written."""
        for plan in self.plans.values():
            directory = plan.path.parent
            if not directory.is_dir():
                raise LockfileError(
                    f"{plan.path}: the directory {directory} does not exist; nothing was written",
                    hint="create the directory or point --lockfile (or lockfile) elsewhere",
                )
            if plan.path.exists() and not plan.path.is_file():
                raise LockfileError(f"{plan.path}: not a regular file; nothing was written")
            if not os.access(directory, os.W_OK):
                raise LockfileError(
                    f"{plan.path}: the directory {directory} is not writable; nothing was written",
                    hint="pass --no-lock, or point --lockfile elsewhere",
                )

    def old_entry(self, use: Use, ref: ImageRef) -> LockEntry | None:
        """The old lock's verified entry for ``ref``, if it records the same digest."""
        old = self.by_file[use.site.file].old
        if old is None or ref.digest is None:
            return None
        entry = old.get(lock_key(ref.name, ref.tag, ref.digest))
        if entry is None or entry.digest != ref.digest or not entry.verified:
            return None
        return entry

    def has_lock(self, use: Use) -> bool:
        return self.by_file[use.site.file].old is not None

    def record(
        self,
        use: Use,
        scanned: ScannedFile,
        *,
        ref: ImageRef,
        digest: Digest,
        media_type: str | None,
        platforms: Iterable[tuple[Platform, Digest]],
        now: str,
        verified: bool = True,
    ) -> None:
        plan = self.by_file[use.site.file]
        key = lock_key(ref.name, ref.tag, digest)
        previous = plan.old.get(key) if plan.old is not None else None
        resolved_at = previous.resolved_at if previous is not None and previous.digest == digest else now
        entry = LockEntry(
            name=ref.name,
            tag=ref.tag,
            digest=digest,
            resolved_at=resolved_at,
            media_type=media_type,
            platforms={str(p): d for p, d in platforms},
            files=(self.relative[scanned.display],),
            verified=verified,
        )
        self.pending.setdefault(scanned.display, []).append((entry, use.site, use.text))

    def commit(self, display: str, notes: list[PinFinding]) -> None:
        """The file is done (written, or nothing to write): its entries go into its lock."""
        plan = self.by_file[display]
        plan.done.add(self.relative[display])
        for entry, site, text in self.pending.pop(display, []):
            key = entry.key
            existing = plan.entries.get(key)
            if existing is None:
                plan.entries[key] = entry
                plan.first_site[key] = site
            elif existing.digest != entry.digest:
                notes.append(
                    PinFinding(
                        site,
                        FindingKind.NOTE,
                        f"{text} is pinned to {entry.digest} here but to {existing.digest} at "
                        f"{plan.first_site[key]}; {plan.path} records the latter",
                        text,
                    )
                )
            else:
                verified = existing.verified and entry.verified
                best = existing if existing.verified or not entry.verified else entry
                plan.entries[key] = LockEntry(
                    name=best.name,
                    tag=best.tag,
                    digest=best.digest,
                    resolved_at=best.resolved_at,
                    media_type=best.media_type,
                    platforms=best.platforms,
                    files=existing.files + entry.files,
                    verified=verified or best.verified,
                )

    def merged(self, plan: _LockPlan, current: Lockfile | None) -> Lockfile:
        """The new lock: this run's entries, plus the current entries of files not done."""
        entries: dict[str, LockEntry] = {}
        for key, old in (current.images if current is not None else {}).items():
            others = tuple(f for f in old.files if f not in plan.done)
            if others:
                entries[key] = dataclasses.replace(old, files=others)
        for key, new in plan.entries.items():
            kept = entries.get(key)
            if kept is not None and kept.digest != new.digest:
                # Another file (not part of this run) pins the tag elsewhere: keep both
                # files listed under this run's digest would lie; keep the other's entry.
                continue
            files = new.files + (kept.files if kept is not None else ())
            entries[key] = dataclasses.replace(new, files=files)
        return Lockfile(entries)

    def write(self, dry_run: bool) -> list[FileChange]:
        """Write every lock that changes, each under its lock and merged with what is there now."""
        changes: list[FileChange] = []
        for plan in self.plans.values():
            if not plan.done:
                continue
            if dry_run:
                old = plan.path.read_bytes() if plan.old is not None else b""
                data = self.merged(plan, plan.old).dumps()
                if data != old:
                    changes.append(FileChange(plan.path, str(plan.path), old, data))
                continue
            if not plan.entries and not plan.path.exists():
                continue  # nothing to record, and no lock to update: write none
            with locked(plan.path):
                current_bytes = plan.path.read_bytes()
                current = Lockfile.loads(current_bytes, where=str(plan.path)) if current_bytes else None
                data = self.merged(plan, current).dumps()
                if data != current_bytes:
                    failures = atomic_write_each([(plan.path, data, None)])
                    if failures:
                        error = failures[0]
                        raise LockfileError(f"{plan.path}: cannot write: {error.strerror or error}")
                    changes.append(FileChange(plan.path, str(plan.path), current_bytes, data, written=True))
        return changes


# --- pin and refresh --------------------------------------------------------------------


@dataclass
class _Outcome:
    results: list[PinResult] = field(default_factory=list)
    edits: dict[str, list[Edit]] = field(default_factory=dict)
    changes: dict[tuple[str, str, Digest, Digest], list[Site]] = field(default_factory=dict)
    first_text: dict[tuple[str, str, Digest, Digest], str] = field(default_factory=dict)
    notes: list[PinFinding] = field(default_factory=list)
    #: References that could not be resolved, with the error (for --fail-fast).
    errors: list[tuple[Site, str, Error]] = field(default_factory=list)
    #: Every file and reference left undone.
    failures: list[PinFinding] = field(default_factory=list)
    files: list[FileOutcome] = field(default_factory=list)
    checked: int = 0

    def fail(self, site: Site, text: str, message: str, code: int | None) -> None:
        self.failures.append(PinFinding(site, FindingKind.FAILED, message, text, code))


def _raise_failures(errors: list[tuple[Site, str, Error]]) -> None:
    if not errors:
        return
    lines = [f"{site}: {text}: {err}" if text else f"{site}: {err}" for site, text, err in errors]
    first = errors[0][2]
    if len(errors) == 1:
        raise type(first)(lines[0], hint=first.hint)
    kinds = {type(err) for _, _, err in errors}
    cls: type[Error] = kinds.pop() if len(kinds) == 1 else PartialError
    raise cls(f"{len(errors)} problems; nothing was written:\n  " + "\n  ".join(lines), hint=first.hint)


def _unscanned_failures(scan: Scan, out: _Outcome) -> None:
    """Files that were not scanned: notes for non-Dockerfiles, failures for the rest.

    Also the warnings of the files scanned: what BuildKit may refuse but touches no image.
    """
    for scanned in scan.files:
        for warning in scanned.warnings:
            line = warning.removeprefix(f"{scanned.display}:").partition(":")[0]
            message = warning.removeprefix(f"{scanned.display}:{line}: ")
            site = Site(scanned.display, int(line) if line.isdigit() else 0, "file")
            out.notes.append(PinFinding(site, FindingKind.NOTE, f"warning: {message}"))
    for path, why in scan.passed_over:
        out.notes.append(PinFinding(Site(path, 0, "file"), FindingKind.NOTE, f"skipped: {why}"))
    for item in scan.unscanned:
        if item.skipped:
            out.notes.append(PinFinding(item.site, FindingKind.NOTE, f"skipped: {item.reason}"))
            out.files.append(FileOutcome(item.display, FileStatus.SKIPPED, item.reason))
            continue
        out.fail(item.site, "", item.reason, item.exit_code)
        error: Error = (
            DockerfileError(f"{item.reason}")
            if item.exit_code == EXIT_DOCKERFILE
            else PartialError(item.reason)
        )
        out.errors.append((item.site, "", error))
        out.files.append(FileOutcome(item.display, FileStatus.FAILED, item.reason))


def _run(
    paths: Iterable[Path | str],
    *,
    client: Resolver,
    platforms: Sequence[Platform],
    pin_unpinned: bool,
    update_pinned: bool,
    dry_run: bool,
    lockfile: Path | None,
    write_locks: bool,
    build_args: Mapping[str, str] | None,
    now: Clock | None,
    fail_fast: bool,
) -> tuple[_Outcome, list[FileChange], list[Path]]:
    scan = scan_paths(paths, build_args=build_args)
    out = _Outcome()
    _unscanned_failures(scan, out)
    if fail_fast:
        _raise_failures(out.errors)
    files = scan.files
    locks = _Locks(files, lockfile) if write_locks else None
    if locks is not None and not dry_run:
        locks.check_destinations()
    stamp = timestamp(now() if now is not None else None)

    # 1. What must be asked of the registry: each distinct reference once.
    wanted: dict[ImageRef, None] = {}
    for scanned in files:
        for use in scanned.uses:
            ref = use.ref
            if ref is None:
                continue
            try:
                required = required_platforms(use, platforms)
            except DockerfileError:
                continue  # reported by the decider
            if ref.digest is None:
                if pin_unpinned:
                    wanted[_tag_ref(ref)] = None
            elif update_pinned and ref.tag is not None and use.rewritable:
                wanted[_tag_ref(ref)] = None
            elif (required or locks is not None) and (locks is None or locks.old_entry(use, ref) is None):
                # Learn what a pinned digest is (for the lock, and to check its platforms)
                # unless the lock already says.
                wanted[_digest_ref(ref)] = None
    requests = sorted(wanted, key=str)
    logger.info("resolving %d distinct references", len(requests))
    resolved = client.resolve_many(requests) if requests else {}

    # 2. What each use becomes.
    decider = _Decider(resolved, platforms, pin_unpinned, update_pinned, locks, stamp, out)
    failed_before: dict[str, int] = {}
    for scanned in files:
        failed_before[scanned.display] = len(out.failures)
        for use in scanned.uses:
            decider.decide(use, scanned)
    if fail_fast:
        _raise_failures(out.errors)

    # 3. Rewrite (in memory), then write each file that still holds what was read.
    file_changes = _rewrite(files, out)
    write_errors = _write_files(files, file_changes, out, locks, failed_before, dry_run=dry_run)
    lock_changes = locks.write(dry_run) if locks is not None else []
    if dry_run:
        return out, file_changes + lock_changes, []
    written = [_written(change) for change in file_changes if change.display not in write_errors]
    return out, written + lock_changes, [change.path for change in lock_changes]


def _rewrite(files: Sequence[ScannedFile], out: _Outcome) -> list[FileChange]:
    """Each file's new bytes, in memory: only the bytes of its image tokens change."""
    file_changes: list[FileChange] = []
    for scanned in files:
        edits = out.edits.get(scanned.display)
        if not edits:
            continue
        try:
            new = apply_edits(scanned.data, edits)
        except EditConflictError as exc:
            # Two places to pin overlap: a case the scanner should never produce. The
            # file is left alone rather than guessed at.
            why = f"cannot rewrite the file in place ({exc}); not written"
            out.fail(Site(scanned.display, 0, "file"), "", why, None)
            out.errors.append((Site(scanned.display, 0, "file"), "", PartialError(why)))
            out.edits.pop(scanned.display, None)
            continue
        if new != scanned.data:
            file_changes.append(FileChange(scanned.path, scanned.display, scanned.data, new))
    return file_changes


def _write_files(
    files: Sequence[ScannedFile],
    file_changes: list[FileChange],
    out: _Outcome,
    locks: _Locks | None,
    failed_before: Mapping[str, int],
    *,
    dry_run: bool,
) -> dict[str, OSError]:
    """Write each changed file that still holds what was read; record each file's outcome."""
    write_errors: dict[str, OSError] = {}
    if not dry_run:
        results = atomic_write_each([(c.path, c.new, c.old) for c in file_changes])
        write_errors = {file_changes[i].display: err for i, err in results.items()}
    changed = {c.display for c in file_changes}
    for scanned in files:
        display = scanned.display
        problems = [f.message for f in out.failures[failed_before[display] :] if f.site.file == display]
        error = write_errors.get(display)
        if error is not None:
            why = f"{error.strerror or error}; not written"
            if isinstance(error, ChangedSinceReadError):
                why = "changed since it was read; not written (run again to pin the new content)"
            out.fail(Site(display, 0, "file"), "", why, EXIT_USAGE)
            out.errors.append((Site(display, 0, "file"), "", PartialError(why)))
            out.files.append(FileOutcome(display, FileStatus.FAILED, why))
            locks_pending_drop(locks, display)
            continue
        if locks is not None:
            locks.commit(display, out.notes)
        if problems:
            done = " (the rest was pinned)" if display in changed else ""
            out.files.append(FileOutcome(display, FileStatus.FAILED, "; ".join(problems) + done))
        elif display in changed:
            out.files.append(FileOutcome(display, FileStatus.PINNED))
        else:
            out.files.append(FileOutcome(display, FileStatus.UNCHANGED))
    return write_errors


def locks_pending_drop(locks: _Locks | None, display: str) -> None:
    """A file that was not written keeps its old lock entries: forget what it recorded."""
    if locks is not None:
        locks.pending.pop(display, None)


def _written(change: FileChange) -> FileChange:
    return FileChange(change.path, change.display, change.old, change.new, written=True)


@dataclass
class _Decider:
    """Turns each use plus the registry's answers into a result, edits and lock entries."""

    resolved: Mapping[ImageRef, ResolvedLike | RegistryError]
    platforms: Sequence[Platform]
    pin_unpinned: bool
    update_pinned: bool
    locks: _Locks | None
    stamp: str
    out: _Outcome

    def fail(self, use: Use, error: Error, message: str | None = None) -> None:
        text = message if message is not None else f"{use.text}: {error}"
        self.out.fail(use.site, use.text, text, error.exit_code)
        self.out.errors.append((use.site, use.text, error))
        self.out.results.append(PinResult(use.site, Action.SKIPPED, use.text, reason=str(error)))

    def decide(self, use: Use, scanned: ScannedFile) -> None:
        site, ref, out = use.site, use.ref, self.out
        if ref is None:
            if use.invalid:
                self.fail(use, DockerfileError(f"{use.text} is not a valid image reference: {use.skip_reason}"),
                          f"{use.text} is not a valid image reference: {use.skip_reason}")  # fmt: skip
                return
            if not self.pin_unpinned:
                out.notes.append(
                    PinFinding(site, FindingKind.NOTE, f"{use.text} skipped: {use.skip_reason}", use.text)
                )
                out.results.append(PinResult(site, Action.SKIPPED, use.text, reason=use.skip_reason))
                return
            # Never skipped silently: an image pin cannot pin is work left undone.
            out.fail(site, use.text, f"{use.text} is not pinned: {use.skip_reason}", None)
            out.errors.append((site, use.text, PartialError(f"{use.text} is not pinned: {use.skip_reason}")))
            out.results.append(PinResult(site, Action.SKIPPED, use.text, reason=use.skip_reason))
            return
        if ref.digest is None and not self.pin_unpinned:
            out.notes.append(
                PinFinding(
                    site, FindingKind.NOTE, f"{use.text} is not pinned; run 'repro pin' first", use.text
                )
            )
            return
        try:
            required = required_platforms(use, self.platforms)
        except DockerfileError as exc:
            self.fail(use, exc, str(exc).removeprefix(f"{site}: "))
            return
        out.checked += 1
        follow_tag = ref.digest is None or (self.update_pinned and ref.tag is not None and use.rewritable)
        target = _tag_ref(ref) if follow_tag else _digest_ref(ref)
        result = self.resolved.get(target)
        entry = self.locks.old_entry(use, ref) if self.locks is not None else None
        if result is None and not follow_tag and entry is not None:
            result = _from_lock(entry)
        if isinstance(result, RegistryError):
            if not follow_tag and not required:
                # Already pinned: nothing needs the registry. The lock says it was not
                # verified; the next run that reaches the registry fills it in.
                out.notes.append(
                    PinFinding(site, FindingKind.NOTE, f"{use.text}: could not look it up ({result}); "
                            "recorded as unverified", use.text)
                )  # fmt: skip
                self._leave_alone(use, scanned, ref, None, verified=False)
                return
            self.fail(use, result)
            return
        if result is not None:
            problem = _platform_problem(
                use.text, [p for p, _ in _platform_digests(result)], _is_index(result), required
            )
            if problem is not None and _is_index(result):
                self.fail(use, PlatformNotFoundError(problem), problem)
                return
            if problem is not None:
                out.notes.append(PinFinding(site, FindingKind.PLATFORM, problem, use.text))
        if not follow_tag:
            self._leave_alone(use, scanned, ref, result)
        elif result is not None:
            self._follow_tag(use, scanned, ref, result)

    def _leave_alone(
        self,
        use: Use,
        scanned: ScannedFile,
        ref: ImageRef,
        result: ResolvedLike | None,
        *,
        verified: bool = True,
    ) -> None:
        """An already pinned reference: the bytes stay; the lock learns about it."""
        if ref.digest is None:
            return
        if self.locks is not None and (result is not None or not verified):
            self.locks.record(
                use, scanned, ref=ref, digest=ref.digest,
                media_type=(result.media_type or None) if result is not None else None,
                platforms=_platform_digests(result) if result is not None else (),
                now=self.stamp, verified=verified,
            )  # fmt: skip
        reason = "pinned through its ARG default" if use.via_arg else "already pinned"
        self.out.results.append(
            PinResult(use.site, Action.UNCHANGED, use.text, digest=ref.digest, reason=reason)
        )

    def _follow_tag(self, use: Use, scanned: ScannedFile, ref: ImageRef, result: ResolvedLike) -> None:
        """Pin an unpinned reference, or move a pinned one to where its tag points now."""
        site, out = use.site, self.out
        if ref.digest == result.digest:
            new_digest, action = ref.digest, Action.UNCHANGED
        else:
            new_digest = result.digest
            action = Action.PINNED if ref.digest is None else Action.UPDATED
        # An image written without a tag gets ":latest" spelled out, so that refresh knows
        # which tag the digest stands for.
        written = ref if ref.tag is not None else ref.with_tag(ref.effective_tag)
        new_text = written.with_digest(new_digest)
        if use.append:
            base = use.text.split("@", 1)[0]
            new_text = f"{base}{'' if ref.tag is not None else ':latest'}@{new_digest}"
        if action is not Action.UNCHANGED:
            out.edits.setdefault(site.file, []).append(
                Edit(use.start, use.end, use.text.encode(), new_text.encode())
            )
        if action is Action.UPDATED and ref.digest is not None and ref.tag is not None:
            key = (ref.name, ref.tag, ref.digest, new_digest)
            out.changes.setdefault(key, []).append(site)
            out.first_text.setdefault(key, ref.without_digest().text)
        if self.locks is not None:
            # A digest that is one platform's manifest inside the index is a single manifest.
            whole = new_digest == result.digest
            self.locks.record(
                use, scanned, ref=written, digest=new_digest,
                media_type=result.media_type if whole else None,
                platforms=_platform_digests(result) if whole else (), now=self.stamp,
            )  # fmt: skip
        out.results.append(
            PinResult(
                site,
                action,
                use.text,
                new_text=new_text if action is not Action.UNCHANGED else None,
                digest=new_digest,
                platforms=_platform_digests(result),
                media_type=result.media_type,
                reason="pinned through its ARG default" if use.via_arg else "",
            )
        )


def pin_paths(
    paths: Iterable[Path | str],
    *,
    client: Resolver,
    platforms: Sequence[Platform] = (),
    update: bool = False,
    dry_run: bool = False,
    lockfile: Path | None = None,
    write_lock: bool = True,
    build_args: Mapping[str, str] | None = None,
    now: Clock | None = None,
    fail_fast: bool = False,
) -> PinReport:
    """Pin every external image of the Dockerfiles under ``paths`` to its digest.

    ``platforms`` are the build's targets: an index must contain each (or the
    instruction's own ``--platform``). Already pinned references stay as they are
    unless ``update``. ``lockfile`` puts one lock at that path instead of a
    ``repro.lock`` next to each Dockerfile; ``write_lock=False`` writes none. With
    ``dry_run`` nothing is written and the report holds the would-be changes.

    Every file that can be is pinned; the others, and every reference left unpinned, are
    in ``report.failures`` (``report.exit_code`` is then not 0). With ``fail_fast`` the
    first problems raise before anything is written.
    """
    out, changes, lock_paths = _run(
        paths,
        client=client,
        platforms=platforms,
        pin_unpinned=True,
        update_pinned=update,
        dry_run=dry_run,
        lockfile=lockfile,
        write_locks=write_lock,
        build_args=build_args,
        now=now,
        fail_fast=fail_fast,
    )
    return PinReport(
        results=tuple(out.results),
        changes=tuple(changes),
        notes=tuple(out.notes),
        lockfiles=tuple(lock_paths),
        dry_run=dry_run,
        files=tuple(out.files),
        failures=tuple(out.failures),
    )


def refresh_paths(
    paths: Iterable[Path | str],
    *,
    client: Resolver,
    platforms: Sequence[Platform] = (),
    dry_run: bool = False,
    lockfile: Path | None = None,
    write_lock: bool = True,
    build_args: Mapping[str, str] | None = None,
    now: Clock | None = None,
    fail_fast: bool = False,
) -> RefreshReport:
    """Re-resolve the tag of every pinned reference; rewrite the digests of tags that moved.

    Unpinned references are left to ``pin`` (and noted). The report is a summary fit for
    a pull request (see :func:`repro.pin.render.refresh_markdown`).
    """
    out, changes, lock_paths = _run(
        paths,
        client=client,
        platforms=platforms,
        pin_unpinned=False,
        update_pinned=True,
        dry_run=dry_run,
        lockfile=lockfile,
        write_locks=write_lock,
        build_args=build_args,
        now=now,
        fail_fast=fail_fast,
    )
    summary = tuple(
        RefreshChange(
            text=out.first_text[key], name=key[0], tag=key[1], old=key[2], new=key[3], sites=tuple(sites)
        )
        for key, sites in out.changes.items()
    )
    return RefreshReport(
        changes=summary,
        file_changes=tuple(changes),
        checked=out.checked,
        notes=tuple(out.notes),
        lockfiles=tuple(lock_paths),
        dry_run=dry_run,
        files=tuple(out.files),
        failures=tuple(out.failures),
    )


# --- check ------------------------------------------------------------------------------


def _fresh_findings(
    client: Resolver, wanted: Mapping[ImageRef, list[tuple[Use, ImageRef]]], platforms: Sequence[Platform]
) -> list[PinFinding]:
    """``--fresh``: whether each pinned tag still points at its digest."""
    found: list[PinFinding] = []
    results = client.resolve_many(sorted(wanted, key=str))
    for tag_ref, users in wanted.items():
        result = results.get(tag_ref)
        for use, ref in users:
            if ref.digest is None:
                continue
            if result is None or isinstance(result, RegistryError):
                why = result if result is not None else "no answer"
                found.append(
                    PinFinding(use.site, FindingKind.REGISTRY, f"could not check {use.text}: {why}", use.text)
                )
            elif ref.digest != result.digest:
                # Strictly "the tag names other bytes now": a pin of one platform's
                # manifest inside the tag's index counts as moved too, so that
                # check and refresh agree (refresh pins the index).
                inside = any(entry.digest == ref.digest for entry in result.platforms)
                detail = " (an index that contains the pinned manifest)" if inside else ""
                found.append(
                    PinFinding(
                        use.site,
                        FindingKind.MOVED,
                        f"{ref.without_digest().text} has moved: pinned {ref.digest}, "
                        f"the tag now points to {result.digest}{detail}",
                        use.text,
                    )
                )
            else:
                have = [p for p, _ in _platform_digests(result)]
                problem = _platform_problem(
                    use.text, have, _is_index(result), required_platforms(use, platforms)
                )
                if problem is not None:
                    found.append(PinFinding(use.site, FindingKind.PLATFORM, problem, use.text))
    return found


def _digest_platform_findings(
    client: Resolver | None, unknown: Mapping[ImageRef, list[tuple[Use, tuple[Platform, ...]]]]
) -> list[PinFinding]:
    """Whether each pinned digest no lock describes has every platform its uses require:
    asked of the registry, or, without a ``client``, a finding saying it could not be told."""
    found: list[PinFinding] = []
    results = client.resolve_many(sorted(unknown, key=str)) if client is not None and unknown else {}
    for digest_ref, users in unknown.items():
        result = results.get(digest_ref)
        for use, required in users:
            targets = ", ".join(map(str, required))
            if client is None:
                message = (
                    f"cannot tell whether {use.text} has {targets}: no repro.lock records its platforms; "
                    "run 'repro pin --platform …' to record them"
                )
                found.append(PinFinding(use.site, FindingKind.PLATFORM, message, use.text))
            elif result is None or isinstance(result, RegistryError):
                why = result if result is not None else "no answer"
                message = f"could not check the platforms of {use.text}: {why}"
                found.append(PinFinding(use.site, FindingKind.REGISTRY, message, use.text))
            else:
                have = [p for p, _ in _platform_digests(result)]
                problem = _platform_problem(use.text, have, _is_index(result), required)
                if problem is not None:
                    found.append(PinFinding(use.site, FindingKind.PLATFORM, problem, use.text))
    return found


def check_paths(
    paths: Iterable[Path | str],
    *,
    client: Resolver | None = None,
    fresh: bool = False,
    platforms: Sequence[Platform] = (),
    lockfile: Path | None = None,
    build_args: Mapping[str, str] | None = None,
    allow_empty: bool = False,
    fail_fast: bool = False,
) -> CheckReport:
    """Check that every external image is pinned; with ``fresh``, that no tag has moved.

    Without ``fresh`` this reads only the files (and ``repro.lock``, to know which
    digests are single-platform manifests): no network, except that with several
    ``platforms`` a pinned digest no lock describes is asked of its registry through
    ``client`` (without one, it is a finding: its platforms cannot be told). ``fresh``
    needs ``client``.
    A file that cannot be read or parsed is a ``failed`` finding and the others are
    still checked (``fail_fast`` raises instead). Finding no Dockerfile at all is
    exit 9 unless ``allow_empty``.
    """
    if fresh and client is None:
        raise ValueError("check_paths(fresh=True) needs a client")
    scan = scan_paths(paths, build_args=build_args)
    out = _Outcome()
    _unscanned_failures(scan, out)
    if fail_fast:
        _raise_failures(out.errors)
    files = scan.files
    locks = _Locks(files, lockfile)
    findings: list[PinFinding] = [*out.notes, *out.failures]
    wanted: dict[ImageRef, list[tuple[Use, ImageRef]]] = {}
    unknown: dict[ImageRef, list[tuple[Use, tuple[Platform, ...]]]] = {}
    checked = 0
    for scanned in files:
        for use in scanned.uses:
            site, ref = use.site, use.ref
            if ref is None:
                # One verdict for every gate: an image that is invalid, or that the file
                # alone does not show to be pinned, fails the check.
                checked += 1
                if use.invalid:
                    message = f"{use.text} is not a valid image reference: {use.skip_reason}"
                    findings.append(PinFinding(site, FindingKind.INVALID, message, use.text))
                else:
                    message = f"{use.text} is not pinned to a digest: {use.skip_reason}"
                    findings.append(PinFinding(site, FindingKind.UNPINNED, message, use.text))
                continue
            checked += 1
            if ref.digest is None:
                findings.append(
                    PinFinding(site, FindingKind.UNPINNED, f"{use.text} is not pinned to a digest", use.text)
                )
                continue
            try:
                required = required_platforms(use, platforms)
            except DockerfileError as exc:
                findings.append(
                    PinFinding(site, FindingKind.INVALID, str(exc).removeprefix(f"{site}: "), use.text)
                )
                continue
            entry = locks.old_entry(use, ref)
            if entry is None and locks.has_lock(use):
                findings.append(
                    PinFinding(
                        site,
                        FindingKind.NOTE,
                        f"{use.text} is not in {locks.by_file[site.file].path} at this digest; run 'repro pin'",
                        use.text,
                    )
                )
            if fresh and ref.tag is not None:
                wanted.setdefault(_tag_ref(ref), []).append((use, ref))
            elif entry is not None:
                have = [Platform.parse(p) for p in entry.platforms]
                problem = _platform_problem(use.text, have, entry.media_type in INDEX_TYPES, required)
                if problem is not None:
                    findings.append(PinFinding(site, FindingKind.PLATFORM, problem, use.text))
            elif required and len(platforms) > 1:
                # No lock says what the digest is: only its registry can tell its platforms.
                unknown.setdefault(_digest_ref(ref), []).append((use, required))
    if wanted and client is not None:
        findings.extend(_fresh_findings(client, wanted, platforms))
    findings.extend(_digest_platform_findings(client, unknown))
    findings.sort(key=lambda f: (f.site.file, f.site.line, str(f.kind)))
    outcomes = [*out.files, *(FileOutcome(f.display, FileStatus.UNCHANGED) for f in files)]
    return CheckReport(
        findings=tuple(findings),
        checked=checked,
        files=len(files),
        fresh=fresh,
        outcomes=tuple(outcomes),
        allow_empty=allow_empty,
    )
