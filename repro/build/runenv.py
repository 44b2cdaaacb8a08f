"""What every RUN step gets from repro without the Dockerfile asking: ``SOURCE_DATE_EPOCH``
and, with ``--ca-bundle``, the variables that point TLS clients at the mounted CA bundle.

Tools honour SOURCE_DATE_EPOCH only if it is in their environment (Python's py_compile,
pip and compileall write deterministic checked-hash ``.pyc`` files; gzip, dpkg, shadow's
``lastchg``, Sphinx, many compilers stop writing the clock). BuildKit hands it to RUN
steps only where the stage declares ``ARG SOURCE_DATE_EPOCH``; repro gives it to all.

How, measured with buildah 1.28: ``--env`` lands in the image config and reaches RUN
steps only after the stage's first commit; ``containers.conf`` ``env`` does not reach them
at all. A declared build argument does, and never reaches the config. So the engine builds
a copy of the Dockerfile with one line ``ARG SOURCE_DATE_EPOCH …`` after every ``FROM``
and the values as build args; the normaliser then removes what that leaves in the
history (the ``ARG`` entry, the ``NAME=VALUE`` words in the RUN entries), so the image
records nothing of it. A stage that declares ``ARG SOURCE_DATE_EPOCH`` itself gets the
same value, as BuildKit gives it.

    >>> run_variables(0, ca_bundle=False)
    {'SOURCE_DATE_EPOCH': '0'}
    >>> declare_args(b"FROM a\\nRUN make\\n", ["SOURCE_DATE_EPOCH"])
    b'FROM a\\nARG SOURCE_DATE_EPOCH\\nRUN make\\n'
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from repro.dockerfile import parse
from repro.layers.leftovers import CA_BUNDLE_MOUNT

EPOCH_VARIABLE: Final = "SOURCE_DATE_EPOCH"
#: Where TLS clients look for extra or replacement CA certificates: OpenSSL (and Python's
#: ssl, wget, git), requests, pip, Node.js (npm), curl.
CA_VARIABLES: Final = (
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "PIP_CERT",
    "NODE_EXTRA_CA_CERTS",
    "CURL_CA_BUNDLE",
)


def run_variables(epoch: int, *, ca_bundle: bool) -> dict[str, str]:
    """The variables every RUN step gets: the epoch, and the CA bundle's path if mounted."""
    variables = {EPOCH_VARIABLE: str(epoch)}
    if ca_bundle:
        variables |= dict.fromkeys(CA_VARIABLES, CA_BUNDLE_MOUNT)
    return variables


def declare_args(dockerfile: bytes, names: Iterable[str], *, filename: str = "Dockerfile") -> bytes:
    """``dockerfile`` with ``ARG NAME…`` on a line of its own after every ``FROM``.

    Only bytes are inserted (a newline and the ARG, right after the FROM instruction and
    before its line ending), so the rest of the file is unchanged.
    """
    line = ("\nARG " + " ".join(names)).encode()
    parsed = parse(dockerfile, filename=filename)
    ends = [ins.span.end for ins in parsed.instructions if ins.keyword.upper() == "FROM"]
    out = bytearray()
    start = 0
    for end in ends:
        out += dockerfile[start:end] + line
        start = end
    out += dockerfile[start:]
    return bytes(out)
