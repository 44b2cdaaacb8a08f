"""``repro release`` with a secret passed as a build argument: refused at the policy gate,
and the value is in no output, log, report, attestation or registry.

buildah writes ``|N NAME=value`` into the history of every RUN that sees a build
argument, so the value would be in the image config of anything published.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from devtools.testbed import BaseImages
from repro import redact
from repro.cli import main
from repro.errors import EXIT_RELEASE_POLICY
from tests.integration.test_release import images, make_app, tags  # noqa: F401  -- fixture

pytestmark = [pytest.mark.buildah, pytest.mark.slow]

SECRET_APP = """\
FROM {base}
ARG {name}
COPY greeting.txt /app/greeting.txt
RUN test -n "${name}" && echo built > /app/built
USER 65534:65534
CMD ["/bin/cat", "/app/greeting.txt"]
"""

CASES = [
    ("MY_PASS", "hunter2hunter2", "hunter2hunter2"),
    ("NPMRC", "//registry.npmjs.org/:_authToken=0f8e7d6c-5b4a-3928-1716-05f4e3d2c1b0", "0f8e7d6c"),
    ("DATABASE_URL", "postgres://app:correct-horse@db.internal:5432/app", "correct-horse"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_a_secret_build_argument_is_refused_and_published_nowhere(
    images: BaseImages,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    case: tuple[str, str, str],
) -> None:
    name, value, needle = case
    app = make_app(tmp_path / "app", images.busybox.pinned, SECRET_APP.replace("{name}", name))
    target = f"{images.host}/release-secret/{name.lower()}:1.0"
    report = tmp_path / "report.json"
    caplog.set_level(logging.DEBUG)
    try:
        code = main(
            [
                "release", str(app), "--image", target, "--push", target,
                "--build-arg", f"{name}={value}", "--report", str(report), "--json", "-vv",
            ]
        )  # fmt: skip
    finally:
        redact.forget_all()
    captured = capsys.readouterr()
    assert code == EXIT_RELEASE_POLICY, captured.err
    data = json.loads(captured.out)
    denied = [f for f in data["policy"]["findings"] if f["id"] == "REPRO-SECRET-004"]
    assert denied, data["policy"]["findings"]
    assert name in denied[0]["message"]
    assert "--secret" in denied[0]["fix"]
    assert data["attestations"] == []
    assert data["signer"] is None
    assert tags(f"http://{images.host}", f"release-secret/{name.lower()}") == []  # nothing pushed
    everything = {
        "stdout": captured.out,
        "stderr": captured.err,
        "log": caplog.text,
        "report": report.read_text(),
        "step summary": (tmp_path / "step-summary.md").read_text(),
    }
    for where, text in everything.items():
        assert needle not in text, f"the secret is in the {where}"
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]
    assert leftovers == [], "the secret is in a file repro left behind"
