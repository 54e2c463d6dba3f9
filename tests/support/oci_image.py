"""A tiny but valid container image, built on disk without docker or network.

``build_oci_image(directory, tag=...)`` writes an OCI image layout::

    DIR/oci-layout                      {"imageLayoutVersion": "1.0.0"}
    DIR/index.json                      one manifest, annotated with the tag
    DIR/blobs/sha256/<manifest>         application/vnd.oci.image.manifest.v1+json
    DIR/blobs/sha256/<config>           application/vnd.oci.image.config.v1+json
    DIR/blobs/sha256/<layer>            a gzip tar holding one small file

which ``skopeo copy oci:DIR:TAG docker://HOST/REPO:TAG`` pushes as it is.
Everything is deterministic for given arguments (fixed mtimes, owners,
gzip header), so the same *content* gives the same digests every time;
pass a different *content* (or *seed*) for a distinct image.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

__all__ = [
    "MANIFEST_MEDIA_TYPE",
    "CONFIG_MEDIA_TYPE",
    "LAYER_MEDIA_TYPE",
    "INDEX_MEDIA_TYPE",
    "OciImage",
    "build_oci_image",
    "digest_of",
    "read_layout",
]

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"

# 2024-01-01T00:00:00Z: mtime of every file, and the image's "created".
_EPOCH = 1704067200
_CREATED = "2024-01-01T00:00:00Z"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _canonical(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True)
class OciImage:
    """What ``build_oci_image`` wrote."""

    path: Path
    tag: str
    manifest_digest: str
    manifest: bytes
    config_digest: str
    config: bytes
    layer_digest: str
    layer_size: int
    diff_id: str  # digest of the uncompressed layer tar
    files: Mapping[str, bytes]

    @property
    def reference(self) -> str:
        """``oci:DIR:TAG`` for skopeo."""
        return f"oci:{self.path}:{self.tag}"

    @property
    def blob_digests(self) -> tuple[str, ...]:
        return (self.config_digest, self.layer_digest)


def _layer_tar(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({"/".join(name.split("/")[:i]) for name in files
                       for i in range(1, name.count("/") + 1)})
        for name in dirs:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.mtime = _EPOCH
            tar.addfile(info)
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = _EPOCH
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _gzip(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return buffer.getvalue()


def _write_blob(root: Path, data: bytes) -> str:
    digest = digest_of(data)
    path = root / "blobs" / "sha256" / digest.split(":", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def build_oci_image(directory: str | os.PathLike, *, tag: str = "latest",
                    content: str | bytes | None = None, seed: str | None = None,
                    files: Mapping[str, str | bytes] | None = None,
                    architecture: str = "amd64", os_name: str = "linux",
                    labels: Mapping[str, str] | None = None) -> OciImage:
    """Write (or add a tag to) an OCI image layout in *directory*.

    The layer holds *files* (``{"path/in/image": data}``), by default one
    file ``hello.txt`` with *content* (default: a fixed greeting plus *seed*).
    Calling again with the same directory and another tag adds that tag.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    if files is None:
        text = content if content is not None else f"hello from credhelper tests{' ' + seed if seed else ''}\n"
        files = {"hello.txt": text}
    data = {name.lstrip("/"): (v.encode() if isinstance(v, str) else bytes(v)) for name, v in files.items()}

    tar = _layer_tar(data)
    layer = _gzip(tar)
    diff_id = digest_of(tar)
    layer_digest = _write_blob(root, layer)

    config_obj = {
        "architecture": architecture,
        "os": os_name,
        "created": _CREATED,
        "config": {"Labels": dict(labels)} if labels else {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": _CREATED, "created_by": "credhelper tests/support/oci_image.py"}],
    }
    config = _canonical(config_obj)
    config_digest = _write_blob(root, config)

    manifest_obj = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": layer_digest, "size": len(layer)}],
    }
    manifest = _canonical(manifest_obj)
    manifest_digest = _write_blob(root, manifest)

    (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    index_path = root / "index.json"
    if index_path.exists():
        index = json.loads(index_path.read_text())
    else:
        index = {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": []}
    index["manifests"] = [m for m in index.get("manifests", [])
                          if m.get("annotations", {}).get(REF_NAME) != tag]
    index["manifests"].append({
        "mediaType": MANIFEST_MEDIA_TYPE,
        "digest": manifest_digest,
        "size": len(manifest),
        "annotations": {REF_NAME: tag},
    })
    index_path.write_text(json.dumps(index, indent=2))
    return OciImage(root, tag, manifest_digest, manifest, config_digest, config, layer_digest,
                    len(layer), diff_id, data)


def read_layout(directory: str | os.PathLike, tag: str | None = None) -> dict:
    """Read back an OCI layout (e.g. one ``skopeo copy docker://... oci:DIR:TAG`` wrote).

    Returns ``{"manifest_digest", "manifest" (parsed), "config" (parsed),
    "layers": [bytes of each layer blob], "files": {path: bytes}}`` for the
    manifest tagged *tag* (or the only one).
    """
    root = Path(directory)
    index = json.loads((root / "index.json").read_text())
    entries = index.get("manifests", [])
    if tag is not None:
        entries = [m for m in entries if m.get("annotations", {}).get(REF_NAME) == tag]
    if len(entries) != 1:
        raise ValueError(f"expected one manifest for tag {tag!r}, found {len(entries)}")
    entry = entries[0]

    def blob(digest: str) -> bytes:
        data = (root / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()
        if digest_of(data) != digest:
            raise ValueError(f"blob {digest} does not match its content")
        return data

    manifest = json.loads(blob(entry["digest"]))
    config = json.loads(blob(manifest["config"]["digest"]))
    layers = [blob(layer["digest"]) for layer in manifest["layers"]]
    files: dict[str, bytes] = {}
    for layer in layers:
        raw = gzip.decompress(layer) if layer[:2] == b"\x1f\x8b" else layer
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            for member in tar.getmembers():
                if member.isfile():
                    files[member.name] = tar.extractfile(member).read()
    return {"manifest_digest": entry["digest"], "manifest": manifest, "config": config,
            "layers": layers, "files": files}
