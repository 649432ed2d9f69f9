"""The router: choose a tier per request, run it, fall back when it fails, and record why.

    router = Router().warm_up()
    result = router.run([{"role": "user", "content": "..."}])
    result.answer.completion.text, result.decision.to_dict()

Order of business: a pinned tier wins; then a semantic route, if one matches; then
the configured strategy between the small and the large tier. Any failure of the
chosen path (model missing, endpoint down, timeout, router not calibrated) lands on
the fallback tier and the decision says what failed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from slmkit.errors import InvalidInputError, NotTrainedError, SlmkitError
from slmkit.models.llama import Message
from slmkit.router.decision import Decision
from slmkit.router.semantic import RouteMatch, SemanticRouter
from slmkit.router.settings import RouterSettings, Strategy
from slmkit.router.tiers import Answer, LocalTier, RemoteTier, TierError, cost, make_tier


class PolicyBlocked(InvalidInputError):
    """The guard policy refuses to send this request anywhere (moderation or injection set to block)."""


@dataclass
class Routed:
    answer: Answer | None  # None when a semantic route points at something the caller dispatches
    decision: Decision
    match: RouteMatch | None = None


@dataclass
class Router:
    settings: RouterSettings | None = None
    semantic: SemanticRouter | None = None
    threads: int | None = None
    guard: Any = None  # a slmkit.guard.Guard applied to everything bound for a remote tier
    _tiers: dict[str, LocalTier | RemoteTier] = field(default_factory=dict, init=False, repr=False)
    _learned: Any = field(default=None, init=False, repr=False)
    _calibration: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        from slmkit.config import get_settings

        settings = get_settings()
        self.settings = self.settings or settings.router
        self.threads = self.threads or max(settings.threads, 2)
        if self.semantic is None and self.settings.routes_file:
            path = settings.data_dir / self.settings.routes_file
            self.semantic = SemanticRouter.from_yaml(path if path.is_file() else self.settings.routes_file)

    def tier(self, name: str) -> LocalTier | RemoteTier:
        if name not in self.settings.tiers:  # type: ignore[union-attr]
            raise InvalidInputError(f"unknown tier {name!r}; configured: {', '.join(self.settings.tiers)}")  # type: ignore[union-attr]
        if name not in self._tiers:
            self._tiers[name] = make_tier(name, self.settings, self.threads)  # type: ignore[arg-type]
        return self._tiers[name]

    def warm_up(self) -> Router:
        """Load the local tiers, the semantic routes and the calibration, if there is one."""
        s = self.settings
        for name in dict.fromkeys([s.small_tier, s.large_tier, s.fallback_tier]):  # type: ignore[union-attr]
            try:
                self.tier(name).warm_up()
            except TierError:
                pass  # reported, and fallen back from, when a request needs it
        if self.semantic is not None:
            self.semantic.warm_up()
        self._load_calibration()
        return self

    def _load_calibration(self) -> None:
        from slmkit.router import calibration
        from slmkit.router.learned import LearnedRouter

        if self._calibration is None:
            try:
                self._calibration = calibration.load()
                self._learned = LearnedRouter.load(calibration.route_dir() / "learned.json", self.threads).warm_up()
            except NotTrainedError:
                self._calibration = None

    # -- running ------------------------------------------------------------------------------
    def _estimate(self, name: str, answer: Answer) -> float:
        return cost(self.settings.tiers[name], self.settings, answer.completion.prompt_tokens,  # type: ignore[union-attr]
                    answer.completion.completion_tokens)

    def guard_for_remote(self, name: str, messages: list[Message], decision: Decision) -> tuple[list[Message], Any]:
        """The messages a tier may see. Remote tiers get them through the guard (redacted, moderated,
        egress rules); a refusal raises and the request falls back to a local tier."""
        tier = self.tier(name)
        if self.guard is None or not isinstance(tier, RemoteTier):
            return messages, None
        guarded, result = self.guard.check_messages(messages, "remote")
        decision.guard = result.to_dict()
        if not result.allowed:
            raise PolicyBlocked("the guard policy blocks this request: "
                                + "; ".join(c.reason for c in result.changes if c.kind == "block"))
        if result.destination == "local":
            raise TierError(name, "the guard keeps this request local: "
                            + "; ".join(c.reason for c in result.changes if c.kind == "keep_local"))
        return guarded, result

    def _ask(self, name: str, messages: list[Message], decision: Decision, max_tokens: int, scored: bool = False,
             json_schema: dict | None = None) -> Answer:
        decision.tiers_tried.append(name)
        outgoing, guarded = self.guard_for_remote(name, messages, decision)
        answer = self.tier(name).answer(outgoing, max_tokens=max_tokens, scored=scored, json_schema=json_schema)
        if guarded is not None and guarded.vault is not None:  # re-personalise, here on this machine
            from dataclasses import replace

            answer = replace(answer, completion=replace(answer.completion,
                                                        text=self.guard.restore(answer.completion.text, guarded)))
        decision.cost += self._estimate(name, answer)
        return answer

    def run(self, messages: list[Message], *, tier: str | None = None, strategy: Strategy | None = None,
            max_tokens: int = 256, json_schema: dict | None = None) -> Routed:
        if not messages or not isinstance(messages[-1], dict) or not str(messages[-1].get("content", "")).strip():
            raise InvalidInputError("messages must end with a message that has content")
        s = self.settings
        started = time.perf_counter()
        query = str(messages[-1]["content"])
        chosen = strategy or s.strategy  # type: ignore[union-attr]
        decision = Decision(tier="", strategy="pinned" if tier else chosen)
        match = None
        answer: Answer | None = None
        try:
            if tier:
                decision.tier = tier
                answer = self._ask(tier, messages, decision, max_tokens, json_schema=json_schema)
            else:
                if self.semantic is not None:
                    match = self.semantic(query)
                    decision.decision_ms += match.ms
                    if match.route is not None:
                        decision.strategy, decision.route, decision.confidence = "semantic", match.route, match.score
                        decision.threshold = next(r.threshold for r in self.semantic.routes if r.name == match.route)
                        kind, _, target = (match.target or "").partition(":")
                        if kind != "tier":  # a skill, a collection or the planner: the caller dispatches
                            decision.tier = match.target or match.route
                            decision.latency_ms = 1000 * (time.perf_counter() - started)
                            return Routed(None, decision, match)
                        decision.tier = target
                        answer = self._ask(target, messages, decision, max_tokens, json_schema=json_schema)
                if answer is None:
                    answer = self._strategy(chosen, query, messages, decision, max_tokens, json_schema)
        except (TierError, NotTrainedError) as exc:
            answer = self._fall_back(exc, messages, decision, max_tokens, json_schema)
        decision.large_cost = self._large_cost(answer)
        decision.latency_ms = 1000 * (time.perf_counter() - started)
        return Routed(answer, decision, match)

    def _strategy(self, chosen: str, query: str, messages: list[Message], decision: Decision, max_tokens: int,
                  json_schema: dict | None) -> Answer:
        s = self.settings
        small, large = s.small_tier, s.large_tier  # type: ignore[union-attr]
        if chosen in ("small", "large"):
            decision.tier = small if chosen == "small" else large
            return self._ask(decision.tier, messages, decision, max_tokens, json_schema=json_schema)
        if chosen == "learned":
            p = self._needs_large(query, decision)
            threshold = self._calibration.learned_threshold if self._calibration else s.learned_threshold  # type: ignore[union-attr]
            decision.confidence, decision.threshold = p, threshold
            decision.tier = large if p >= threshold else small
            return self._ask(decision.tier, messages, decision, max_tokens, json_schema=json_schema)
        # cascade and combined: the small tier answers first and judges itself
        learned_p = self._needs_large(query, decision) if chosen == "combined" else None
        first = self._ask(small, messages, decision, max_tokens, scored=True, json_schema=json_schema)
        confidence = first.confidence
        if chosen == "combined" and confidence is not None:
            score = self._calibration.combined_score(learned_p, confidence)
            decision.confidence, decision.threshold = score, self._calibration.combined_threshold
            escalate = score >= decision.threshold
        else:
            decision.threshold = self._calibration.cascade_threshold if self._calibration else s.cascade_threshold  # type: ignore[union-attr]
            decision.confidence = confidence
            # Structured output has no confidence; it is accepted as the small tier wrote it.
            escalate = confidence is not None and confidence < decision.threshold
        if not escalate:
            decision.tier = small
            return first
        decision.escalated = True
        decision.tier = large
        try:
            return self._ask(large, messages, decision, max_tokens, json_schema=json_schema)
        except TierError as exc:  # the small answer is in hand: better than asking again
            decision.fallback, decision.tier = str(exc), small
            return first

    def _needs_large(self, query: str, decision: Decision) -> float:
        self._load_calibration()
        if self._learned is None:
            raise NotTrainedError("the learned router is not calibrated: run `slmkit route calibrate`")
        started = time.perf_counter()
        p = float(self._learned.needs_large([query])[0])
        decision.decision_ms += 1000 * (time.perf_counter() - started)
        return p

    def _fall_back(self, exc: SlmkitError, messages: list[Message], decision: Decision, max_tokens: int,
                   json_schema: dict | None) -> Answer:
        fallback = self.settings.fallback_tier  # type: ignore[union-attr]
        decision.fallback = str(exc)
        if decision.tiers_tried and decision.tiers_tried[-1] == fallback:
            raise exc  # the fallback itself failed: nothing left to try
        decision.tier = fallback
        return self._ask(fallback, messages, decision, max_tokens, json_schema=json_schema)

    def _large_cost(self, answer: Answer | None) -> float:
        if answer is None:
            return 0.0
        large = self.settings.tiers[self.settings.large_tier]  # type: ignore[union-attr, index]
        return cost(large, self.settings, answer.completion.prompt_tokens, answer.completion.completion_tokens)  # type: ignore[arg-type]
