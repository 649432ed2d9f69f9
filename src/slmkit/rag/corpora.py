"""Public data sets as RAG sources: SQuAD v1.1 dev, one document per paragraph; CoQA's stories
(narrative, news and forum text), one document per story.

The quality evaluation (``slmkit eval rag``) and the speed benchmark (``slmkit bench
rag``) index the same documents under the same names; they share this adapter
here, below both, because neither may import the other.
"""

from __future__ import annotations

from slmkit.datasets.loaders import SquadCorpus
from slmkit.datasets.offdomain import Story
from slmkit.rag.ingest import SourceText


def squad_sources(corpus: SquadCorpus) -> list[SourceText]:
    return [SourceText(f"squad-dev/{corpus.articles[p]:02d}-{corpus.titles[corpus.articles[p]]}/p{p:04d}", text,
                       meta={"article": corpus.articles[p], "paragraph": p})
            for p, text in enumerate(corpus.paragraphs)]


def coqa_sources(stories: list[Story]) -> list[SourceText]:
    return [SourceText(f"coqa/{s.source}/{i:03d}-{s.id}", s.text, meta={"paragraph": i, "source": s.source})
            for i, s in enumerate(stories)]
