"""The router: choose a tier per request, run it, fall back when it fails, and record why.

    router = Router().warm_up()
    result = router.run([{"role": "user", "content": "..."}])
    result.answer.completion.text, result.decision.to_dict()

Order of business: a pinned tier wins; then a semantic route, if one matches; then a
distilled task's student, when it is promoted and sure (``distill``); then the configured
strategy between the small and the large tier. Any failure of the chosen path (model missing,
endpoint down, timeout, router not calibrated) lands on the fallback tier and the decision says
what failed. A request pinned to a teacher tier may be answered by that teacher's student too: the
student stands in for the teacher, never for a tier the client chose for another reason.

Distillation's bookkeeping (capturing the teacher's answer, comparing the student's, asking the
teacher for a sampled check) goes to the distiller's background thread once the answer is known.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, TypeVar

from slmkit.errors import InvalidInputError, NotTrainedError, SlmkitError
from slmkit.models.llama import Completion, Delta, Message, Sampling, ToolCallPiece, ToolUse
from slmkit.models.tool_calls import new_call_id
from slmkit.router.decision import Decision
from slmkit.router.semantic import RouteMatch, SemanticRouter
from slmkit.config.router import RouterSettings, Strategy
from slmkit.router.tiers import Answer, LocalTier, RemoteTier, TierError, cost, make_tier


if TYPE_CHECKING:
    from slmkit.distill.distiller import Distiller, StudentAnswer
    from slmkit.guard.guard import Guard, GuardResult
    from slmkit.router.calibration import Calibration
    from slmkit.router.learned import LearnedRouter

T = TypeVar("T")  # what a tier gives back: a whole Answer (run) or an iterator of pieces (stream)

STUDENT_TIER = "student"  # the tier name a distilled task's student answers under (headers, metrics, log)
_TOKEN = re.compile(r"\w+|[^\w\s]")


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
    guard: Guard | None = None  # applied to everything bound for a remote tier
    distiller: Distiller | None = None  # learns tasks from the teacher tiers' answers and serves their students
    _tiers: dict[str, LocalTier | RemoteTier] = field(default_factory=dict, init=False, repr=False)
    _learned: LearnedRouter | None = field(default=None, init=False, repr=False)
    _calibration: Calibration | None = field(default=None, init=False, repr=False)

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

    def use_tier(self, name: str, tier: LocalTier | RemoteTier) -> None:
        """Answer tier ``name`` with ``tier`` (a deployment elsewhere, as under Ray Serve) instead of building it."""
        if name not in self.settings.tiers:  # type: ignore[union-attr]
            raise InvalidInputError(f"unknown tier {name!r}; configured: {', '.join(self.settings.tiers)}")  # type: ignore[union-attr]
        self._tiers[name] = tier

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

    # -- distillation ---------------------------------------------------------------------------
    def teachers(self) -> tuple[str, ...]:
        """The tiers whose answers students learn from (``distill.teachers``; default the large tier)."""
        if self.distiller is None:
            return ()
        return tuple(self.distiller.settings.teachers or [self.settings.large_tier])  # type: ignore[union-attr, list-item]

    def _from_student(self, ask: Ask, decision: Decision, teacher: str) -> Answer | None:
        """A promoted task's answer from its student, when the student is sure enough; None: the usual
        path goes on. A shadow, unsure or sampled student stays on the decision for the comparison."""
        if self.distiller is None or not _learnable(ask):
            return None
        student = self.distiller.answer(ask.messages)
        if student is None:
            return None
        decision.task, decision.student, decision.distill = student.task_id, student.student, student.reason
        decision.teacher, decision.pending = teacher, student
        decision.decision_ms += student.latency_ms
        if not student.served:
            return None
        decision.strategy, decision.tier = "distill", STUDENT_TIER
        decision.confidence, decision.threshold = student.confidence, student.threshold
        prompt = sum(_tokens(str(m.get("content") or "")) for m in ask.messages)
        completion = Completion(student.text, prompt, _tokens(student.text), "stop",
                                f"{STUDENT_TIER}:{student.task_id}:{student.student}")
        return Answer(completion, student.confidence, STUDENT_TIER)

    def _learn(self, ask: Ask, decision: Decision, completion: Completion | None) -> None:
        """After the answer: hand the distiller what it learns from (on its background thread)."""
        if self.distiller is None or not _learnable(ask):
            return
        student = decision.pending
        if decision.strategy == "distill" and student is not None:
            if not student.ask_teacher:
                self.distiller.record_later(ask.messages, None, STUDENT_TIER, 0.0, student)
                return
            teacher = decision.teacher or self.teachers()[0]
            self.distiller.record_later(ask.messages, None, teacher, 0.0, student,
                                        ask_teacher=lambda: self._teach(teacher, ask))
            return
        if completion is None or decision.tier not in self.teachers() or completion.tool_calls:
            return  # no teacher answered: nothing to capture, nothing to compare with
        self.distiller.record_later(ask.messages, completion.text, decision.tier,
                                    self._estimate(decision.tier, completion), student)

    def _teach(self, name: str, ask: Ask) -> tuple[str, float]:
        """The teacher's answer to a request its student served (a sampled check), and what it cost."""
        answer = self._ask(name, ask, Decision(tier=name, strategy="distill"))
        return answer.completion.text, self._estimate(name, answer.completion)

    # -- running ------------------------------------------------------------------------------
    def _estimate(self, name: str, completion: Completion) -> float:
        return cost(self.settings.tiers[name], self.settings, completion.prompt_tokens,  # type: ignore[union-attr]
                    completion.completion_tokens)

    def guard_for_remote(self, name: str, messages: list[Message],
                         decision: Decision) -> tuple[list[Message], GuardResult | None]:
        """The messages a tier may see. Remote tiers get them through the guard (redacted, moderated,
        egress rules); a refusal raises and the request falls back to a local tier."""
        tier = self.tier(name)
        if self.guard is None or not isinstance(tier, RemoteTier):
            return messages, None
        guarded, result = _guard_messages(self.guard, messages)
        decision.guard = result.to_dict()
        if not result.allowed:
            raise PolicyBlocked("the guard policy blocks this request: "
                                + "; ".join(c.reason for c in result.changes if c.kind == "block"))
        if result.destination == "local":
            raise TierError(name, "the guard keeps this request local: "
                            + "; ".join(c.reason for c in result.changes if c.kind == "keep_local"))
        return guarded, result

    def _ask(self, name: str, ask: Ask, decision: Decision, scored: bool = False) -> Answer:
        decision.tiers_tried.append(name)
        outgoing, guarded = self.guard_for_remote(name, ask.messages, decision)
        answer = self.tier(name).answer(outgoing, max_tokens=ask.max_tokens, scored=scored,
                                        json_schema=ask.json_schema, sampling=ask.sampling, tools=ask.tools)
        if guarded is not None and guarded.vault is not None:  # re-personalise, here on this machine
            restore = self._restorer(guarded)
            c = answer.completion
            answer = replace(answer, completion=replace(
                c, text=restore(c.text),
                tool_calls=tuple(replace(t, arguments=_restore_arguments(t.arguments, restore)) for t in c.tool_calls)))
        decision.cost += self._estimate(name, answer.completion)
        return answer

    def _stream_ask(self, name: str, ask: Ask, decision: Decision) -> Iterator[Delta]:
        """The tier's stream, started now: a tier that fails before its first piece raises TierError here,
        while the caller can still fall back (and before any header has gone out)."""
        decision.tiers_tried.append(name)
        outgoing, guarded = self.guard_for_remote(name, ask.messages, decision)
        pieces = self.tier(name).stream(outgoing, max_tokens=ask.max_tokens, json_schema=ask.json_schema,
                                        sampling=ask.sampling, tools=ask.tools)
        try:
            first = next(pieces)
        except StopIteration:
            raise TierError(name, "the stream ended before its first piece") from None
        except BaseException:
            _close(pieces)
            raise
        stream = _prepend(first, pieces)
        if guarded is not None and guarded.vault is not None:
            stream = _restoring(stream, self._restorer(guarded))
        return self._costed(name, stream, decision)

    def _restorer(self, guarded: GuardResult) -> Callable[[str], str]:
        guard = self.guard
        assert guard is not None
        return lambda text: guard.restore(text, guarded)

    def _costed(self, name: str, pieces: Iterator[Delta], decision: Decision) -> Iterator[Delta]:
        try:
            for delta in pieces:
                if delta.finish_reason is not None:
                    decision.cost += cost(self.settings.tiers[name], self.settings,  # type: ignore[union-attr]
                                          delta.prompt_tokens, delta.completion_tokens)
                yield delta
        finally:
            _close(pieces)

    def run(self, messages: list[Message], *, tier: str | None = None, strategy: Strategy | None = None,
            max_tokens: int = 256, json_schema: dict | None = None, sampling: Sampling | None = None,
            tools: ToolUse | None = None) -> Routed:
        """Route and answer. ``answer`` is None when a semantic route points at a skill, a collection or
        the planner: the decision names it (``decision.tier``) and the caller dispatches it."""
        ask = _checked(messages, max_tokens, json_schema, sampling, tools)
        started = time.perf_counter()
        decision = self._decision(tier, strategy)
        answer, match = self._route(ask, tier, strategy, decision,
                                    lambda name: self._ask(name, ask, decision), lambda first: first)
        completion = answer.completion if answer is not None else None
        decision.large_cost = self._large_cost(completion, decision)
        decision.latency_ms = 1000 * (time.perf_counter() - started)
        self._learn(ask, decision, completion)
        return Routed(answer, decision, match)

    def stream(self, messages: list[Message], *, tier: str | None = None, strategy: Strategy | None = None,
               max_tokens: int = 256, json_schema: dict | None = None, sampling: Sampling | None = None,
               tools: ToolUse | None = None) -> tuple[Decision, Iterator[Delta] | None]:
        """Route and stream: the same choice, guard and fallback as ``run``, with the answer in pieces.

        The chosen tier's stream is already started when this returns, so a failure before its first
        piece has been fallen back from and the decision says so. A cascade reads the small tier's whole
        answer to judge it; when it escalates, the large tier's answer streams token by token. The
        decision's cost, large_cost and latency are final once the last piece has been read. ``None``
        instead of pieces: a semantic route to something the caller dispatches, as in ``run``.
        Close the iterator to stop early: the tier stops generating."""
        ask = _checked(messages, max_tokens, json_schema, sampling, tools)
        started = time.perf_counter()
        decision = self._decision(tier, strategy)
        pieces, _ = self._route(ask, tier, strategy, decision, lambda name: self._stream_ask(name, ask, decision),
                                lambda first: first.completion.deltas())
        if pieces is None:
            decision.latency_ms = 1000 * (time.perf_counter() - started)
            return decision, None
        return decision, self._settled(pieces, ask, decision, started)

    def _decision(self, tier: str | None, strategy: Strategy | None) -> Decision:
        return Decision(tier="", strategy="pinned" if tier else (strategy or self.settings.strategy))  # type: ignore[union-attr]

    def _settled(self, pieces: Iterator[Delta], ask: Ask, decision: Decision, started: float) -> Iterator[Delta]:
        """The pieces, with the decision's large-tier cost and latency filled in as the last one passes;
        a stream read to its end is then learned from like a whole answer (an abandoned one is not)."""
        text: list[str] = []
        try:
            for delta in pieces:
                text.append(delta.text)
                if delta.finish_reason is not None:
                    whole = Completion("".join(text), delta.prompt_tokens, delta.completion_tokens,
                                       delta.finish_reason, "")
                    decision.large_cost = self._large_cost(whole, decision)
                    decision.latency_ms = 1000 * (time.perf_counter() - started)
                    self._learn(ask, decision, whole)
                yield delta
        finally:
            _close(pieces)

    def _route(self, ask: Ask, tier: str | None, strategy: Strategy | None, decision: Decision,
               answer_from: Callable[[str], T], keep: Callable[[Answer], T]) -> tuple[T | None, RouteMatch | None]:
        """The one decision path of ``run`` and ``stream``: ``answer_from(tier)`` asks a tier (whole or
        streamed), ``keep(answer)`` turns an answer already in hand (a cascade's small answer) into the same."""
        s = self.settings
        query = str(ask.messages[-1]["content"])
        chosen = strategy or s.strategy  # type: ignore[union-attr]
        match = None
        try:
            if tier:
                decision.tier = tier
                served = self._from_student(ask, decision, tier) if tier in self.teachers() else None
                return (keep(served) if served is not None else answer_from(tier)), None
            if self.semantic is not None:
                match = self.semantic(query)
                decision.decision_ms += match.ms
                if match.route is not None:
                    decision.strategy, decision.route, decision.confidence = "semantic", match.route, match.score
                    decision.threshold = next(r.threshold for r in self.semantic.routes if r.name == match.route)
                    kind, _, target = (match.target or "").partition(":")
                    if kind != "tier":  # a skill, a collection or the planner: the caller dispatches
                        decision.tier = match.target or match.route
                        return None, match
                    decision.tier = target
                    return answer_from(target), match
            served = self._from_student(ask, decision, self.teachers()[0] if self.distiller else "")
            if served is not None:
                return keep(served), match
            return self._strategy(chosen, query, ask, decision, answer_from, keep), match
        except (TierError, NotTrainedError) as exc:
            return self._fall_back(exc, decision, answer_from), match

    def _strategy(self, chosen: str, query: str, ask: Ask, decision: Decision, answer_from: Callable[[str], T],
                  keep: Callable[[Answer], T]) -> T:
        s = self.settings
        small, large = s.small_tier, s.large_tier  # type: ignore[union-attr]
        if chosen in ("small", "large"):
            decision.tier = small if chosen == "small" else large
            return answer_from(decision.tier)
        if chosen == "learned":
            p = self._needs_large(query, decision)
            threshold = self._calibration.learned_threshold if self._calibration else s.learned_threshold  # type: ignore[union-attr]
            decision.confidence, decision.threshold = p, threshold
            decision.tier = large if p >= threshold else small
            return answer_from(decision.tier)
        # cascade and combined: the small tier answers first and judges itself
        learned_p = self._needs_large(query, decision) if chosen == "combined" else None
        first = self._ask(small, ask, decision, scored=True)
        confidence = first.confidence
        if chosen == "combined" and confidence is not None and self._calibration is not None:
            score = self._calibration.combined_score(learned_p, confidence)
            decision.confidence, decision.threshold = score, self._calibration.combined_threshold
            escalate = score >= decision.threshold
        else:
            decision.threshold = self._calibration.cascade_threshold if self._calibration else s.cascade_threshold  # type: ignore[union-attr]
            decision.confidence = confidence
            # Structured output and tool calls have no confidence; they are accepted as the small tier wrote them.
            escalate = confidence is not None and confidence < decision.threshold
        if not escalate:
            decision.tier = small
            return keep(first)
        decision.escalated = True
        decision.tier = large
        try:
            return answer_from(large)
        except TierError as exc:  # the small answer is in hand: better than asking again
            decision.fallback, decision.tier = str(exc), small
            return keep(first)

    def _needs_large(self, query: str, decision: Decision) -> float:
        self._load_calibration()
        if self._learned is None:
            raise NotTrainedError("the learned router is not calibrated: run `slmkit route calibrate`")
        started = time.perf_counter()
        p = float(self._learned.needs_large([query])[0])
        decision.decision_ms += 1000 * (time.perf_counter() - started)
        return p

    def _fall_back(self, exc: SlmkitError, decision: Decision, answer_from: Callable[[str], T]) -> T:
        fallback = self.settings.fallback_tier  # type: ignore[union-attr]
        decision.fallback = str(exc)
        if decision.tiers_tried and decision.tiers_tried[-1] == fallback:
            raise exc  # the fallback itself failed: nothing left to try
        decision.tier = fallback
        return answer_from(fallback)

    def _large_cost(self, completion: Completion | None, decision: Decision) -> float:
        if completion is None:
            return 0.0
        if decision.strategy == "distill" and self.distiller is not None and decision.task is not None:
            # What the task's teacher has cost per request so far: the student's own token counts are estimates.
            return self.distiller.teacher_cost(decision.task)
        large = self.settings.tiers[self.settings.large_tier]  # type: ignore[union-attr, index]
        return cost(large, self.settings, completion.prompt_tokens, completion.completion_tokens)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Ask:
    """One request as every tier receives it."""

    messages: list[Message]
    max_tokens: int = 256
    json_schema: dict | None = None
    sampling: Sampling = Sampling()
    tools: ToolUse | None = None


def _checked(messages: list[Message], max_tokens: int, json_schema: dict | None, sampling: Sampling | None,
             tools: ToolUse | None) -> Ask:
    if not messages or not isinstance(messages[-1], dict) or not str(messages[-1].get("content") or "").strip():
        raise InvalidInputError("messages must end with a message that has content")
    return Ask(messages, max_tokens, json_schema, sampling or Sampling(), tools)


def _learnable(ask: Ask) -> bool:
    """Tasks are learned from plain chat: a reply shaped by a schema or tools is not a label to imitate."""
    return ask.tools is None and ask.json_schema is None


def _tokens(text: str) -> int:
    # A student has no tokenizer of the teacher's; words and punctuation are the usage estimate.
    return len(_TOKEN.findall(text))


def _close(pieces: Iterator[Delta]) -> None:
    close = getattr(pieces, "close", None)
    if close is not None:
        close()


def _prepend(first: Delta, rest: Iterator[Delta]) -> Iterator[Delta]:
    try:
        yield first
        yield from rest
    finally:
        _close(rest)  # also when closed before the first piece was read


def _guard_messages(guard: Guard, messages: list[Message]) -> tuple[list[Message], GuardResult]:
    """Every text a remote tier would see through one guard pass (one vault, so placeholders agree):
    message contents and the arguments of earlier tool calls, which carry personal data just as well."""
    flat: list[dict[str, str]] = []
    for m in messages:
        flat.append({"role": str(m.get("role")), "content": m.get("content") or ""})
        flat += [{"role": "tool_call", "content": str(c["function"]["arguments"])} for c in m.get("tool_calls") or []]
    guarded, result = guard.check_messages(flat, "remote")
    texts = iter(g["content"] for g in guarded)
    out = []
    for m in messages:
        content = next(texts)
        calls = [{**c, "function": {**c["function"], "arguments": next(texts)}} for c in m.get("tool_calls") or []]
        out.append({**m, "content": content if m.get("content") is not None else None,
                    **({"tool_calls": calls} if calls else {})})
    return out, result


def _restore_arguments(arguments: str, restore: Callable[[str], str]) -> str:
    """Placeholders in a tool call's arguments back to the values, inside the JSON strings (a value may
    hold quotes that plain text substitution would break the JSON with)."""
    try:
        data = json.loads(arguments)
    except ValueError:
        return restore(arguments)

    def walk(node: object) -> object:
        if isinstance(node, str):
            return restore(node)
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        return node

    return json.dumps(walk(data), ensure_ascii=False)


def _restoring(pieces: Iterator[Delta], restore: Callable[[str], str]) -> Iterator[Delta]:
    """A guarded remote stream re-personalised on the way through. Text is restored up to its last
    whitespace (a placeholder never spans one, so none is cut in half); tool-call arguments are held
    until the end and restored as JSON."""
    held = ""
    calls: dict[int, list[str]] = {}
    try:
        for delta in pieces:
            if delta.tool_call is not None:
                piece = delta.tool_call
                entry = calls.setdefault(piece.index, [piece.id or new_call_id(), piece.name or "", ""])
                entry[1] = entry[1] or piece.name or ""
                entry[2] += piece.arguments
                continue
            held += delta.text
            final = delta.finish_reason is not None
            cut = len(held) if final else max(held.rfind(c) for c in " \t\r\n") + 1
            if cut:
                text, held = restore(held[:cut]), held[cut:]
                if text:
                    yield Delta(text)
            if final:
                for index, (call_id, name, arguments) in sorted(calls.items()):
                    yield Delta("", tool_call=ToolCallPiece(index, "", call_id, name))
                    yield Delta("", tool_call=ToolCallPiece(index, _restore_arguments(arguments, restore)))
                yield replace(delta, text="")
    finally:
        _close(pieces)
