"""Licence strings from package metadata, as SPDX where the metadata is SPDX.

Package metadata says licences in many ways: an SPDX expression (``MIT OR Apache-2.0``),
an SPDX id in another case (``mit``), or a free-form name (``GPLv3+``, ``BSD``). A valid
SPDX expression is returned in its canonical spelling; anything else is kept as the
metadata wrote it, so the SBOM writer can tell an expression from a name.

    >>> normalize("(mit OR Apache-2.0)")
    'MIT OR Apache-2.0'
    >>> normalize("GPLv3+")
    'GPLv3+'
"""

from __future__ import annotations

import functools
from typing import Any

from license_expression import ExpressionError, get_spdx_licensing

__all__ = ["is_spdx", "normalize"]

_MAX_LICENSE_TEXT = 1024  # a licence field longer than this is the licence's text, not its name


@functools.cache
def _licensing() -> Any:
    return get_spdx_licensing()


@functools.lru_cache(maxsize=4096)
def _canonical(text: str) -> str | None:
    try:
        info = _licensing().validate(text)
    except (ExpressionError, TypeError, ValueError):  # ExpressionParseError is an ExpressionError
        return None  # the expression is not SPDX
    except AttributeError:
        # license-expression 30.x fails this way on some invalid keys ("MIT/X11") while
        # reporting them: whatever the reason, the text is not an SPDX expression.
        return None
    if info.errors or not info.normalized_expression:
        return None
    return str(info.normalized_expression)


def is_spdx(text: str) -> bool:
    """Whether ``text`` is a valid SPDX licence expression (known ids only)."""
    text = text.strip()
    return bool(text) and len(text) <= _MAX_LICENSE_TEXT and _canonical(text) is not None


def normalize(text: str) -> str:
    """The canonical SPDX spelling of ``text`` if it is SPDX, else ``text`` stripped."""
    text = text.strip()
    if not text or len(text) > _MAX_LICENSE_TEXT:
        return text
    return _canonical(text) or text
