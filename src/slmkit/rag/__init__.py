"""RAG: ingest a folder -> structure-aware chunks -> one SQLite index (FTS5 + vectors) ->
hybrid retrieval -> re-ranking -> answers with citations from a local generator.

    from slmkit import rag
    rag.ingest("~/finance-docs", "finance")
    rag.ask("What was the Q3 cash position?", "finance").text
    rag.ingest("~/finance-docs", "finance", embed_model="nomic")  # another encoder: re-embeds the collection

Nothing heavy is imported here: each function imports its module on first use.
"""

from __future__ import annotations

from slmkit.lazy import lazy_exports


_EXPORTS = {
    "ingest": "slmkit.rag.ingest", "ingest_texts": "slmkit.rag.ingest", "scan": "slmkit.rag.ingest",
    "open_index": "slmkit.rag.ingest", "SourceText": "slmkit.rag.ingest", "IngestReport": "slmkit.rag.ingest",
    "Index": "slmkit.rag.index", "Filter": "slmkit.rag.index",
    "Retriever": "slmkit.rag.retrieve", "RetrievalConfig": "slmkit.rag.retrieve", "search": "slmkit.rag.retrieve",
    "Hit": "slmkit.rag.retrieve",
    "ask": "slmkit.rag.answer", "Answerer": "slmkit.rag.answer", "RagAnswer": "slmkit.rag.answer",
    "Citation": "slmkit.rag.answer", "NOT_FOUND": "slmkit.rag.answer",
    "ChunkingConfig": "slmkit.rag.chunking", "chunk_document": "slmkit.rag.chunking",
    "EMBEDDERS": "slmkit.rag.embedders", "ReembedReport": "slmkit.rag.reembed",
}
__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
