"""Which tools could serve one ask: embedding similarity to each tool's description and example asks.

Choosing a tool for a short ask ("is the review positive?") is a retrieval problem the encoder
solves in milliseconds; a 0.5B generator choosing among every tool at once confuses neighbours
(``pii`` for ``entities``) and pays for reading every tool's schema. So each ask gets the few
tools whose texts are nearest to it, and the generator may only pick (and fill in) one of those.

A tool's texts are its description plus the example asks kept with its registration
(``@slmkit.plan.tool(examples=[...])``), so a user's tool is shortlisted exactly like a shipped one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from slmkit.plan.tools import Tool
    from slmkit.skills.embed import Embed


@dataclass(frozen=True)
class Candidate:
    tool: str
    score: float  # cosine similarity of the ask to the tool's nearest text
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
        return {"ask": self.ask, "candidates": [{"tool": c.tool, "score": round(c.score, 3)}
                                                for c in self.candidates]}


def tool_texts(tool: Tool) -> list[str]:
    """What an ask is compared with: the name with the description (an ask often says "classify" or
    "calculate" outright), and the example asks in users' words."""
    named = f"{tool.name.replace('_', ' ')}: {tool.description}" if tool.description.strip() else tool.name
    return [named, *(e for e in tool.examples if e.strip())]


class Shortlister:
    """Ranks tools for asks. Tool vectors are computed once per tool text and kept, so registering
    another tool later costs only its own texts."""

    def __init__(self, encoder: Embed) -> None:
        self.encoder = encoder
        self._vectors: dict[str, np.ndarray] = {}  # text -> unit vector

    def _unit(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            matrix = self.encoder.vectors(missing)
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            for text, row in zip(missing, matrix / np.maximum(norms, 1e-12), strict=True):
                self._vectors[text] = row
        return np.stack([self._vectors[t] for t in texts])

    def rank(self, asks: list[str], tools: list[Tool], k: int) -> list[Shortlist]:
        """For each ask, the ``k`` tools whose nearest text is most similar to it, best first."""
        import numpy as np

        if not asks or not tools:
            return [Shortlist(a, ()) for a in asks]
        owners: list[int] = []
        texts: list[str] = []
        for i, t in enumerate(tools):
            for text in tool_texts(t):
                owners.append(i)
                texts.append(text)
        sims = self._unit([a if a.strip() else "?" for a in asks]) @ self._unit(texts).T  # (asks, texts)
        owner = np.asarray(owners)
        out = []
        for a, row in zip(asks, sims, strict=True):
            best = np.full(len(tools), -2.0)
            where = np.full(len(tools), -1)
            for j in np.argsort(-row):  # nearest text first: the first hit per tool is its best
                if best[owner[j]] < -1.5:
                    best[owner[j]], where[owner[j]] = row[j], j
            order = np.argsort(-best)[:k]
            out.append(Shortlist(a, tuple(Candidate(tools[i].name, float(best[i]), texts[where[i]]) for i in order)))
        return out
