"""Task templates: the fixed instruction around a varying payload, found in captured requests.

A request is templatable when it is one user message, optionally after one system message,
both plain text. Requests are grouped by their exact system prompt; within a group the user
messages are aligned token by token, from the front (prefix) and then from the back (suffix).

Why token tries and not embedding clusters: two templates that differ in one word of the
instruction ("... positive or negative" / "... toxic or not") embed close together, and an
embedding cluster would merge them. In a prefix trie they branch, and each branch goes on with
the rest of its own instruction: a *stable run* (the same next tokens for ≥ 95 % of the branch).
A payload's first words branch too, but into many small, unstable continuations. So the walk
down the trie follows a branch only when it is big (``min_support`` requests) and either nearly
everyone takes it or a stable run follows; where it stops, the payload starts.

A payload start shared by a subgroup ("What is the weather ...") can look stable for a few
tokens; a stop that lies at most ``_MAX_EXTENSION`` words below another template's stop is
folded into that template. Requests that share no template (too few, too short a fixed text)
are open.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from slmkit.models.tool_calls import Message

# A placeholder the guard wrote: "[PERSON_1]" (mask) or "[PERSON_3f9a0c1d]" (hash): one token.
PLACEHOLDER = re.compile(r"\[[A-Z][A-Z_]*_[0-9a-f]{1,16}\]")
_TOKEN = re.compile(r"\[[A-Z][A-Z_]*_[0-9a-f]{1,16}\]|\s+|\w+|[^\w\s]")
_STAY = 0.98  # share of a node's requests that must take a branch for it to be followed without a run
_RUN_TOKENS = 3  # words/punctuation ``min_support`` requests must share for a branch to be followed
_MAX_EXTENSION = 6  # a stop this close below another template's stop is a payload start, not a template
_MAX_DEPTH = 256  # tokens of the user message read for the prefix (longer instructions: use a system prompt)
_SYSTEM_ROLES = ("system", "developer")


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _words(tokens: Sequence[str]) -> int:
    return sum(not t.isspace() for t in tokens)


@dataclass(frozen=True)
class Request:
    """The templatable shape of a chat request."""

    system: str | None
    user: str


def request_shape(messages: Sequence[Message]) -> Request | None:
    """``[system?, user]`` with text contents, else None (multi-turn, tools and images are not templated)."""
    if not isinstance(messages, Sequence) or not 1 <= len(messages) <= 2:
        return None
    if not all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages):
        return None
    roles = [m.get("role") for m in messages]
    if roles[-1] != "user" or (len(roles) == 2 and roles[0] not in _SYSTEM_ROLES):
        return None
    if any(m.get("tool_calls") for m in messages):
        return None
    user = messages[-1]["content"].strip()
    if not user:
        return None
    return Request(messages[0]["content"] if len(messages) == 2 else None, user)


@dataclass(frozen=True)
class TemplateMatch:
    payload: str
    values: dict[str, str]  # placeholder in the template's fixed text -> the text it stands for in this request

    def restore(self, text: str) -> str:
        """Put this request's own values back where an answer carries a template placeholder."""
        for token, value in self.values.items():
            text = text.replace(token, value)
        return text


def _pattern(text: str, names: list[str]) -> str:
    """A regex for fixed text: whitespace runs match any whitespace, placeholders match any text."""
    parts = []
    for tok in tokenize(text):
        if tok.isspace():
            parts.append(r"\s+")
        elif PLACEHOLDER.fullmatch(tok):
            parts.append(f"(?P<v{len(names)}>.+?)")
            names.append(tok)
        else:
            parts.append(re.escape(tok))
    return "".join(parts)


@dataclass(frozen=True)
class Template:
    system: str | None
    prefix: str
    suffix: str

    @cached_property
    def fixed_words(self) -> int:
        return _words(tokenize(self.prefix)) + _words(tokenize(self.suffix)) + (
            _words(tokenize(self.system)) if self.system else 0)

    @property
    def signature(self) -> str:
        return json.dumps([self.system, self.prefix, self.suffix])

    @property
    def task_id(self) -> str:
        return "t-" + hashlib.sha256(self.signature.encode()).hexdigest()[:10]

    def describe(self, width: int = 70) -> str:
        user = f"{self.prefix}{{payload}}{self.suffix}"
        text = (f"[system] {self.system!r} [user] " if self.system is not None else "") + repr(user)
        return text if len(text) <= width else text[: width - 3] + "..."

    @cached_property
    def _compiled(self) -> tuple[re.Pattern[str] | None, re.Pattern[str], list[str]]:
        names: list[str] = []
        system = re.compile(r"\s*" + _pattern(self.system.strip(), names) + r"\s*", re.DOTALL) \
            if self.system is not None else None
        user = re.compile(r"\s*" + _pattern(self.prefix, names) + r"(?P<payload>.+?)" + _pattern(self.suffix, names)
                          + r"\s*", re.DOTALL)
        return system, user, names

    def match(self, request: Request) -> TemplateMatch | None:
        system, user, names = self._compiled
        values: dict[str, str] = {}
        if (system is None) != (request.system is None):
            return None
        if system is not None:
            m = system.fullmatch(request.system or "")
            if m is None:
                return None
            values.update({names[int(k[1:])]: v for k, v in m.groupdict().items()})
        m = user.fullmatch(request.user)
        if m is None or not m.group("payload").strip():
            return None
        values.update({names[int(k[1:])]: v for k, v in m.groupdict().items() if k != "payload"})
        return TemplateMatch(m.group("payload").strip(), values)

    def to_dict(self) -> dict:
        return {"system": self.system, "prefix": self.prefix, "suffix": self.suffix}

    @classmethod
    def from_dict(cls, data: dict) -> Template:
        return cls(data["system"], data["prefix"], data["suffix"])


def best_match(templates: Sequence[Template], request: Request) -> tuple[int, TemplateMatch] | None:
    """The most specific template (most fixed words) that matches, as (index, match)."""
    order = sorted(range(len(templates)), key=lambda i: -templates[i].fixed_words)
    for i in order:
        m = templates[i].match(request)
        if m is not None:
            return i, m
    return None


# -- mining ---------------------------------------------------------------------------------------

@dataclass
class _Node:
    depth: int
    members: list[int]
    parent: _Node | None = None
    token: str = ""
    stops: list[int] = field(default_factory=list)


def _stable(seqs: dict[int, list[str]], members: list[int], depth: int, min_support: int) -> bool:
    """Do ``min_support`` of ``members`` go on with the same ``_RUN_TOKENS`` words from ``depth``?

    Counted on the commonest continuation, not as a share of the branch: a first token such as a
    final "." is shared by a template's suffix and by payloads that end a sentence.
    """
    runs: Counter[tuple[str, ...]] = Counter()
    for i in members:
        seq, words, end = seqs[i], 0, depth
        while end < len(seq) and words < _RUN_TOKENS:
            words += not seq[end].isspace()
            end += 1
        if words == _RUN_TOKENS:
            runs[tuple(seq[depth:end])] += 1
    return bool(runs) and runs.most_common(1)[0][1] >= min_support


def _prefix_groups(seqs: dict[int, list[str]], members: list[int], min_support: int, fold_words: int
                   ) -> list[tuple[int, list[int]]]:
    """Split ``members`` by where their fixed prefix ends: [(prefix length in tokens, members)].

    The first entry, at length 0, holds the requests that share no prefix template. Stops are
    folded only into a template with at least ``fold_words`` fixed words: a lone shared "." is
    no template to fold a real one into.
    """
    root = _Node(0, list(members))
    nodes, stack = [root], [root]
    while stack:
        node = stack.pop()
        branches: dict[str, list[int]] = defaultdict(list)
        for i in node.members:
            if node.depth >= min(len(seqs[i]), _MAX_DEPTH):
                node.stops.append(i)
            else:
                branches[seqs[i][node.depth]].append(i)
        for token, branch in branches.items():
            followed = len(branch) >= min_support and (
                len(branch) >= _STAY * len(node.members) or _stable(seqs, branch, node.depth, min_support))
            if followed:
                child = _Node(node.depth + 1, branch, node, token)
                nodes.append(child)
                stack.append(child)
            else:
                node.stops.extend(branch)

    def valid(node: _Node) -> bool:
        return node is root or len(node.stops) >= min_support

    # Too few stops: those requests belong to the nearest template above them (or to none).
    for node in sorted(nodes, key=lambda n: -n.depth):
        if not valid(node) and node.stops:
            above = node.parent
            while above is not None and not valid(above):
                above = above.parent
            (above or root).stops.extend(node.stops)
            node.stops = []
    def words_above(node: _Node) -> int:
        count = 0
        while node.parent is not None:
            count += _words([node.token])
            node = node.parent
        return count

    # A stop a few words below another template's stop: a common payload start, folded in.
    for node in sorted(nodes, key=lambda n: -n.depth):
        if node is root or not node.stops:
            continue
        above, words = node.parent, _words([node.token])
        while above is not None and above is not root and not valid(above):
            words += _words([above.token])
            above = above.parent
        if above is not None and above is not root and words <= _MAX_EXTENSION and words_above(above) >= fold_words:
            above.stops.extend(node.stops)
            node.stops = []
    return [(node.depth, node.stops) for node in nodes if node.stops or node is root]


@dataclass(frozen=True)
class Group:
    template: Template
    members: tuple[int, ...]  # indices into the requests given to ``mine``


@dataclass
class _Draft:
    prefix: list[str]
    suffix: list[str]
    members: list[int]

    def fixed(self) -> int:
        return _words(self.prefix) + _words(self.suffix)


def _fold_extensions(drafts: list[_Draft], need: int, min_support: int) -> list[_Draft]:
    """Fold a draft into another whose prefix and suffix it extends (one of them, or both).

    The prefix pass runs first, so a payload start shared by many ("Which of the following ...")
    can split a suffix template; folded back, those words return to the payload, where a student
    still sees them, so folding never hides what tells two instructions apart. Both sides can be
    extended at once: "Which of the following ...?" before a suffix template's "\n\nWhich subject..."
    also takes the question mark into its suffix.
    """
    def covers(longer: list[str], shorter: list[str], front: bool) -> bool:
        if len(longer) < len(shorter):
            return False
        return longer[:len(shorter)] == shorter if front else longer[len(longer) - len(shorter):] == shorter

    for draft in sorted(drafts, key=lambda d: -(len(d.prefix) + len(d.suffix))):
        size = len(draft.prefix) + len(draft.suffix)
        bases = [base for base in drafts if base is not draft and len(base.members) >= min_support
                 and base.fixed() >= need and len(base.prefix) + len(base.suffix) < size
                 and covers(draft.prefix, base.prefix, True) and covers(draft.suffix, base.suffix, False)]
        if bases:
            # Into the template that keeps the most fixed words: the other side goes to the payload.
            base = max(bases, key=lambda b: (b.fixed(), len(b.members)))
            base.members.extend(draft.members)
            draft.members = []
    return [d for d in drafts if d.members]


def mine(requests: Sequence[Request | None], *, min_support: int = 20, min_fixed_words: int = 3
         ) -> tuple[list[Group], list[int]]:
    """(templates with their members, indices of requests in no template)."""
    by_system: dict[str | None, list[int]] = defaultdict(list)
    users: dict[int, str] = {}
    unassigned: list[int] = []
    for i, request in enumerate(requests):
        if request is None:
            unassigned.append(i)
        else:
            by_system[request.system].append(i)
            users[i] = request.user
    groups: list[Group] = []
    for system, members in by_system.items():
        if len(members) < min_support:
            unassigned.extend(members)
            continue
        seqs = {i: tokenize(users[i]) for i in members}
        # A system prompt is an instruction by itself; a user-only template needs fixed words.
        need = 0 if system is not None else min_fixed_words
        drafts: list[_Draft] = []
        for plen, with_prefix in _prefix_groups(seqs, members, min_support, max(need, 1)):
            if not with_prefix:
                continue
            rests = {i: seqs[i][plen:][::-1] for i in with_prefix}
            fold = max(need - _words(seqs[with_prefix[0]][:plen]), 1)
            for slen, both in _prefix_groups(rests, with_prefix, min_support, fold):
                keep = [i for i in both if _words(seqs[i][plen:len(seqs[i]) - slen]) >= 1]
                unassigned.extend(sorted(set(both) - set(keep)))
                if keep:
                    first = seqs[keep[0]]
                    drafts.append(_Draft(first[:plen], first[len(first) - slen:] if slen else [], keep))
        for draft in _fold_extensions(drafts, max(need, 1) if system is None else 0, min_support):
            if len(draft.members) < min_support or draft.fixed() < need:
                unassigned.extend(draft.members)
                continue
            template = Template(system, "".join(draft.prefix), "".join(draft.suffix))
            groups.append(Group(template, tuple(sorted(draft.members))))
    return groups, sorted(unassigned)
