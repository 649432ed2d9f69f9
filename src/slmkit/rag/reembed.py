"""Re-embed a collection with another encoder (``slmkit ingest --embedder nomic`` on a MiniLM collection).

Every distinct chunk text is embedded again, in batches; each batch's vectors are committed to a
staging table beside the chunks, which keep serving the old vectors with the old encoder meanwhile.
Only when every text has its new vector does one transaction swap them in and switch the collection's
model and dimension. So a re-embed killed at any point leaves the previous index intact and
searchable, and the next run resumes from the batches already staged instead of starting over.

The fitted fusion weights (``slmkit rag tune``) are dropped in the swap: they were fitted on the old
encoder's scores, and the defaults are the safer guess until the collection is tuned again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from slmkit.config import get_settings
from slmkit.errors import ModelMissingError
from slmkit.rag.embedders import short_name
from slmkit.rag.index import TUNED_KEY, Index
from slmkit.reports import Bar, no_bar

log = logging.getLogger("slmkit.rag")

BATCH = 256  # chunk texts embedded and committed together: a progress step and a resume point


@dataclass
class ReembedReport:
    collection: str
    old_model: str
    new_model: str
    texts: int = 0  # distinct chunk texts of the collection
    embedded: int = 0  # embedded by this run
    resumed: int = 0  # staged by an earlier, interrupted run
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return self.old_model != self.new_model


def check_available(model: str) -> None:
    """Refuse before any work when the encoder's files are absent (the message names the install)."""
    from slmkit.models.catalog import get_spec
    from slmkit.models.store import status

    state = status(get_spec(model))
    if not state.present:
        raise ModelMissingError(f"embedder {short_name(model)!r} ({model}) is not available: {state.detail}")


def reembed(index: Index, collection: str, embed_model: str, bar: Bar = no_bar) -> ReembedReport:
    """Give ``collection`` vectors from ``embed_model`` (nothing to do if it already has them)."""
    import numpy as np

    from slmkit.skills.embed import Embed

    started = time.perf_counter()
    coll = index.collection(collection)
    report = ReembedReport(collection, coll.embed_model, embed_model)
    if not report.changed:
        return report
    check_available(embed_model)
    embed = Embed(embed_model)
    limit = get_settings().max_text_chars
    report.texts = index.query("SELECT count(DISTINCT text_hash) FROM chunks WHERE collection = ?", (collection,))[0][0]
    todo = index.unstaged(collection, embed_model)
    report.resumed = report.texts - len(todo)
    log.info("re-embedding %s with %s: %d texts (%d staged before)", collection, embed_model, len(todo),
             report.resumed)
    with bar(f"re-embed {collection}: {short_name(coll.embed_model)} -> {short_name(embed_model)}",
             len(todo)) as advance:
        while True:
            for start in range(0, len(todo), BATCH):
                part = todo[start : start + BATCH]
                matrix = embed.vectors([text[:limit] for _, text in part])
                index.stage_vectors(collection, embed_model, [(h, np.asarray(row, dtype="<f4").tobytes())
                                                              for (h, _), row in zip(part, matrix, strict=True)])
                report.embedded += len(part)
                advance(len(part))
            # Chunks added by a concurrent ingest meanwhile have no staged vector yet: embed them, then retry.
            if not index.swap_embedder(collection, embed_model, embed.dim, drop_meta=(TUNED_KEY,)):
                break
            todo = index.unstaged(collection, embed_model)
    report.seconds = time.perf_counter() - started
    return report
