"""The ``.pyc`` files ``compileall`` writes in a RUN step are the same bytes in every build,
because repro puts SOURCE_DATE_EPOCH in the step's environment (run_variables): Python then
writes checked-hash byte code (PEP 552) instead of recording the source file's mtime.

Run with this machine's Python on a tree at one path whose file times differ between the
two "builds", as they do between two real builds; without the variable the bytes differ.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from repro.build.runenv import run_variables

SOURCES = {
    "app/__init__.py": "",
    "app/main.py": "import json\n\n\ndef main() -> str:\n    return json.dumps({'hello': 'world'})\n",
    "app/util/strings.py": "GREETING = 'hello'\n",
}
#: PEP 552 flags word: bit 0 set means hash-based, bit 1 "check_source".
_CHECKED_HASH = 0b11


def compile_tree(root: Path, mtime: int, environment: dict[str, str]) -> dict[str, bytes]:
    """Write the sources with file time ``mtime``, run compileall, return every .pyc by path."""
    shutil.rmtree(root, ignore_errors=True)
    for name, text in SOURCES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        os.utime(path, (mtime, mtime))
    env = {key: value for key, value in os.environ.items() if key != "SOURCE_DATE_EPOCH"}
    env.update(environment)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(root)], env=env, check=True)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.pyc"))}


def test_compileall_under_the_run_variables_gives_the_same_bytes_twice(tmp_path: Path) -> None:
    variables = run_variables(1_704_067_200, ca_bundle=False)
    # The same path both times, as in the container (byte code records the source's path).
    first = compile_tree(tmp_path / "app", 1_700_000_000, variables)
    second = compile_tree(tmp_path / "app", 1_800_000_000, variables)
    assert len(first) == len(SOURCES)
    assert first == second
    for data in first.values():
        assert int.from_bytes(data[4:8], "little") == _CHECKED_HASH


def test_without_source_date_epoch_the_bytes_record_the_file_time(tmp_path: Path) -> None:
    first = compile_tree(tmp_path / "app", 1_700_000_000, {})
    second = compile_tree(tmp_path / "app", 1_800_000_000, {})
    assert first.keys() == second.keys()
    assert all(first[name] != second[name] for name in first)
