"""llama.cpp in embedding mode: a GGUF encoder (nomic-embed-text-v1.5) -> pooled, normalised vectors.

Same contract as the ONNX encoder (``warm_up``, ``dim``, ``encode``), plus ``is_query``: nomic is an
asymmetric retrieval model, trained with a task prefix on every input ("search_query: " for what a
user asks, "search_document: " for what is indexed); without them its retrieval quality drops.

llama_cpp is imported on ``warm_up``. A llama.cpp context is not thread-safe, so encoding is
serialised with a lock. The context is ``MAX_TOKENS`` wide: llama-cpp-python packs several short
inputs into one decode up to that many tokens, and cuts a longer input to it (a RAG chunk of 160
words is ~220 tokens, so nothing indexed is cut).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from slmkit.config import get_settings
from slmkit.models.catalog import ModelSpec, get_spec
from slmkit.models.llama import LlamaModel

MAX_TOKENS = 512  # measured 13-16 sentences/s up to here on 2 cores; wider contexts only cost memory


@dataclass
class LlamaEmbedder(LlamaModel):
    spec: ModelSpec
    threads: int = 1
    n_ctx: int = MAX_TOKENS
    asymmetric: bool = True  # the ``Embed`` skill passes ``is_query`` to encoders that say so

    @property
    def dim(self) -> int:
        assert self.spec.dim is not None
        return self.spec.dim

    def warm_up(self) -> LlamaEmbedder:
        self._load(self.spec, embedding=True, n_ctx=self.n_ctx, n_batch=self.n_ctx, n_ubatch=self.n_ctx,
                   n_threads=self.threads, n_threads_batch=self.threads)
        return self

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: Callable[[int], None] | None = None,
               is_query: bool = False) -> np.ndarray:
        """Embed ``texts`` (already validated) into a float32 array of shape ``(len(texts), dim)``."""
        self.warm_up()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        prefix = self.spec.query_prefix if is_query else self.spec.document_prefix
        # Sorted by length: llama-cpp-python fills each decode with whole inputs, so similar lengths pack
        # more of them into one.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            with self._lock:
                rows = self._llm.embed([prefix + texts[i] for i in idx], truncate=True)
            matrix = np.asarray(rows, dtype=np.float32).reshape(len(idx), self.dim)
            out[idx] = matrix / np.clip(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12, None)
            if progress:
                progress(len(idx))
        return out


@lru_cache(maxsize=4)
def _embedder(name: str, threads: int) -> LlamaEmbedder:
    return LlamaEmbedder(get_spec(name), threads=threads)


def get_embedder(name: str, threads: int | None = None) -> LlamaEmbedder:
    """The process-wide llama.cpp encoder for ``name``; one instance per model and thread count."""
    return _embedder(name, threads or get_settings().threads)
