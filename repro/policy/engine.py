"""Rego evaluation with regopy: load policies, refuse Rego v0, evaluate, map errors.

A policy is a Rego v1 module. A package that reports problems defines ``findings``, a set
of objects ``{id, severity, message, fix, file, line}``, and ``rules``, metadata keyed by
rule id; :class:`PolicySet` loads every ``.rego`` file of the default policies and of the
user's directories and evaluates all ``findings`` in one query per input document.

regopy (rego-cpp) accepts Rego v0 rule bodies without ``if`` and silently gives them
another meaning (``deny[msg] { ... }`` becomes an object), so every module is checked
for v0 syntax before it is loaded, and such a module is refused with its file and line.
Its console output is switched off; its errors become :class:`~repro.errors.PolicyError`
naming the file and line where rego-cpp gives one.

    >>> policies = PolicySet.load([])                                 # doctest: +SKIP
    >>> policies.evaluate({"stage": "lint", "pins": []})              # doctest: +SKIP
    []
"""

from __future__ import annotations

import bisect
import importlib.metadata
import json
import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from repro.errors import PolicyError

__all__ = [
    "PolicyModule",
    "PolicySet",
    "RuleInfo",
    "TestResult",
    "check_v1",
    "default_policy_dir",
    "discover_modules",
]

logger = logging.getLogger(__name__)

SEVERITIES: Final = ("error", "warning", "note")
_PACKAGE_RE: Final = re.compile(r"^package\s+([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*$", re.M)
_FINDINGS_RE: Final = re.compile(r"^findings\s+contains\b", re.M)
_RULES_RE: Final = re.compile(r"^rules\s*:?=", re.M)
_TEST_RE: Final = re.compile(r"^(test_[A-Za-z0-9_]*)\b", re.M)
_DATA_FILE: Final = "share/repro/policy"


# --- where the default policies are -----------------------------------------------------


def default_policy_dir() -> Path:
    """The directory of the default policies.

    In a source checkout it is the repository's top-level ``policy/``; in an installed
    wheel the same files are data files (``share/repro/policy``), found through the
    distribution's RECORD so that any install scheme (venv, ``--user``, ``--prefix``) works.
    """
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "policy" / "lib.rego").is_file():
        return checkout / "policy"
    try:
        files = importlib.metadata.distribution("repro").files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == "lib.rego" and _DATA_FILE in file.as_posix():
            return Path(str(file.locate())).resolve().parent
    raise PolicyError(
        "the default policies are not installed (no policy/lib.rego next to the package or in its data files)",
        hint="reinstall repro ('pip install .'); a build that dropped the data files is broken",
    )


# --- modules ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyModule:
    """One ``.rego`` file."""

    path: Path
    name: str  # how messages name it: relative to the current directory when possible
    source: str
    package: str
    defines_findings: bool
    defines_rules: bool
    tests: tuple[str, ...]

    @property
    def is_test(self) -> bool:
        return self.path.name.endswith("_test.rego")

    def line_of(self, offset: int) -> int:
        """The 1-based line of a character offset."""
        starts = [0, *(m.end() for m in re.finditer("\n", self.source))]
        return bisect.bisect_right(starts, offset)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def read_module(path: Path, *, name: str | None = None) -> PolicyModule:
    """Read and check one policy file (Rego v1 only)."""
    display = name or _display(path)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{display}: cannot read: {exc}") from exc
    return module_from_source(source, display, path=path)


def module_from_source(source: str, name: str, *, path: Path | None = None) -> PolicyModule:
    """A :class:`PolicyModule` from Rego text; raises PolicyError for v0 syntax."""
    check_v1(source, name)
    package = _PACKAGE_RE.search(source)
    if package is None:
        raise PolicyError(f"{name}:1: no 'package' declaration", hint=_V1_HINT)
    return PolicyModule(
        path=path or Path(name),
        name=name,
        source=source,
        package=package.group(1),
        defines_findings=bool(_FINDINGS_RE.search(source)),
        defines_rules=bool(_RULES_RE.search(source)),
        tests=tuple(dict.fromkeys(_TEST_RE.findall(source))),
    )


def discover_modules(
    directories: Iterable[Path], *, include_defaults: bool = True, tests: bool = False
) -> list[PolicyModule]:
    """Every ``.rego`` file of the default policies and of ``directories`` (recursively).

    ``*_test.rego`` files are included only with ``tests``.
    """
    roots = ([default_policy_dir()] if include_defaults else []) + [Path(d) for d in directories]
    seen: set[Path] = set()
    modules = []
    for root in roots:
        if root.is_file():
            candidates = [root]
        elif root.is_dir():
            candidates = sorted(root.rglob("*.rego"))
        else:
            raise PolicyError(
                f"{root}: no such policy file or directory", hint="check --policy and policy_dirs"
            )
        for path in candidates:
            key = path.resolve()
            if key in seen or (path.name.endswith("_test.rego") and not tests):
                continue
            seen.add(key)
            modules.append(read_module(path))
    return modules


# --- Rego v0 detection ------------------------------------------------------------------

_V1_HINT: Final = (
    "repro reads Rego v1 only: every rule with a body needs 'if' "
    "('deny contains msg if { ... }', 'allow if { ... }')"
)
_TOKEN_RE: Final = re.compile(
    r"""
    (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>[0-9][0-9.eE+-]*)
  | (?P<op>:=|==|!=|<=|>=|[{}\[\]()=,:;|&+\-*/<>.!%])
  | (?P<space>\s+)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
# After these, a "{" starts a value (object or set), not a rule body.
_VALUE_BEFORE: Final = frozenset(
    {
        ":=",
        "=",
        "==",
        "!=",
        "<",
        ">",
        "<=",
        ">=",
        ",",
        ":",
        "|",
        "&",
        "+",
        "-",
        "*",
        "/",
        "%",
        "contains",
        "in",
        "not",
    }
)
# conftest's set rules written with a v1 "if" but v0's brackets: an object in v1.
_BRACKET_SET_RE: Final = re.compile(
    r"^(deny|warn|violation|findings)\[\s*([A-Za-z_][A-Za-z0-9_]*)\s*\]\s*if\b", re.M
)


def check_v1(source: str, name: str) -> None:
    """Refuse Rego v0: a rule body ``{`` at the top level that no ``if`` introduces.

    Also refuses ``deny[msg] if { ... }``: valid v1, but it builds an object (``{msg:
    true}``), not the set a conftest policy meant; ``deny contains msg if`` is the set.
    """
    bracket_set = _BRACKET_SET_RE.search(source)
    if bracket_set is not None:
        rule, var = bracket_set.groups()
        raise PolicyError(
            f"{name}:{source.count(chr(10), 0, bracket_set.start()) + 1}: "
            f"'{rule}[{var}] if' makes an object in Rego v1, not a set",
            hint=f"write '{rule} contains {var} if {{ ... }}' (or '{rule}[{var}] := true if' for an object)",
        )
    depth = 0
    line = 1
    previous: tuple[str, str, int] | None = None  # (kind, text, line) of the last top-level token
    head: list[tuple[str, str, int]] = []  # tokens of the current top-level rule head
    for match in _TOKEN_RE.finditer(source):
        kind = match.lastgroup or "other"
        text = match.group()
        token_line = line
        line += text.count("\n")
        if kind in ("comment", "space"):
            continue
        if kind == "other":
            raise PolicyError(f"{name}:{token_line}: unexpected character {text!r}", hint=_V1_HINT)
        if text in ("{", "[", "("):
            if depth == 0 and text == "{":
                _check_body_start(name, previous, head, token_line)
            if depth == 0:
                head.append((kind, text, token_line))
            depth += 1
            continue
        if text in ("}", "]", ")"):
            depth = max(depth - 1, 0)
            if depth == 0:
                previous = ("op", text, token_line)
                head.append(previous)
                if text == "}":
                    head = []
            continue
        if depth == 0:
            if (
                previous is not None
                and previous[2] != token_line
                and previous[1] not in _VALUE_BEFORE
                and text != "else"
            ):
                head = []  # a new line at the top level starts a new rule (or package/import)
            previous = (kind, text, token_line)
            head.append(previous)


def _check_body_start(
    name: str, previous: tuple[str, str, int] | None, head: list[tuple[str, str, int]], line: int
) -> None:
    if previous is None or previous[1] in _VALUE_BEFORE or previous[1] == "if":
        return
    rule = head[0][1] if head else "rule"
    raise PolicyError(
        f"{name}:{line}: Rego v0 syntax: the body of '{rule}' has no 'if' (regopy would read it as something else)",
        hint=_V1_HINT,
    )


# --- regopy errors ----------------------------------------------------------------------

_ERROR_RE: Final = re.compile(r"\(error(?=[\s)])[ ]?(?:(\d+):)?")


def _length_prefixed(text: str, at: int) -> tuple[str, int]:
    """Read rego-cpp's ``N:text`` at ``at``; returns (text, end)."""
    colon = text.index(":", at)
    size = int(text[at:colon])
    return text[colon + 1 : colon + 1 + size], colon + 1 + size


def parse_rego_errors(text: str) -> list[tuple[str | None, int | None, str]]:
    """(module name, character offset, message) of each error in a rego-cpp error tree."""
    errors = []
    for match in _ERROR_RE.finditer(text):
        module: str | None = None
        offset: int | None = None
        if match.group(1) is not None:
            where, end = _length_prefixed(text, match.start(1))
            rest = text[end:].split(None, 1)[0] if end < len(text) else ""
            parts = rest.split("|")
            module = where or None
            if len(parts) >= 2 and parts[1].isdigit():
                offset = int(parts[1])
        message_at = text.find("(errormsg ", match.end())
        message = "rego error"
        if message_at != -1:
            message, _ = _length_prefixed(text, message_at + len("(errormsg "))
        errors.append((module, offset, message))
    return errors


# --- evaluation -------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleInfo:
    """What a policy says about one of its rules."""

    id: str
    title: str
    severity: str
    fix: str
    hadolint: str | None
    stage: str
    package: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity,
            "fix": self.fix,
            "hadolint": self.hadolint,
            "stage": self.stage,
            "package": self.package,
        }


@dataclass(frozen=True)
class TestResult:
    """One ``test_*`` rule run by :meth:`PolicySet.run_tests`."""

    module: str
    package: str
    name: str
    passed: bool
    seconds: float
    error: str | None = None  # the test could not be evaluated
    detail: str | None = None  # why a case failed


class PolicySet:
    """Compiled policies, ready to evaluate input documents."""

    def __init__(self, modules: Sequence[PolicyModule], data: Mapping[str, Any] | None = None) -> None:
        from regopy import Interpreter, LogLevel, RegoError

        # rego-cpp prints its errors on stdout unless told not to; stdout is repro's data.
        # (Per interpreter: regopy.set_default_log_level aborts the process if called twice.)
        self.modules = tuple(modules)
        self._by_name = {m.name: m for m in self.modules}
        self._rego = Interpreter()
        self._rego.log_level = LogLevel.NONE
        try:
            for module in self.modules:
                self._rego.add_module(module.name, module.source)
            self._data_json = json.dumps(dict(data or {}))
            self._rego.add_data_json(self._data_json)
        except RegoError as exc:
            raise self._error(str(exc)) from exc
        packages = sorted({m.package for m in self.modules if m.defines_findings})
        self._packages = packages
        self._rules: dict[str, RuleInfo] | None = None
        # Compiled once per set of packages: a plain query recompiles every module each
        # time (~25 ms), a bundle's query costs the evaluation alone. The query is an array
        # of the packages' sets: a set union would compare every finding deeply.
        self._bundles: dict[tuple[str, ...], Any] = {}

    @classmethod
    def load(
        cls,
        directories: Iterable[Path],
        *,
        data: Mapping[str, Any] | None = None,
        include_defaults: bool = True,
        tests: bool = False,
    ) -> PolicySet:
        """Load the default policies and those under ``directories``."""
        return cls(discover_modules(directories, include_defaults=include_defaults, tests=tests), data)

    # -- errors ------------------------------------------------------------------------

    def _error(self, text: str, *, context: str = "") -> PolicyError:
        errors = parse_rego_errors(text)
        if not errors:
            return PolicyError(
                f"{context or 'policy evaluation'} failed: {text.strip()[:200] or 'rego error'}"
            )
        module_name, offset, message = errors[0]
        more = f" (and {len(errors) - 1} more error(s))" if len(errors) > 1 else ""
        module = self._by_name.get(module_name or "")
        if module is not None and offset is not None:
            return PolicyError(f"{module.name}:{module.line_of(offset)}: {message}{more}", hint=_V1_HINT)
        found = re.match(r"Function not found: ([\w.]+)", message)
        if found:
            place = self._find_call(found.group(1))
            if place:
                return PolicyError(f"{place}: {message}", hint="check the function's name and the imports")
        where = f" in {context}" if context else ""
        return PolicyError(f"policy error{where}: {message}{more}")

    def _failing_module(self) -> PolicyModule | None:
        """The first module that fails to compile on its own, if one does."""
        from regopy import Interpreter, LogLevel, RegoError
        from regopy.rego_shared import rego_free_output, rego_output_ok, rego_query

        for module in self.modules:
            alone = Interpreter()
            alone.log_level = LogLevel.NONE
            try:
                alone.add_module(module.name, module.source)
                impl = rego_query(alone._impl, "x := 1")
            except RegoError:
                return module
            ok = rego_output_ok(impl)
            rego_free_output(impl)
            if not ok:
                return module
        return None

    def _find_call(self, function: str) -> str | None:
        pattern = re.compile(rf"(?<![\w.]){re.escape(function)}\s*\(")
        for module in self.modules:
            match = pattern.search(module.source)
            if match:
                return f"{module.name}:{module.line_of(match.start())}"
        return None

    def _query(self, query: str, *, context: str, bundle: Any = None) -> Any:
        """Run a query (or a compiled bundle's); its single expression's value, None when undefined."""
        from regopy import RegoError
        from regopy.rego_shared import (
            rego_bundle_query,
            rego_free_output,
            rego_output_ok,
            rego_output_string,
            rego_query,
        )

        # The low-level calls: regopy's Output() fails on an error that rego-cpp reports
        # as a successful output (e.g. an unknown function), losing the message.
        try:
            if bundle is not None:
                impl = rego_bundle_query(self._rego._impl, bundle._impl)
            else:
                impl = rego_query(self._rego._impl, query)
        except RegoError as exc:
            raise self._error(str(exc), context=context) from exc
        try:
            ok = rego_output_ok(impl)
            # Reading the text of a failed output can crash rego-cpp: it is not read.
            text = rego_output_string(impl) if ok else "<error>"
        finally:
            rego_free_output(impl)
        if not ok or text.startswith(("(error", "<error>")):
            if text.strip() == "<error>":
                culprit = self._failing_module()
                if culprit is not None:
                    raise PolicyError(
                        f"{culprit.name}: rego-cpp cannot compile this module, though it parsed it",
                        hint="simplify the construct last changed (a long object literal split over lines "
                        "is a known trigger); 'repro policy test' runs the module's tests",
                    )
                raise PolicyError(
                    f"policy error in {context}: evaluation failed (two rules giving one document "
                    "different values, or a built-in that failed)",
                    hint="run 'repro policy test' on your policy directory to narrow it down",
                )
            raise self._error(text, context=context)
        if text == "undefined":
            return None
        try:
            result = json.loads(text)
        except json.JSONDecodeError as exc:
            if "(error" in text:  # a built-in failed inside a rule: rego-cpp inlines the error
                raise self._error(text[text.index("(error") :], context=context) from exc
            raise PolicyError(
                f"policy error in {context}: rego-cpp gave output that is not JSON ({exc.msg} at {exc.pos}): "
                f"{text[max(exc.pos - 60, 0) : exc.pos + 20]!r}",
                hint='a known rego-cpp bug: sprintf("... %v ...", [s]) where s was computed by a built-in '
                '(concat, upper, ...) breaks the output; build such strings with concat("", [...])',
            ) from exc
        if isinstance(result, list):
            result = result[0] if result else {}
        expressions = result.get("expressions", [])
        return expressions[0] if expressions else None

    # -- rules and findings ------------------------------------------------------------

    def rules(self) -> dict[str, RuleInfo]:
        """The metadata of every rule, keyed by id."""
        if self._rules is None:
            rules: dict[str, RuleInfo] = {}
            for package in sorted({m.package for m in self.modules if m.defines_rules}):
                table = self._query(f"data.{package}.rules", context=f"data.{package}.rules") or {}
                if not isinstance(table, dict):
                    raise PolicyError(f"data.{package}.rules must be an object keyed by rule id")
                for rule_id, meta in table.items():
                    if rule_id in rules:
                        raise PolicyError(
                            f"rule {rule_id} is defined by both data.{rules[rule_id].package} and data.{package}"
                        )
                    rules[rule_id] = _rule_info(rule_id, meta, package)
            self._rules = rules
        return self._rules

    def _compiled(self, packages: Sequence[str]) -> Any:
        from regopy import RegoError

        key = tuple(packages)
        if key not in self._bundles:
            query = "[" + ", ".join(f"data.{p}.findings" for p in packages) + "]"
            try:
                bundle = self._rego.build(query)
            except RegoError as exc:
                raise self._error(str(exc), context="findings") from exc
            if not bundle.ok():
                raise PolicyError("the policies could not be compiled", hint=_V1_HINT)
            self._bundles[key] = bundle
        return self._bundles[key]

    def evaluate(
        self, document: Mapping[str, Any], *, packages: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Every finding the policies (or those of ``packages``) report for ``document``, in a stable order."""
        from regopy import RegoError

        packages = list(self._packages if packages is None else packages)
        if not packages:
            return []
        bundle = self._compiled(packages)
        try:
            self._rego.set_input_term(json.dumps(document))
        except RegoError as exc:
            raise PolicyError(f"the input document is not valid: {exc}") from exc
        raw = self._query("findings", context="findings", bundle=bundle)
        findings: list[dict[str, Any]] = []
        for package, items in zip(packages, raw or [], strict=False):
            if items is None:
                continue
            if not isinstance(items, list):
                raise PolicyError(
                    f"data.{package}.findings must be a set of objects (findings contains f if {{ ... }})"
                )
            findings.extend(_validate_finding(item) for item in items)
        findings.sort(key=lambda f: (str(f.get("file") or ""), f.get("line") or 0, f["id"], f["message"]))
        return findings

    # -- tests -------------------------------------------------------------------------

    def run_tests(self, modules: Iterable[PolicyModule] | None = None) -> list[TestResult]:
        """Run every ``test_*`` rule of the ``*_test.rego`` modules, as ``opa test`` does.

        A test passes when its value is ``true``. A test whose value is a *case* object,
        ``{"input": DOC, "expect": [IDS], "expect_not": [IDS], "data": {...}, "package": P}``,
        passes when evaluating ``data.P.findings`` (P defaults to the test's package without
        ``_test``) over DOC reports every id of ``expect`` and none of ``expect_not``. Cases
        exist because rego-cpp's ``with input as`` fails on rules that call functions or read
        ``data``, which every real policy does.
        """
        results = []
        for module in modules if modules is not None else self.modules:
            if not module.is_test:
                continue
            for test in module.tests:
                query = f"data.{module.package}.{test}"
                started = time.perf_counter()
                passed, error, detail = False, None, None
                try:
                    value = self._query(query, context=query)
                    if isinstance(value, dict) and "input" in value:
                        passed, detail = self._run_case(module.package, value)
                    else:
                        passed = value is True
                except PolicyError as exc:
                    error = str(exc)
                results.append(
                    TestResult(
                        module=module.name,
                        package=module.package,
                        name=test,
                        passed=passed,
                        seconds=time.perf_counter() - started,
                        error=error,
                        detail=detail,
                    )
                )
        return results

    def _run_case(self, test_package: str, case: Mapping[str, Any]) -> tuple[bool, str | None]:
        package = str(case.get("package") or test_package.removesuffix("_test"))
        policies = self
        if case.get("data"):
            data = json.loads(self._data_json)
            for key, value in dict(case["data"]).items():
                if isinstance(value, dict) and isinstance(data.get(key), dict):
                    data[key] = {**data[key], **value}
                else:
                    data[key] = value
            policies = PolicySet(self.modules, data)
        found = {f["id"] for f in policies.evaluate(case["input"], packages=[package])}
        missing = sorted(set(case.get("expect") or []) - found)
        unexpected = sorted(set(case.get("expect_not") or []) & found)
        if not missing and not unexpected:
            return True, None
        problems = ([f"expected {', '.join(missing)}"] if missing else []) + (
            [f"did not expect {', '.join(unexpected)}"] if unexpected else []
        )
        return (
            False,
            f"{'; '.join(problems)} (data.{package}.findings gave {', '.join(sorted(found)) or 'nothing'})",
        )


def _rule_info(rule_id: str, meta: object, package: str) -> RuleInfo:
    if not isinstance(meta, dict):
        raise PolicyError(f"data.{package}.rules[{rule_id!r}] must be an object")
    severity = meta.get("severity")
    if severity not in SEVERITIES:
        raise PolicyError(
            f"data.{package}.rules[{rule_id!r}].severity must be one of {', '.join(SEVERITIES)}"
        )
    hadolint = meta.get("hadolint")
    return RuleInfo(
        id=rule_id,
        title=str(meta.get("title") or rule_id),
        severity=str(severity),
        fix=str(meta.get("fix") or ""),
        hadolint=str(hadolint) if hadolint else None,
        stage=str(meta.get("stage") or "lint"),
        package=package,
    )


def _validate_finding(item: object) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise PolicyError(f"a finding must be an object, got {json.dumps(item)[:80]}")
    for key in ("id", "message"):
        if not isinstance(item.get(key), str) or not item[key]:
            raise PolicyError(f"a finding needs a non-empty string {key!r}: {json.dumps(item)[:120]}")
    if item.get("severity") not in SEVERITIES:
        raise PolicyError(
            f"finding {item['id']}: severity must be one of {', '.join(SEVERITIES)}, got {item.get('severity')!r}"
        )
    line = item.get("line")
    if line is not None and (isinstance(line, bool) or not isinstance(line, int)):
        raise PolicyError(f"finding {item['id']}: line must be an integer or null")
    for key in ("fix", "file", "image"):
        if item.get(key) is not None and not isinstance(item[key], str):
            raise PolicyError(f"finding {item['id']}: {key} must be a string or null")
    return {
        "id": item["id"],
        "severity": item["severity"],
        "message": item["message"],
        "fix": item.get("fix") or "",
        "file": item.get("file"),
        "line": line,
        "image": item.get("image"),
    }
