from __future__ import annotations

import pytest

from repro.pin.rewrite import Edit, EditConflictError, apply_edits


def test_applies_in_any_order_and_dedupes() -> None:
    data = b"FROM a\nCOPY --from=b / /\n"
    edits = [Edit(19, 20, b"b", b"b:1@x"), Edit(5, 6, b"a", b"a:2@y"), Edit(5, 6, b"a", b"a:2@y")]
    assert apply_edits(data, edits) == b"FROM a:2@y\nCOPY --from=b:1@x / /\n"


def test_refuses_wrong_old_bytes() -> None:
    with pytest.raises(EditConflictError, match="expected"):
        apply_edits(b"FROM a\n", [Edit(0, 4, b"NOPE", b"x")])


def test_refuses_overlaps() -> None:
    with pytest.raises(EditConflictError, match="overlapping"):
        apply_edits(b"FROM abc\n", [Edit(5, 7, b"ab", b"x"), Edit(6, 8, b"bc", b"y")])
