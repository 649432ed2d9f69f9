"""Which tools could serve one ask: a head trained on the tools' descriptions and example asks, beside
plain embedding similarity to those texts.

Choosing a tool for a short ask ("is the review positive?") is a classification problem the encoder
solves in milliseconds; a 0.5B generator choosing among every tool at once confuses neighbours
(``pii`` for ``entities``) and pays for reading every tool's schema. So each ask gets the few
tools most likely to serve it, and the generator may only pick (and fill in) one of those.

A tool's texts are its description plus the example asks kept with its registration
(``@slmkit.plan.tool(examples=[...])``), so a user's tool is shortlisted exactly like a shipped one.
Two ways to score a tool for an ask (``plan.shortlist_method``):

- ``similarity``: cosine similarity to the tool's nearest text (a nearest-neighbour vote);
- ``head``: the calibrated probability of a linear head (``train.heads.LinearHead``: embedding plus
  TF-IDF words, temperature fitted on held-out folds) trained on those texts, one class per tool.
  It learns which words tell neighbours apart ("mask" is ``redact``, "is there" is ``pii``), and its
  probability is a clearer "this one and no other" signal than a similarity margin. The head is
  retrained (well under a second) whenever the set of offered tools or their texts change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from slmkit.config.plan import ShortlistMethod

if TYPE_CHECKING:
    import numpy as np

    from slmkit.plan.tools import Tool
    from slmkit.skills.embed import Embed
    from slmkit.train.heads import LinearHead

_HEADS_KEPT = 4  # heads kept for catalogues seen before


@dataclass(frozen=True)
class Candidate:
    tool: str
    score: float  # what the ranking uses: the head's probability, or the similarity
    similarity: float  # cosine similarity of the ask to the tool's nearest text
    nearest: str  # that text: the description or one of the example asks


@dataclass(frozen=True)
class Shortlist:
    ask: str
    candidates: tuple[Candidate, ...]  # best first

    @property
    def names(self) -> list[str]:
        return [c.tool for c in self.candidates]

    @property
    def margin(self) -> float:
        """How far the best tool is ahead of the second: a wide margin is an easy ask."""
        if len(self.candidates) < 2:
            return 1.0
        return self.candidates[0].score - self.candidates[1].score

    def to_dict(self) -> dict[str, object]:
        return {"ask": self.ask, "candidates": [{"tool": c.tool, "score": round(c.score, 3),
                                                 "similarity": round(c.similarity, 3)} for c in self.candidates]}


def tool_texts(tool: Tool) -> list[str]:
    """What an ask is compared with: the name with the description (an ask often says "classify" or
    "calculate" outright), and the example asks in users' words."""
    named = f"{tool.name.replace('_', ' ')}: {tool.description}" if tool.description.strip() else tool.name
    return [named, *(e for e in tool.examples if e.strip())]


class Shortlister:
    """Ranks tools for asks. Tool vectors are computed once per tool text and kept, so registering
    another tool later costs only its own texts (and retraining the head, which is cheap)."""

    def __init__(self, encoder: Embed, method: ShortlistMethod = "head") -> None:
        self.encoder = encoder
        self.method = method
        self._vectors: dict[str, np.ndarray] = {}  # text -> unit vector
        # one head per catalogue seen (tools come and go with collections and user registrations), newest last
        self._heads: dict[tuple[tuple[str, tuple[str, ...]], ...], LinearHead] = {}

    def _unit(self, texts: list[str], keep: bool = True) -> np.ndarray:
        """Unit vectors; the tools' texts are kept (``keep``), asks are not (a server sees endless asks)."""
        import numpy as np

        def unit(batch: list[str]) -> np.ndarray:
            matrix = self.encoder.vectors(batch)
            return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)

        if not keep:
            return unit(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, unit(missing), strict=True))
        return np.stack([self._vectors[t] for t in texts])

    def head(self, tools: list[Tool]) -> LinearHead:
        """The head over these tools, trained on their texts (kept until the catalogue changes)."""
        from slmkit.train.heads import LinearHead

        catalogue = tuple((t.name, tuple(tool_texts(t))) for t in tools)
        if catalogue not in self._heads:
            texts = [text for _, ts in catalogue for text in ts]
            labels = [name for name, ts in catalogue for _ in ts]
            while len(self._heads) >= _HEADS_KEPT:
                del self._heads[next(iter(self._heads))]
            self._heads[catalogue] = LinearHead.fit(self._unit(texts), labels, texts=texts)
        return self._heads[catalogue]

    def rank(self, asks: list[str], tools: list[Tool], k: int) -> list[Shortlist]:
        """For each ask, the ``k`` tools that most likely serve it, best first."""
        import numpy as np

        if not asks or not tools:
            return [Shortlist(a, ()) for a in asks]
        owners: list[int] = []
        texts: list[str] = []
        for i, t in enumerate(tools):
            for text in tool_texts(t):
                owners.append(i)
                texts.append(text)
        queries = [a if a.strip() else "?" for a in asks]
        x = self._unit(queries, keep=False)
        sims = x @ self._unit(texts).T  # (asks, texts)
        owner = np.asarray(owners)
        nearest = np.empty((len(asks), len(tools)))  # per tool: the similarity of its nearest text
        where = np.empty((len(asks), len(tools)), dtype=int)  # and which text that is
        for i in range(len(tools)):
            columns = np.flatnonzero(owner == i)
            best = sims[:, columns].argmax(axis=1)
            nearest[:, i] = sims[np.arange(len(asks)), columns[best]]
            where[:, i] = columns[best]
        if self.method == "head" and len(tools) > 1:
            head = self.head(tools)
            probs = head.predict_proba(x, texts=queries)
            column = {name: c for c, name in enumerate(head.labels)}
            scores = probs[:, [column[t.name] for t in tools]]
        else:
            scores = nearest
        out = []
        for a, row, sim, at in zip(asks, scores, nearest, where, strict=True):
            order = np.argsort(-row, kind="stable")[:k]
            out.append(Shortlist(a, tuple(Candidate(tools[i].name, float(row[i]), float(sim[i]), texts[at[i]])
                                          for i in order)))
        return out
