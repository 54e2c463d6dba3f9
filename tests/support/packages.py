"""Tiny, valid packages built in memory (no network, no build tools), and helpers that publish
them into a fake GitLab's state.

- ``build_wheel``: a pure-Python wheel (PEP 427: ``*.dist-info/METADATA``, ``WHEEL``,
  ``RECORD`` with sha256 digests, one module) that pip installs.
- ``build_sdist``: a ``.tar.gz`` source distribution (PKG-INFO, pyproject.toml, the module).
- ``build_npm_tarball``: ``package/package.json`` and ``package/index.js`` in a gzip tar, with
  npm's ``shasum`` (SHA-1 hex) and ``integrity`` (``sha512-`` base64).
- ``build_terraform_module``: a ``.tgz`` holding ``main.tf``.
- ``twine_form``: the multipart fields ``twine upload`` sends for a distribution.

Everything is deterministic: fixed timestamps, sorted entries, gzip without a time stamp.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import tarfile
import zipfile
from dataclasses import dataclass, field

__all__ = [
    "Distribution",
    "NpmTarball",
    "build_wheel",
    "build_sdist",
    "build_npm_tarball",
    "build_terraform_module",
    "twine_form",
    "publish_wheel",
    "publish_sdist",
    "publish_npm",
    "publish_terraform_module",
    "publish_go_module",
    "wheel_name",
]

_EPOCH = (2024, 1, 1, 0, 0, 0)
_MTIME = 1704067200  # 2024-01-01T00:00:00Z


def wheel_name(name: str) -> str:
    """The distribution part of a wheel or sdist file name (PEP 427 / PEP 625 escaping)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def module_name(name: str) -> str:
    return wheel_name(name)


@dataclass(frozen=True)
class Distribution:
    """A built file: its name, bytes and digests."""

    filename: str
    data: bytes = field(repr=False)
    name: str = ""
    version: str = ""
    requires_python: str | None = None
    summary: str = ""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def md5(self) -> str:
        return hashlib.md5(self.data).hexdigest()

    @property
    def blake2_256(self) -> str:
        return hashlib.blake2b(self.data, digest_size=32).hexdigest()

    @property
    def filetype(self) -> str:
        return "bdist_wheel" if self.filename.endswith(".whl") else "sdist"


def _metadata(name: str, version: str, summary: str, requires_python: str | None) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", f"Summary: {summary}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    return "\n".join(lines) + "\n\n"


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")
    return f"sha256={digest}"


def build_wheel(name: str, version: str, *, requires_python: str | None = None,
                summary: str = "A test package", code: str | None = None) -> Distribution:
    """``NAME-VERSION-py3-none-any.whl`` with package ``MODULE/__init__.py``.

    *code* is the module's source (default: ``VERSION = "<version>"``).
    """
    dist = wheel_name(name)
    module = module_name(name)
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": (code if code is not None else f'VERSION = "{version}"\n').encode(),
        f"{info}/METADATA": _metadata(name, version, summary, requires_python).encode(),
        f"{info}/WHEEL": (b"Wheel-Version: 1.0\nGenerator: credhelper-tests\n"
                          b"Root-Is-Purelib: true\nTag: py3-none-any\n"),
        f"{info}/top_level.txt": f"{module}\n".encode(),
    }
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in files.items())
    record += f"{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = record.encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            entry = zipfile.ZipInfo(path, date_time=_EPOCH)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, data)
    return Distribution(f"{dist}-{version}-py3-none-any.whl", buffer.getvalue(), name, version,
                        requires_python, summary)


def _targz(entries: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path, data in entries.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = _MTIME
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as compressed:
        compressed.write(raw.getvalue())
    return out.getvalue()


def build_sdist(name: str, version: str, *, requires_python: str | None = None,
                summary: str = "A test package") -> Distribution:
    """``name-version.tar.gz`` (PKG-INFO, pyproject.toml for setuptools, the module)."""
    dist = wheel_name(name)
    root = f"{dist}-{version}"
    module = module_name(name)
    pyproject = (f'[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n'
                 f'[project]\nname = "{name}"\nversion = "{version}"\n')
    entries = {
        f"{root}/PKG-INFO": _metadata(name, version, summary, requires_python).encode(),
        f"{root}/pyproject.toml": pyproject.encode(),
        f"{root}/{module}/__init__.py": f'VERSION = "{version}"\n'.encode(),
    }
    return Distribution(f"{root}.tar.gz", _targz(entries), name, version, requires_python, summary)


def twine_form(dist: Distribution) -> tuple[dict[str, str], dict[str, tuple[str, bytes, str]]]:
    """``(data, files)`` for ``requests.post``: the form ``twine upload`` sends."""
    data = {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": dist.name,
        "version": dist.version,
        "filetype": dist.filetype,
        "pyversion": "py3" if dist.filetype == "bdist_wheel" else "source",
        "metadata_version": "2.1",
        "summary": dist.summary,
        "md5_digest": dist.md5,
        "sha256_digest": dist.sha256,
        "blake2_256_digest": dist.blake2_256,
    }
    if dist.requires_python:
        data["requires_python"] = dist.requires_python
    files = {"content": (dist.filename, dist.data, "application/octet-stream")}
    return data, files


@dataclass(frozen=True)
class NpmTarball:
    name: str
    version: str
    data: bytes = field(repr=False)
    package_json: dict = field(default_factory=dict)

    @property
    def filename(self) -> str:
        """The file name GitLab stores (``NAME-VERSION.tgz``, scope included)."""
        return f"{self.name}-{self.version}.tgz"

    @property
    def shasum(self) -> str:
        return hashlib.sha1(self.data).hexdigest()

    @property
    def integrity(self) -> str:
        return "sha512-" + base64.b64encode(hashlib.sha512(self.data).digest()).decode()


def build_npm_tarball(name: str, version: str, *, code: str | None = None,
                      dependencies: dict | None = None) -> NpmTarball:
    """An npm package tarball (``package/package.json``, ``package/index.js``)."""
    package_json = {"name": name, "version": version, "main": "index.js", "license": "MIT"}
    if dependencies:
        package_json["dependencies"] = dict(dependencies)
    source = code if code is not None else f"module.exports = {{ name: {json.dumps(name)}, version: {json.dumps(version)} }};\n"
    entries = {
        "package/package.json": (json.dumps(package_json, indent=2) + "\n").encode(),
        "package/index.js": source.encode(),
    }
    return NpmTarball(name, version, _targz(entries), package_json)


def build_terraform_module(main_tf: str = 'output "hello" {\n  value = "world"\n}\n') -> bytes:
    """A module archive as GitLab's registry stores it (``.tgz`` of the module's files)."""
    return _targz({"main.tf": main_tf.encode()})


# --- publishing into the fake GitLab -------------------------------------------------------


def publish_wheel(state, project, name: str, version: str, *, requires_python: str | None = None,
                  **kwargs) -> tuple[Distribution, object]:
    """Build a wheel and store it as a PyPI package; returns ``(distribution, package_file)``."""
    dist = build_wheel(name, version, requires_python=requires_python, **kwargs)
    file = state.add_package_file(project, "pypi", name, version, dist.filename, dist.data,
                                  metadata={"requires_python": requires_python or ""})
    return dist, file


def publish_sdist(state, project, name: str, version: str, *, requires_python: str | None = None):
    dist = build_sdist(name, version, requires_python=requires_python)
    file = state.add_package_file(project, "pypi", name, version, dist.filename, dist.data,
                                  metadata={"requires_python": requires_python or ""})
    return dist, file


def publish_npm(state, project, name: str, version: str, *, tags: tuple[str, ...] = (), **kwargs):
    """Build an npm tarball and store it as GitLab's npm publish would; returns ``(tarball, package_file)``."""
    tarball = build_npm_tarball(name, version, **kwargs)
    package_json = dict(tarball.package_json)
    package_json["dist"] = {"shasum": tarball.shasum, "integrity": tarball.integrity}
    file = state.add_package_file(project, "npm", name, version, tarball.filename, tarball.data,
                                  metadata={"package_json": package_json})
    for tag in tags:
        state.tag_package(file.package, tag)
    return tarball, file


def publish_terraform_module(state, project, name: str, system: str, version: str, *,
                             main_tf: str | None = None):
    """Store a Terraform module (package name ``NAME/SYSTEM``); returns ``(archive_bytes, package_file)``."""
    data = build_terraform_module(main_tf) if main_tf is not None else build_terraform_module()
    file = state.add_package_file(project, "terraform_module", f"{name}/{system}", version,
                                  f"{name}-{system}-{version}.tgz", data)
    return data, file


def publish_go_module(state, project, module: str, version: str, *, go_mod: str | None = None):
    """Store a Go module version for the fake's Go proxy (``go.mod`` as its file)."""
    text = go_mod if go_mod is not None else f"module {module}\n\ngo 1.21\n"
    return state.add_package_file(project, "golang", module, version, "go.mod", text.encode())
