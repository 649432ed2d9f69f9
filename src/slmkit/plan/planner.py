"""The planner: a generator writes the step graph under a grammar, then it is checked and mended.

Asks first (``plan.tool_choice`` shortlist, auto, embedding): the generator lists the separate asks
in the request under a small grammar; each ask gets a shortlist of tools from a head trained on the
tools' descriptions and example asks (``shortlist``); then the generator writes exactly one step
per ask, its tool constrained to that ask's shortlist (in ``auto`` a clear winner is fixed and the
generator only fills in the arguments). A step whose tool is fixed and which only reads the passage
the request quotes is written by rule (``fill``), not by the generator; when every step is, the asks
call is the only generator call. A step therefore always names the ask it serves, the
grammar and the prompt hold only the shortlisted tools, and the step text carries no ids or
dependency lists (ids follow the asks' order; dependencies are read from the ``${s1}`` references).
``all`` is the earlier single call that offers every tool, kept as the baseline it is measured against.

The grammar is built from the registry: every step is one of the tools with that tool's
argument schema, so the model cannot name a tool that does not exist or pass an argument
of the wrong type. What a grammar cannot enforce (references
to earlier steps, missing dependencies, cycles) is checked by ``graph.validate``: mended by
``graph.repair`` where no judgement is needed, otherwise sent back to the model with the
complaints, a bounded number of times. In ``auto`` the large tier plans requests that look
hard and takes over when the small tier's plans stay invalid; if every attempt fails the
request becomes a one-step plan (``generate``), so a run always has a valid plan and the
trace says which of these happened.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slmkit.config import get_settings
from slmkit.config.plan import PlannerChoice, PlanSettings
from slmkit.errors import InvalidInputError, SlmkitError
from slmkit.plan.fill import QUOTED, RuleStep, fill, passages, writes_text
from slmkit.plan.graph import Plan, Problem, Step, drop_unserving, parse, repair, validate
from slmkit.plan.shortlist import Shortlist, Shortlister
from slmkit.plan.tools import Tool, ToolRegistry
from slmkit.rag.index import Index
from slmkit.rag.ingest import default_index_path
from slmkit.router.router import Router

if TYPE_CHECKING:
    from slmkit.api import SLM

_RULES = """You plan how to carry out a user's request with tools. First list the separate asks in the request \
("asks", a few words each). Then write the fewest steps that cover every ask (usually 1 to 5); each step calls \
the one tool that does what its ask needs, and every step must serve an ask. Copy the text a tool must work on into its \
args. A step can use an earlier step's output by writing ${s1} (the output as text) or ${s1.field} in its args, \
and must then list that step in depends_on. Steps that do not need each other's output have no dependency, so \
they run in parallel. ${s1.field} may only name a field listed after -> for that step's tool. Use generate \
only for writing or knowledge no other tool covers. Do not add a step that writes the final answer: it is \
written from the steps' results."""

_ASKS = [["translate 'see you tomorrow' into Spanish", "is the review positive or negative"],
         ["which language the message is in", "does it contain personal data"],
         ["remove the personal data from the note", "summarise the note"],
         ["compute 12 times 7.5", "explain compound interest"]]
_EXAMPLES = [
    ("Translate 'see you tomorrow' into Spanish, and is this review positive or negative: 'The hotel room was "
     "filthy and the staff ignored us.'",
     [{"id": "s1", "tool": "generate", "args": {"prompt": "Translate 'see you tomorrow' into Spanish."},
       "depends_on": []},
      {"id": "s2", "tool": "sentiment", "args": {"text": "The hotel room was filthy and the staff ignored us."},
       "depends_on": []}]),
    ("Which language is this message in, and does it contain personal data? 'Hola, soy Pedro Ruiz, mi correo es "
     "pedro.ruiz@correo.es'",
     [{"id": "s1", "tool": "langid", "args": {"text": "Hola, soy Pedro Ruiz, mi correo es pedro.ruiz@correo.es"},
       "depends_on": []},
      {"id": "s2", "tool": "pii", "args": {"text": "Hola, soy Pedro Ruiz, mi correo es pedro.ruiz@correo.es"},
       "depends_on": []}]),
    ("Remove the personal data from this note and then summarise it: 'Call Maria Lopez on 0612345678 about the "
     "broken boiler at the Delft office; the repair is urgent and the landlord has not replied in a week.'",
     [{"id": "s1", "tool": "redact", "args": {"text": "Call Maria Lopez on 0612345678 about the broken boiler at "
                                                      "the Delft office; the repair is urgent and the landlord has "
                                                      "not replied in a week."}, "depends_on": []},
      {"id": "s2", "tool": "summarize", "args": {"text": "${s1.text}"}, "depends_on": ["s1"]}]),
    ("What is 12 times 7.5, and explain in two sentences what compound interest is.",
     [{"id": "s1", "tool": "calculate", "args": {"expression": "12 * 7.5"}, "depends_on": []},
      {"id": "s2", "tool": "generate", "args": {"prompt": "Explain in two sentences what compound interest is."},
       "depends_on": []}]),
]

# More requests for the asks call only (no steps): one ask that lists details, a request in another language,
# and a request that is a single writing job however many parts it names.
_MORE_ASKS = [
    ("Get the sender, the date and the total from this invoice e-mail and file it in the accounts queue: 'From "
     "Baker & Sons, 2 June, total 312.40 EUR for the flour delivery.'",
     ["get the sender, date and total from the e-mail", "file it in the accounts queue"]),
    ("Fasse diesen Bericht in einem Satz zusammen und nenne die erwähnten Firmen: 'Siemens und die Deutsche Bahn "
     "testen ab Mai einen Wasserstoffzug zwischen Köln und Aachen.'",
     ["summarise the report in one sentence", "which companies are mentioned"]),
    ("Organise a birthday party for ten children with games, a cake and a treasure hunt.",
     ["organise a birthday party with games, a cake and a treasure hunt"]),
]

_ASK_RULES = """You plan how to carry out a user's request with tools, in two turns. First split the request into \
its separate asks: an ask is one thing the user wants found out or done, in a few English words that say what to do \
(not the text it is done to), in the order the request gives them. One ask per thing wanted: a list of fields or \
details to find is one ask, none the request does not make, and none for writing the final answer. Write the asks in \
English even when the request is in another language.

Then, given the tools that may serve each ask, write one step per ask, in the same order: step k serves ask k and \
calls one of the tools listed for that ask. Copy the text a tool must work on into its args. A step can use an \
earlier step's output by writing ${s1} (the output as text) or ${s1.field} (a field listed after -> for that \
step's tool) in its args. Use generate only for writing or knowledge no other tool covers."""

_SEPARATORS = re.compile(r",\s+(?:and\s+|then\s+)?|\s+and\s+(?:then\s+)?|;\s*|\.\s+(?=[A-Z])|\s+then\s+|\?\s+",
                         re.IGNORECASE)


@dataclass
class Attempt:
    tier: str
    valid_as_written: bool
    problems: list[str] = field(default_factory=list)  # after repair; empty means accepted
    repairs: list[str] = field(default_factory=list)
    latency_ms: float = 0.0
    cost_usd: float = 0.0
    error: str | None = None  # the tier failed to answer at all
    # what the generator read and wrote: the load-independent side of planning latency
    prompt_tokens: int = 0
    completion_tokens: int = 0
    by_rule: bool = False  # every step was written by rule (plan.fill): no steps call to the generator


@dataclass
class Planning:
    planner: str  # the tier that wrote the accepted plan, or "fallback"
    reason: str
    attempts: list[Attempt] = field(default_factory=list)  # the calls that wrote steps
    latency_ms: float = 0.0
    tool_choice: str = "all"
    asks: list[str] = field(default_factory=list)
    shortlists: list[dict[str, Any]] = field(default_factory=list)  # per ask: the candidate tools and scores
    chosen_by: list[str] = field(default_factory=list)  # per ask: "shortlist" (fixed) or "generator"
    args_by: list[str] = field(default_factory=list)  # per ask: "rule" (written without the generator), "generator"
    asks_by: str = "generator"  # "rule": the request's clauses, clear enough that the asks call was skipped
    asks_ms: float = 0.0  # writing the asks (the first call)
    asks_tokens: tuple[int, int] = (0, 0)  # that call's prompt and completion tokens
    shortlist_ms: float = 0.0

    @property
    def cost_usd(self) -> float:
        return sum(a.cost_usd for a in self.attempts)

    @property
    def generator_calls(self) -> int:
        """Calls to a generator tier while planning: the asks call unless skipped, and every steps call."""
        return (self.asks_by == "generator" and self.tool_choice != "all") + sum(not a.by_rule for a in self.attempts)

    @property
    def generated_tokens(self) -> int:
        """Tokens the generator wrote for this plan, every call and attempt included."""
        return self.asks_tokens[1] + sum(a.completion_tokens for a in self.attempts)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {**asdict(self), "cost_usd": self.cost_usd, "generated_tokens": self.generated_tokens,
                "generator_calls": self.generator_calls}


_RULE_ASKS_MAX = 4  # the most clauses a rule split is trusted with as the request's asks
_PLACEHOLDER = "the text"
_FILLER = {"the", "text", "this", "it", "that", "these", "here", "in", "of", "and", "or", "/", "me", "tell"}


def split_asks(request: str) -> list[str]:
    """The asks by rule (clauses between commas, 'and', 'then', ';' and sentence ends, quoted text
    left out): how far tool choice gets with no generator at all (``slmkit eval plan --planners encoder``)."""
    text = QUOTED.sub(_PLACEHOLDER, request)
    parts = [p.strip(" .?!:") for p in _SEPARATORS.split(text)]
    # a clause that is only the quoted passage ("...: 'text'") asks nothing
    asks = [p for p in parts if len(p.split()) >= 2 and set(p.lower().replace(":", " ").split()) - _FILLER]
    return asks or [text.strip()]


def count_tasks(request: str) -> int:
    """How many separate asks a request seems to hold: clauses split on commas, 'and', 'then', ';'
    and sentence ends. A cheap signal for sending a planning job to the large tier."""
    return len([p for p in _SEPARATORS.split(request) if len(p.split()) >= 2])


class Planner:
    def __init__(self, registry: ToolRegistry, router: Router | None = None,
                 settings: PlanSettings | None = None, slm: SLM | None = None) -> None:
        self.registry = registry
        self.settings = settings or get_settings().plan
        self._router = router
        self._slm = slm
        self._shortlister: Shortlister | None = None
        self._schema: dict[str, Any] | None = None
        self._collections: list[str] | None = None  # declared; None: read from the index
        self._schema_key: tuple[str, ...] = ()

    @property
    def router(self) -> Router:
        if self._router is None:
            self._router = Router()
        return self._router

    @property
    def shortlister(self) -> Shortlister:
        if self._shortlister is None:
            if self._slm is None:
                from slmkit.api import SLM

                self._slm = SLM()
            self._shortlister = Shortlister(self._slm.encoder(self.settings.shortlist_model or self._slm.embed_model),
                                            self.settings.shortlist_method)
        return self._shortlister

    def warm_up(self, planner: PlannerChoice | None = None) -> Planner:
        """Load the planner tier(s) and the shortlist's encoder, and compile the fixed grammars once."""
        s = self.router.settings
        names = {"small": [s.small_tier], "large": [s.large_tier]}.get(planner or self.settings.planner,
                                                                       [s.small_tier, s.large_tier])
        for name in names:
            tier = self.router.tier(name).warm_up()
            generator = getattr(tier, "_generator", None)
            if generator is not None:
                generator.check_json_schema(self.schema() if self.settings.tool_choice == "all"
                                            else self.asks_schema())
        if self.settings.tool_choice != "all":
            self.shortlister.rank(["warm up"], self.offered(), self.settings.shortlist_k)
        return self

    # -- the contract --------------------------------------------------------------------------
    def plan(self, request: str, planner: PlannerChoice | None = None) -> tuple[Plan, Planning]:
        if not isinstance(request, str) or not request.strip():
            raise InvalidInputError("the request is empty")
        started = time.perf_counter()
        choice = planner or self.settings.planner
        tiers, reason = self._tiers(request, choice)
        planning = Planning(planner="", reason=reason)
        planning.tool_choice = self.settings.tool_choice
        for tier in tiers:
            plan = (self._plan_on(tier, request, planning) if self.settings.tool_choice == "all"
                    else self._plan_by_asks(tier, request, planning))
            if plan is not None:
                planning.planner = tier
                planning.latency_ms = 1000 * (time.perf_counter() - started)
                return plan, planning
            if tier != tiers[-1]:
                planning.reason += f"; {tier}'s plans stayed invalid, escalated"
        planning.planner = "fallback"
        planning.reason += "; no valid plan from any planner tier: the request runs as one generate step"
        planning.latency_ms = 1000 * (time.perf_counter() - started)
        fallback = Plan([Step("s1", "generate", {"prompt": request})], request=request, source="fallback")
        return fallback, planning

    def _tiers(self, request: str, choice: PlannerChoice) -> tuple[list[str], str]:
        s = self.router.settings
        if choice == "small":
            return [s.small_tier], "planner pinned to the small tier"
        if choice == "large":
            return [s.large_tier], "planner pinned to the large tier"
        tasks = count_tasks(request)
        if tasks >= self.settings.hard_request_tasks:
            return [s.large_tier], f"{tasks} separate asks >= {self.settings.hard_request_tasks}: the large tier plans"
        return [s.small_tier, s.large_tier], f"{tasks} separate ask(s): the small tier plans"

    def _plan_on(self, tier: str, request: str, planning: Planning,
                 messages: list[dict[str, str]] | None = None, schema: dict[str, Any] | None = None,
                 read: Callable[[str], tuple[Plan | None, list[Problem]]] | None = None) -> Plan | None:
        """Steps from ``tier``: written, validated, mended, re-planned with the complaints. Without
        ``read`` this is the single all-tools call; with it, the per-ask call ``_plan_by_asks`` set up."""
        first = messages if messages is not None else self.messages(request)
        schema = schema if schema is not None else self.schema()
        read = read or (lambda text: _read(text, request, tier))
        messages = first
        for _ in range(1 + self.settings.replans):
            t0 = time.perf_counter()
            attempt = Attempt(tier=tier, valid_as_written=False)
            planning.attempts.append(attempt)
            try:
                routed = self.router.run(messages, tier=tier, json_schema=schema,
                                         max_tokens=self.settings.plan_max_tokens)
                attempt.cost_usd = routed.decision.cost
                text = routed.answer.completion.text
                attempt.prompt_tokens = routed.answer.completion.prompt_tokens
                attempt.completion_tokens = routed.answer.completion.completion_tokens
            except SlmkitError as exc:
                attempt.error = str(exc)
                attempt.latency_ms = 1000 * (time.perf_counter() - t0)
                return None  # the tier itself is unavailable: retrying it will not help
            plan = self._accept(read(text), attempt)
            attempt.latency_ms = 1000 * (time.perf_counter() - t0)
            if plan is not None:
                return plan
            # The rejected plan goes back shortened: one that ran into max_tokens would otherwise
            # leave no room in the context for the corrected one.
            shown = text if len(text) <= 1200 else text[:1200] + " ..."
            messages = [*first, {"role": "assistant", "content": shown},
                        {"role": "user", "content": "That plan cannot run: " + "; ".join(attempt.problems)
                         + ". Write a corrected, shorter plan."}]
        return None

    def _accept(self, read: tuple[Plan | None, list[Problem]], attempt: Attempt) -> Plan | None:
        """The plan read from a reply if it is valid as written or after repair; the attempt records which."""
        plan, problems = read
        if plan is not None and not problems:
            problems = validate(plan, self.registry, max_steps=self.settings.max_steps)
            attempt.valid_as_written = not problems
            if problems:
                plan = repair(plan, self.registry)
                attempt.repairs = plan.repairs
                problems = validate(plan, self.registry, max_steps=self.settings.max_steps)
        attempt.problems = [str(p) for p in problems]
        return plan if plan is not None and not problems else None

    def _plan_by_asks(self, tier: str, request: str, planning: Planning) -> Plan | None:
        """Asks first, a shortlist per ask, then one step per ask under a grammar holding only those tools.
        A step whose tool is fixed and whose arguments a rule can fill is written without the generator;
        when that holds for every ask, the asks call is the only one."""
        t0 = time.perf_counter()
        messages = self.asks_messages(request)
        text: str | None = None  # what the generator wrote for the asks, when it was asked
        asks, shortlists = self.asks_by_rule(request)
        if shortlists:
            planning.asks_by = "rule"
        else:
            try:
                routed = self.router.run(messages, tier=tier, json_schema=self.asks_schema(),
                                         max_tokens=self.settings.asks_max_tokens)
            except SlmkitError as exc:
                planning.attempts.append(Attempt(tier=tier, valid_as_written=False, error=str(exc),
                                                 latency_ms=1000 * (time.perf_counter() - t0)))
                return None  # the tier itself is unavailable
            text = routed.answer.completion.text
            asks = _read_asks(text, self.settings.max_steps) or [request]
            planning.asks_tokens = (routed.answer.completion.prompt_tokens,
                                    routed.answer.completion.completion_tokens)
        planning.asks_ms = 1000 * (time.perf_counter() - t0)
        planning.asks = asks
        t1 = time.perf_counter()
        shortlists = shortlists or self.shortlist(asks)
        allowed = [self.allowed(sl) for sl in shortlists]
        fixed = self.fill_by_rule(request, asks, allowed)
        planning.shortlist_ms = 1000 * (time.perf_counter() - t1)
        planning.shortlists = [sl.to_dict() for sl in shortlists]
        planning.chosen_by = ["shortlist" if len(a) == 1 else "generator" for a in allowed]
        planning.args_by = ["rule" if f is not None else "generator" for f in fixed]
        open_asks = [k for k, f in enumerate(fixed) if f is None]
        if not open_asks:
            attempt = Attempt(tier=tier, valid_as_written=False, by_rule=True)
            planning.attempts.append(attempt)
            plan = self._accept(_read_steps('{"steps": []}', request, tier, asks, fixed), attempt)
            if plan is not None:
                return plan
            fixed = [None] * len(asks)  # not expected: the rule's plan did not validate, so the generator writes all
            open_asks = list(range(len(asks)))
        # The asks as the model wrote them: the second call's prompt then repeats the first call's tokens,
        # and the generator's cache of them is reused instead of read again.
        written = text if text is not None and _read_asks(text, self.settings.max_steps) == asks \
            else json.dumps({"asks": asks}, ensure_ascii=False)
        steps_messages = [*messages, {"role": "assistant", "content": written},
                          {"role": "user", "content": self.steps_prompt(asks, allowed, fixed)}]
        schema = self.steps_schema([allowed[k] for k in open_asks])
        return self._plan_on(tier, request, planning, steps_messages, schema,
                             lambda reply: _read_steps(reply, request, tier, asks, fixed))

    def asks_by_rule(self, request: str) -> tuple[list[str], list[Shortlist]]:
        """The request's clauses as its asks, with their shortlists, when the shortlist is sure of every
        one (``plan.asks_by_rule_score``): the generator's asks call is then skipped. Empty otherwise,
        and always when the generator chooses the tools (``shortlist``) or reads every tool (``all``)."""
        threshold = self.settings.asks_by_rule_score
        if threshold is None or self.settings.tool_choice not in ("auto", "embedding"):
            return [], []
        asks = split_asks(request)
        if len(asks) > _RULE_ASKS_MAX:  # more likely an unquoted passage cut into sentences than many asks
            return [], []
        shortlists = self.shortlist(asks)
        if all(sl.candidates and sl.candidates[0].score >= threshold for sl in shortlists):
            return asks, shortlists
        return [], []

    def fill_by_rule(self, request: str, asks: list[str], allowed: list[list[str]]) -> list[RuleStep | None]:
        """Per ask, the step (tool, args) a rule writes when its tool is fixed and its arguments are the
        request's one quoted passage (``fill``); None where the generator writes the step."""
        quoted = passages(request)
        passage = quoted[0] if len(quoted) == 1 else None
        out: list[RuleStep | None] = []
        text_before = False  # an earlier step may write text a later one means to read
        for ask, names in zip(asks, allowed, strict=True):
            args = fill(self.registry.get(names[0]), ask, passage) if len(names) == 1 and not text_before else None
            out.append((names[0], args) if args is not None else None)
            text_before = text_before or any(writes_text(self.registry.get(n)) for n in names)
        return out

    def shortlist(self, asks: list[str]) -> list[Shortlist]:
        """Each ask's nearest tools among those offered, best first."""
        return self.shortlister.rank(asks, self.offered(), self.settings.shortlist_k)

    def allowed(self, shortlist: Shortlist) -> list[str]:
        """The tools the generator may use for one ask: one when the shortlist decides alone."""
        names = shortlist.names
        choice = self.settings.tool_choice
        if not names:
            return [t.name for t in self.offered()]
        if choice == "embedding":
            return names[:1]
        if choice == "auto" and shortlist.candidates[0].score >= self.settings.clear_score \
                and shortlist.margin >= self.settings.clear_margin:
            return names[:1]
        return names

    # -- prompt and grammar ------------------------------------------------------------------------
    def asks_messages(self, request: str) -> list[dict[str, str]]:
        """The first call: the request's asks. Its messages start every per-ask planning prompt, so the
        model's cache of them serves the second call and the next request alike."""
        messages = [{"role": "system", "content": _ASK_RULES}]
        shown = [*((request, asks) for (request, _steps), asks in zip(_EXAMPLES, _ASKS, strict=True)), *_MORE_ASKS]
        for example, asks in shown:
            messages += [{"role": "user", "content": f"Request: {example}"},
                         {"role": "assistant", "content": json.dumps({"asks": asks}, ensure_ascii=False)}]
        return [*messages, {"role": "user", "content": f"Request: {request}"}]

    def asks_schema(self) -> dict[str, Any]:
        return {"type": "object",
                "properties": {"asks": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                                        "maxItems": self.settings.max_steps}},
                "required": ["asks"], "additionalProperties": False}

    def steps_prompt(self, asks: list[str], allowed: list[list[str]],
                     fixed: list[RuleStep | None] | None = None) -> str:
        """The second call's question: the shortlisted tools, each ask's options, and which steps are
        already written (a later step may read their output)."""
        fixed = fixed or [None] * len(asks)
        lines = ["Tools:"]
        collections = self.collections()
        used = list(dict.fromkeys(name for names, f in zip(allowed, fixed, strict=True) if f is None
                                  for name in names))
        for name in used:
            t = self.registry.get(name)
            fields = list(t.output_schema().get("properties", {}))
            lines.append(f"- {t.signature()} -> {{{', '.join(fields)}}}: {t.description}")
        if collections and any(_takes_collection(self.registry.get(n)) for n in used):
            lines.append(f"Document collections: {', '.join(collections)}.")
        lines.append("")
        for k, (ask, names, f) in enumerate(zip(asks, allowed, fixed, strict=True), 1):
            if f is None:
                lines.append(f"Ask {k} ({ask}): {' or '.join(names)}")
            else:
                fields = list(self.registry.get(f[0]).output_schema().get("properties", {}))
                lines.append(f"Ask {k} ({ask}): s{k} = {f[0]}, already written -> {{{', '.join(fields)}}}")
        open_asks = [str(k) for k, f in enumerate(fixed, 1) if f is None]
        if len(open_asks) == len(asks):
            return "\n".join([*lines, "", "Write the steps."])
        which = open_asks[0] if len(open_asks) == 1 else ", ".join(open_asks[:-1]) + " and " + open_asks[-1]
        return "\n".join([*lines, "", f"Write the steps for ask{'s' if len(open_asks) > 1 else ''} {which} only."])

    def steps_schema(self, allowed: list[list[str]]) -> dict[str, Any]:
        """Exactly one step per ask, in order, each one of its ask's tools with that tool's arguments.
        No ids or dependency lists to write: ids follow the order, dependencies the references."""
        collections = self.collections()
        items = []
        for names in allowed:
            variants = [{"type": "object",
                         "properties": {"tool": {"const": n},
                                        "args": self._args_schema(self.registry.get(n), collections)},
                         "required": ["tool", "args"], "additionalProperties": False} for n in names]
            items.append(variants[0] if len(variants) == 1 else {"anyOf": variants})
        return {"type": "object", "properties": {"steps": {"type": "array", "prefixItems": items}},
                "required": ["steps"], "additionalProperties": False}

    @staticmethod
    def _args_schema(tool: Tool, collections: list[str]) -> dict[str, Any]:
        args = tool.input_schema()
        args.pop("description", None)
        if _takes_collection(tool):  # only a collection that exists can be named
            args["properties"]["collection"] = {"enum": collections}
        return args

    def messages(self, request: str) -> list[dict[str, str]]:
        lines = [_RULES, "", "Tools:"]
        collections = self.collections()
        offered = self.offered(collections)
        for t in offered:
            fields = list(t.output_schema().get("properties", {}))
            lines.append(f"- {t.signature()} -> {{{', '.join(fields)}}}: {t.description}")
        if collections and any(_takes_collection(t) for t in offered):
            lines.append(f"Document collections: {', '.join(collections)}.")
        messages = [{"role": "system", "content": "\n".join(lines)}]
        # Examples as earlier turns, not inside the system text: a 0.5B model copies examples it
        # reads as part of its instructions into the plan it writes.
        for (ask, steps), asks in zip(_EXAMPLES, _ASKS, strict=True):
            if all(st["tool"] in self.registry for st in steps):
                messages += [{"role": "user", "content": f"Request: {ask}"},
                             {"role": "assistant", "content": json.dumps({"asks": asks, "steps": steps},
                                                                         ensure_ascii=False)}]
        return [*messages, {"role": "user", "content": f"Request: {request}"}]

    def offered(self, collections: list[str] | None = None) -> list[Tool]:
        """The tools the planner may choose: not the hidden ones, and no document tool while no
        collection exists (a plan could only fail on it)."""
        has_docs = bool(self.collections() if collections is None else collections)
        return [t for t in self.registry if not t.hidden and (has_docs or not _takes_collection(t))]

    def set_collections(self, names: list[str]) -> None:
        """Declare the collections instead of reading the index (an evaluation describing an installation)."""
        self._collections = list(names)

    def collections(self) -> list[str]:
        """The RAG collections that exist now, so the planner can name one (no index is created)."""
        if self._collections is not None:
            return self._collections
        path = default_index_path()
        if not path.is_file():
            return []
        with Index(path) as index:
            return [c.name for c in index.collections()]

    def schema(self) -> dict[str, Any]:
        """The JSON schema the planner's output is constrained to (and the gateway documents); rebuilt
        when the set of collections changes, since document tools name one of them."""
        collections = self.collections()
        key = tuple(collections)
        if self._schema is None or self._schema_key != key:
            self._schema_key = key
            ids = [f"s{i}" for i in range(1, self.settings.max_steps + 1)]
            variants = []
            for t in self.offered(collections):
                args = self._args_schema(t, collections)
                variants.append({
                    "type": "object",
                    "properties": {"id": {"enum": ids}, "tool": {"const": t.name}, "args": args,
                                   "depends_on": {"type": "array", "items": {"enum": ids},
                                                  "maxItems": self.settings.max_steps}},
                    "required": ["id", "tool", "args", "depends_on"],
                    "additionalProperties": False,
                })
            # "asks" first: writing out the parts of the request before choosing tools is what
            # keeps a 0.5B planner from reaching for a tool no part of the request needs.
            self._schema = {"type": "object",
                            "properties": {"asks": {"type": "array", "items": {"type": "string"},
                                                    "minItems": 1, "maxItems": self.settings.max_steps},
                                           "steps": {"type": "array", "items": {"anyOf": variants},
                                                     "minItems": 1, "maxItems": self.settings.max_steps}},
                            "required": ["asks", "steps"], "additionalProperties": False}
        return self._schema


def _takes_collection(tool: Tool) -> bool:
    return "collection" in tool.params


def _read(text: str, request: str, tier: str) -> tuple[Plan | None, list[Problem]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:  # cut off by max_tokens, most often
        return None, [Problem(None, f"the plan is not complete JSON ({exc.msg} at {exc.pos})")]
    return parse(data, request=request, source=tier)


def _read_asks(text: str, limit: int) -> list[str]:
    """The asks the first call wrote; empty when it wrote none readable (a remote tier may ignore the schema)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return []
    asks = data.get("asks") if isinstance(data, dict) else None
    if not isinstance(asks, list):
        return []
    return [a.strip() for a in asks if isinstance(a, str) and a.strip()][:limit]


def _read_steps(text: str, request: str, tier: str, asks: list[str],
                fixed: list[RuleStep | None] | None = None) -> tuple[Plan | None, list[Problem]]:
    """Per-ask steps -> a plan: step k is ``s{k}`` and serves ask k, written by the rule where ``fixed``
    holds it, else the next step the generator wrote; its dependencies are the steps its arguments
    reference. Steps beyond the asks (a tier not held to the grammar) serve none and go."""
    fixed = fixed or [None] * len(asks)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [Problem(None, f"the plan is not complete JSON ({exc.msg} at {exc.pos})")]
    raw = data.get("steps") if isinstance(data, dict) else None
    if not isinstance(raw, list) or not (raw or any(fixed)):
        return None, [Problem(None, "a plan needs a non-empty list of steps")]
    for k, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            return None, [Problem(None, f"step {k} is not an object")]
    missing = sum(f is None for f in fixed) - len(raw)
    if missing > 0:  # a tier not held to the grammar stopped early: each ask needs its step
        return None, [Problem(None, f"{len(raw)} steps written for {len(raw) + missing} asks: write one per ask")]
    written = iter(raw)
    merged = [{"tool": f[0], "args": dict(f[1])} if f is not None else next(written) for f in fixed]
    merged += list(written)
    items = []
    for k, item in enumerate(merged, 1):
        items.append({"id": f"s{k}", "tool": item.get("tool"), "args": item.get("args") or {},
                      "depends_on": [], **({"ask": asks[k - 1]} if k <= len(asks) else {})})
    plan, problems = parse(items, request=request, source=tier)
    if plan is None:
        return None, problems
    ids = [s.id for s in plan.steps]
    for n, step in enumerate(plan.steps):
        step.depends_on = [i for i in ids[:n] if i in step.references()]
    return drop_unserving(plan), problems
