"""Which encoder a collection is embedded with: the short names `--embedder` takes, and the choice.

A collection records its encoder (the catalog name, in ``collections.embed_model``); queries are
always embedded with it. Measured on both evaluation domains (`slmkit eval rag --embedder
minilm,nomic`): see the README's RAG section for the figures behind the default.
"""

from __future__ import annotations

from slmkit.config import get_settings
from slmkit.errors import InvalidInputError

# short name -> catalog name; the one list of the encoders a collection can be built with
EMBEDDERS: dict[str, str] = {
    "minilm": "minilm-l6-int8",  # all-MiniLM-L6-v2, dynamic int8 ONNX: the default, 7-18x faster than nomic
    "nomic": "nomic-embed-text-v1.5",  # f16 GGUF on llama.cpp, `make nomic`: 2-4 points better re-ranked r@1
    "mpnet": "mpnet-base-v2",  # fp32 ONNX converted once with torch, `make mpnet`
}


def embedder_model(name: str | None) -> str | None:
    """The catalog encoder for a short or catalog name; ``None`` stays ``None`` (keep the collection's).
    Any encoder the embed skill serves is accepted by its catalog name (e5 for multilingual text)."""
    from slmkit.skills.embed import embedding_models

    if name is None or name == "":
        return None
    if name in EMBEDDERS:
        return EMBEDDERS[name]
    known = embedding_models()
    if name in known:
        return name
    raise InvalidInputError(f"unknown embedder {name!r}; choose one of {', '.join(EMBEDDERS)} "
                            f"(or a catalog encoder: {', '.join(known)})")


def default_model() -> str:
    """The encoder of a new collection when none is named: the settings' default encoder."""
    return get_settings().embed_model


def short_name(model: str) -> str:
    return next((short for short, full in EMBEDDERS.items() if full == model), model)
