"""History ``created_by`` texts: what engines write, and one canonical form for all of them.

Engines describe the same instruction differently (see :func:`parse_created_by`):

- buildah and the classic Docker builder: ``/bin/sh -c apt-get update`` for RUN
  (``|2 A=1 B=2 /bin/sh -c …`` with build args), ``/bin/sh -c #(nop) COPY file:<hex> in
  /dest `` for COPY/ADD, ``/bin/sh -c #(nop) ENV A=1`` for the others (buildah's ARG
  entry lists every argument in scope, ``ARG FLAVOUR SOURCE_DATE_EPOCH``);
- BuildKit: ``RUN /bin/sh -c apt-get update # buildkit``, ``COPY src /dest # buildkit``,
  ``ENV A=1``, ``LABEL k=v`` (quotes removed), ``ARG FLAVOUR=plain``.

The canonical form (:func:`canonical_history`), for the entries the build made itself and
only when every one of them pairs with an instruction of the built stages, keyword by
keyword: a RUN entry keeps the command the engine ran, build arguments included
(``RUN |1 A=1 /bin/sh -c …``, the form BuildKit writes without its ``# buildkit``), and
every other entry becomes the instruction as the Dockerfile writes it (its logical line:
``COPY greeting.txt /app/greeting.txt``, ``LABEL title="greet"``). Both engines then
describe a build in the same words, and what the words stood for is not lost: the files
are in the layers and the values in the config. When the history does not line up (an
``ONBUILD`` trigger of the base adds entries, an engine records an instruction the other
does not), the texts stay as the engine wrote them and a cross-engine diff shows them.

    >>> parse_created_by("/bin/sh -c #(nop) COPY file:ab12 in /app ")
    CreatedBy(keyword='COPY', text='file:ab12 in /app')
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

KEYWORDS: Final = frozenset(
    {
        "ADD",
        "ARG",
        "CMD",
        "COPY",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "FROM",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "RUN",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    }
)
_BUILDKIT_SUFFIX: Final = "# buildkit"
_NOP: Final = "#(nop)"
# A shell invocation at the start of a RUN entry: "/bin/sh -c …", "|1 A=b /bin/sh -c …".
_SHELL_RUN_RE: Final = re.compile(r"(?:\|\d+ .*)?\S*sh(?: -\S+)* -c (?s:.*)")


@dataclass(frozen=True, slots=True)
class CreatedBy:
    """A ``created_by`` string taken apart: the instruction keyword (``None`` when the
    text does not say) and the rest, with engine decorations removed."""

    keyword: str | None
    text: str


def parse_created_by(created_by: str) -> CreatedBy:
    """Recognise the keyword in a ``created_by`` string written by buildah, Docker or BuildKit.

    >>> parse_created_by("RUN /bin/sh -c make # buildkit")
    CreatedBy(keyword='RUN', text='/bin/sh -c make')
    >>> parse_created_by("/bin/sh -c make")
    CreatedBy(keyword='RUN', text='/bin/sh -c make')
    """
    text = created_by.strip()
    if text.endswith(_BUILDKIT_SUFFIX):
        text = text[: -len(_BUILDKIT_SUFFIX)].rstrip()
    nop = text.find(_NOP)
    if nop >= 0 and text[:nop].rstrip().endswith("-c"):
        rest = text[nop + len(_NOP) :].strip()
        word, _, tail = rest.partition(" ")
        if word.upper() in KEYWORDS:
            return CreatedBy(word.upper(), tail.strip())
        return CreatedBy(None, rest)
    word, _, tail = text.partition(" ")
    if word in KEYWORDS:
        return CreatedBy(word, tail.strip())
    if _SHELL_RUN_RE.fullmatch(text):
        return CreatedBy("RUN", text)
    return CreatedBy(None, text)


@dataclass(frozen=True)
class BuiltInstruction:
    """One instruction of the built stages: its keyword (upper case) and its logical line."""

    keyword: str
    text: str

    @property
    def canonical(self) -> str:
        """The logical line with the keyword in upper case and blanks squeezed at its ends."""
        words = self.text.strip().split(None, 1)
        return " ".join([self.keyword, *words[1:]])


@dataclass(frozen=True)
class BuiltStages:
    """What the build's own history entries describe: the ``instructions`` of the built
    stage and of the stages it is built ``FROM`` (root first, FROM lines left out), and
    ``base``, the pinned image the root stage starts from (None: ``scratch``), as
    ``NAME@DIGEST``."""

    instructions: tuple[BuiltInstruction, ...]
    base: str | None = None


@dataclass(frozen=True)
class Pairing:
    """Where the build's own history entries start, and the instructions they describe
    (the declarations repro added left out), one per entry."""

    start: int
    instructions: tuple[BuiltInstruction, ...]


def pair_own_entries(
    history: Sequence[Any], built: BuiltStages, *, skip: Callable[[Mapping[str, Any]], bool]
) -> Pairing | None:
    """Pair the tail of ``history`` one to one, keyword by keyword, with
    ``built.instructions``; None when they do not pair. Entries ``skip`` accepts (the
    declarations repro added, see :mod:`repro.build.runenv`) are in neither list; those
    directly before the first paired entry are the build's, not the base image's.
    """
    if any(not isinstance(entry, Mapping) for entry in history):
        return None
    instructions = tuple(
        i for i in built.instructions if not skip({"created_by": i.text, "empty_layer": True})
    )
    entries = [(index, entry) for index, entry in enumerate(history) if not skip(entry)]
    if len(entries) < len(instructions):
        return None
    tail = entries[len(entries) - len(instructions) :]
    for (_, entry), instruction in zip(tail, instructions, strict=True):
        if parse_created_by(str(entry.get("created_by", ""))).keyword != instruction.keyword:
            return None
    start = tail[0][0] if tail else len(history)
    while start > 0 and skip(history[start - 1]):
        start -= 1
    if built.base is None and start != 0:
        return None  # FROM scratch: every entry is the build's
    return Pairing(start=start, instructions=instructions)


def canonical_created_by(created_by: str, instruction: BuiltInstruction) -> str:
    """The canonical text of an entry paired with ``instruction`` (see the module doc)."""
    if instruction.keyword == "RUN":
        return f"RUN {parse_created_by(created_by).text}"
    return instruction.canonical


def canonical_history(
    own: Sequence[dict[str, Any]], pairing: Pairing, *, base: str | None, noise_comments: frozenset[str]
) -> list[dict[str, Any]]:
    """The build's own entries ``own`` (the declarations left out, one per instruction of
    ``pairing``) with canonical ``created_by`` texts and comments: engine comments in
    ``noise_comments`` and ``FROM`` markers removed, then the first entry's comment set to
    ``FROM <base>`` (buildah's marker of where the base image's entries end, which the
    normaliser reads back) whatever the engine wrote."""
    out = []
    for index, (entry, instruction) in enumerate(zip(own, pairing.instructions, strict=True)):
        canonical = {
            **entry,
            "created_by": canonical_created_by(str(entry.get("created_by", "")), instruction),
        }
        comment = canonical.get("comment")
        if comment in noise_comments or (isinstance(comment, str) and comment.startswith("FROM ")):
            del canonical["comment"]
        if index == 0 and base is not None:
            canonical["comment"] = f"FROM {base}"
        out.append(canonical)
    return out
