"""``repro sbom`` on real images, against two independent answers: dpkg's own database
(read with python-debian, not with repro's parser) and syft 1.18.

The image: the test bed's Debian minbase (by digest, from the test registry) plus, each in
its own layer, ``apt-get install python3-requests python3-pip less``, a pip-installed local
project and a ``node_modules/left-pad/package.json``, and ``apt-get purge less`` (which must
not appear). It is built with real buildah, once per test session, into a temporary layout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.testbed import BaseImages
from repro.cli import main
from repro.oci.layout import ImageLayout
from repro.sbom.generate import generate_sbom

SOURCE_DATE_EPOCH = 1704067200
SYFT = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "syft"

DOCKERFILE = """\
FROM {base}
RUN apt-get update && apt-get install -y --no-install-recommends python3-requests python3-pip less \\
 && rm -rf /var/lib/apt/lists/*
COPY hello /src/hello
RUN pip install --no-index --no-build-isolation --break-system-packages /src/hello \\
 && mkdir -p /app/node_modules/left-pad \\
 && printf '{{"name":"left-pad","version":"1.3.0","license":"WTFPL"}}\\n' > /app/node_modules/left-pad/package.json
RUN apt-get purge -y less && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
"""
PYPROJECT = """\
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"
[project]
name = "repro-hello"
version = "1.2.3"
"""


def write_context(directory: Path, base: str) -> Path:
    """The build context of the test image; returns the Dockerfile."""
    (directory / "hello" / "repro_hello").mkdir(parents=True)
    (directory / "hello" / "pyproject.toml").write_text(PYPROJECT)
    (directory / "hello" / "repro_hello" / "__init__.py").write_text("")
    dockerfile = directory / "Dockerfile"
    dockerfile.write_text(DOCKERFILE.format(base=base))
    return dockerfile


def build_extended_image(base: str, workdir: Path) -> tuple[Path, Path]:
    """Build the test image with buildah into ``workdir/oci`` (tag ``ext``); return (layout, Dockerfile)."""
    context = workdir / "context"
    dockerfile = write_context(context, base)
    storage = workdir / "storage"
    argv = [
        "buildah", "build", "--isolation", "chroot", "--storage-driver", "vfs",
        "--root", str(storage / "root"), "--runroot", str(storage / "run"),
        "--tls-verify=false", "--layers", "--timestamp", str(SOURCE_DATE_EPOCH),
        "-t", f"oci:{workdir / 'oci'}:ext", "-f", str(dockerfile), str(context),
    ]  # fmt: skip
    subprocess.run(argv, check=True, capture_output=True, timeout=900)
    shutil.rmtree(storage, ignore_errors=True)
    return workdir / "oci", dockerfile


@pytest.fixture(scope="session")
def extended_image(
    base_images: BaseImages, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, Path]]:
    if shutil.which("buildah") is None:
        pytest.skip("buildah is not installed")
    assert base_images.debian is not None
    workdir = tmp_path_factory.mktemp("sbom-image")
    yield build_extended_image(base_images.debian.by_digest, workdir)
    shutil.rmtree(workdir, ignore_errors=True)


def installed_from_status(layout_dir: Path) -> dict[str, str]:
    """dpkg's view: Package → Version of installed packages, read from the final status file
    with python-debian (extracted with tar, independently of repro)."""
    from debian.deb822 import Deb822

    layout = ImageLayout.open(layout_dir)
    image = layout.image("ext")
    status: bytes | None = None
    for layer in image.layers:  # the last layer that has the file wins (none deletes it)
        blob = layout.blob_path(layer.digest)
        found = subprocess.run(
            ["tar", "-xOf", str(blob), "var/lib/dpkg/status"], capture_output=True, check=False
        )
        if found.returncode == 0 and found.stdout:
            status = found.stdout
    assert status is not None
    packages = {}
    for stanza in Deb822.iter_paragraphs(status.decode()):
        if stanza.get("Status", "").endswith(" installed"):
            packages[stanza["Package"]] = stanza["Version"]
    return packages


def syft_packages(layout_dir: Path) -> list[dict[str, str]]:
    out = subprocess.run(
        [str(SYFT), f"oci-dir:{layout_dir}", "-o", "syft-json", "-q"],
        capture_output=True,
        check=True,
        timeout=600,
    ).stdout
    return [
        {"type": a["type"], "name": a["name"], "version": a["version"], "purl": a["purl"]}
        for a in json.loads(out)["artifacts"]
    ]


def components(document: bytes) -> list[dict[str, object]]:
    return list(json.loads(document)["components"])


def properties(component: dict[str, object]) -> dict[str, str]:
    props = component.get("properties", [])
    assert isinstance(props, list)
    return {p["name"]: p["value"] for p in props}


@pytest.mark.slow
@pytest.mark.buildah
def test_sbom_matches_dpkg_and_syft(extended_image: tuple[Path, Path]) -> None:
    layout_dir, dockerfile = extended_image
    layout = ImageLayout.open(layout_dir)
    image = layout.image("ext")
    document = generate_sbom(layout, image, name="ext", dockerfile=dockerfile)
    comps = components(document)
    debs = {c["name"]: c for c in comps if str(c.get("purl", "")).startswith("pkg:deb/")}

    # 1. the deb set is exactly dpkg's installed set
    truth = installed_from_status(layout_dir)
    assert {name: c["version"] for name, c in debs.items()} == truth
    assert "less" not in debs  # installed in one layer, purged in a later one

    # 2. everything syft finds (deb, python, npm) repro finds too; same purl for deb
    by_purl = {str(c.get("purl")) for c in comps}
    named = {(c["name"], c.get("version")) for c in comps}
    for pkg in syft_packages(layout_dir):
        if pkg["type"] == "deb":
            assert pkg["purl"] in by_purl, pkg
        elif pkg["type"] in ("python", "npm"):
            assert (pkg["name"], pkg["version"]) in named, pkg

    # 3. attribution: base packages come from layer 0, the new ones from the RUN at line 2
    assert properties(debs["libc6"])["repro:layer:index"] == "0"
    requests = properties(debs["python3-requests"])
    assert requests["repro:layer:index"] == "1"
    assert requests["repro:location"] == "Dockerfile:2"
    assert "apt-get install" in requests["repro:layer:createdBy"]
    assert requests["repro:layer:diffID"] == str(image.layers[1].diff_id)

    # 4. dependencies resolved to installed packages
    deps = {d["ref"]: d["dependsOn"] for d in json.loads(document)["dependencies"]}
    assert str(debs["libc6"]["purl"]) in deps[str(debs["python3.11-minimal"]["purl"])]


@pytest.mark.slow
@pytest.mark.buildah
def test_sbom_is_deterministic_and_cli_writes_it(extended_image: tuple[Path, Path], tmp_path: Path) -> None:
    layout_dir, _ = extended_image
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["sbom", f"oci:{layout_dir}:ext", "-o", f"cyclonedx-json={first}"]) == 0
    assert main(["sbom", f"oci:{layout_dir}:ext", "-o", f"cyclonedx-json={second}"]) == 0
    assert first.read_bytes() == second.read_bytes()
    document = json.loads(first.read_bytes())
    assert document["metadata"]["timestamp"] == "2024-01-01T00:00:00Z"


@pytest.mark.slow
def test_sbom_of_a_registry_image_and_diff(
    base_images: BaseImages, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert base_images.debian is not None
    config = tmp_path / "repro.toml"
    config.write_text(f'[registries."{base_images.host}"]\ninsecure = true\n')
    out = tmp_path / "debian.json"
    assert (
        main(["--config", str(config), "sbom", base_images.debian.by_digest, "-o", f"cyclonedx-json={out}"])
        == 0
    )
    document = json.loads(out.read_bytes())
    component = document["metadata"]["component"]
    assert component["purl"] == (
        f"pkg:oci/debian@{base_images.debian.digest.replace(':', '%3A')}"
        f"?repository_url={base_images.host}/debian"
    )
    os_component = next(c for c in document["components"] if c["type"] == "operating-system")
    assert (os_component["name"], os_component["version"]) == ("debian", "12")

    busybox = tmp_path / "busybox.json"
    assert (
        main(
            [
                "--config",
                str(config),
                "sbom",
                base_images.busybox.reference,
                "-o",
                f"cyclonedx-json={busybox}",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["sbom", "diff", str(out), str(busybox), "--json"]) == 0
    diff = json.loads(capsys.readouterr().out)
    assert {p["name"] for p in diff["removed"]} >= {"libc6", "bash", "dpkg"}
    assert diff["added"] == []


def syft_spdx_packages(layout_dir: Path) -> dict[str, dict[str, object]]:
    """syft's SPDX document of the image: purl -> package."""
    out = subprocess.run(
        [str(SYFT), f"oci-dir:{layout_dir}", "-o", "spdx-json", "-q"],
        capture_output=True,
        check=True,
        timeout=600,
    ).stdout
    packages = {}
    for package in json.loads(out)["packages"]:
        purls = [
            r["referenceLocator"] for r in package.get("externalRefs", []) if r["referenceType"] == "purl"
        ]
        if purls:
            packages[purls[0]] = package
    return packages


@pytest.mark.slow
@pytest.mark.buildah
def test_spdx_is_valid_and_agrees_with_syft_and_cyclonedx(
    extended_image: tuple[Path, Path], tmp_path: Path
) -> None:
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    layout_dir, _ = extended_image
    spdx_path, cdx_path = tmp_path / "sbom.spdx.json", tmp_path / "sbom.cdx.json"
    image = f"oci:{layout_dir}:ext"
    assert main(["sbom", image, "-o", f"spdx-json={spdx_path}", "-o", f"cyclonedx-json={cdx_path}"]) == 0
    assert validate_full_spdx_document(parse_file(str(spdx_path)), "SPDX-2.3") == []

    again = tmp_path / "again.spdx.json"
    assert main(["sbom", image, "-o", f"spdx-json={again}"]) == 0
    assert again.read_bytes() == spdx_path.read_bytes()

    ours = {}
    for package in json.loads(spdx_path.read_bytes())["packages"]:
        for ref in package.get("externalRefs", []):
            ours[ref["referenceLocator"]] = package
    cdx_purls = {c["purl"] for c in components(cdx_path.read_bytes()) if "purl" in c}
    assert {purl for purl in ours if not purl.startswith("pkg:oci/")} == cdx_purls

    syft = syft_spdx_packages(layout_dir)
    syft_debs = {(p["name"], p["versionInfo"]) for purl, p in syft.items() if purl.startswith("pkg:deb/")}
    our_debs = {(p["name"], p["versionInfo"]) for purl, p in ours.items() if purl.startswith("pkg:deb/")}
    assert our_debs == syft_debs
    for purl, package in syft.items():
        if purl.startswith(("pkg:pypi/", "pkg:npm/")):
            assert any(
                (p["name"], p.get("versionInfo")) == (package["name"], package["versionInfo"])
                for p in ours.values()
            ), purl
