"""Where model files are: inside installed packages, or built once into the cache.

This module decides what a model needs (package files, assembly from parts, a derived or
converted file) and delegates: files.py finds, hashes and assembles; optimize.py derives;
convert.py converts. None of those imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from slmkit.config import get_settings
from slmkit.errors import ModelCorruptError, ModelMissingError
from slmkit.models.catalog import ModelSpec, get_spec
from slmkit.models.convert import converted_file
from slmkit.models.files import (
    Progress,
    assemble,
    assembled_path,
    checksum_file,
    package_file,
    sha256_file,
)
from slmkit.models.optimize import optimise_encoder
from slmkit.models.zip_member import extract_member

__all__ = [
    "ModelStatus", "assemble", "assembled_path", "derive", "derived_path", "package_file", "resolve",
    "sha256_file", "status", "verify",
]


@dataclass(frozen=True)
class ModelStatus:
    name: str
    present: bool
    path: Path | None
    detail: str


def derived_path(spec: ModelSpec) -> Path:
    return get_settings().cache / "models" / f"{spec.name}.{spec.derive}.onnx"


def derive(spec: ModelSpec) -> Path:
    """The derived model file, built from the packaged one on first use (a few seconds)."""
    target = derived_path(spec)
    if target.is_file():
        return target
    return optimise_encoder(spec, package_file(spec.files["model"]), target, quantise=True)


def resolve(name_or_spec: str | ModelSpec, role: str = "model") -> Path:
    """The usable path of one of a model's files (assembling or deriving it first where needed)."""
    spec = get_spec(name_or_spec) if isinstance(name_or_spec, str) else name_or_spec
    if spec.derive == "torch-export":
        return converted_file(spec, role)
    if spec.derive == "zip-member" and role == "model":
        return extract_member(spec)
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
            return ModelStatus(spec.name, True, converted_file(spec, "model"), "converted")
        if spec.parts:  # assembled from its pieces, or (zip-member) one file extracted from their tail
            extracted = spec.derive == "zip-member"
            target = assembled_path(spec)
            if target.is_file() and target.stat().st_size == spec.assembled_size:
                return ModelStatus(spec.name, True, target, "extracted" if extracted else "assembled")
            for part in spec.parts:
                package_file(part)
            return ModelStatus(spec.name, True, None, "parts installed, "
                               + ("extracted on first use" if extracted else "not yet assembled"))
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
    recorded = checksum_file(target)
    if not recorded.is_file() or recorded.read_text().strip() != sha256_file(target, progress):
        target.unlink()
        raise ModelCorruptError(f"{target} failed its checksum and was removed; {remedy}")


def verify(spec: ModelSpec, progress: Progress | None = None) -> ModelStatus:
    """Re-hash every file of the model that has a known checksum."""
    try:
        if spec.derive == "torch-export":
            target = converted_file(spec, "model")
            _check_recorded(target, f"convert it again with `slmkit models convert {spec.name}`", progress)
            return ModelStatus(spec.name, True, target, "sha256 ok (converted)")
        if spec.parts:
            target = assembled_path(spec)
            if not target.is_file():
                if spec.derive == "zip-member":
                    extract_member(spec)  # checks the member's CRC, size and checksum on the way
                    return ModelStatus(spec.name, True, target, "extracted and verified")
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
