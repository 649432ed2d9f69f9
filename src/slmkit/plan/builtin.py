"""The tools slmkit ships: every specialist, RAG search and answer, the generator tiers, arithmetic,
department queues, and the hidden ``compose`` step that writes a planned run's answer.

Outputs are small pydantic models rather than the skills' own dataclasses: what a later
step can reference (``${s2.label}``) is then exactly what the schema shows the planner.
"""

from __future__ import annotations

import ast
import operator
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from slmkit.api import SLM
from slmkit.errors import InvalidInputError
from slmkit.plan.queues import Queues
from slmkit.plan.tools import ToolRegistry
from slmkit.rag.answer import Answerer
from slmkit.rag.retrieve import Retriever
from slmkit.router.router import Router


class Label(BaseModel):
    label: str | None = Field(description="the chosen label; null when none fits")
    top: str
    score: float


class Sentiment(BaseModel):
    label: Literal["positive", "negative"]
    score: float


class Span(BaseModel):
    text: str
    label: str
    start: int
    end: int


class Spans(BaseModel):
    spans: list[Span]
    count: int


class Redacted(BaseModel):
    text: str
    replaced: list[str] = Field(description="the types replaced, in order; never the values")


class Moderation(BaseModel):
    flagged: bool
    score: float
    categories: list[str]
    injection: bool


class Language(BaseModel):
    lang: str
    score: float


class Text(BaseModel):
    text: str


class Extracted(BaseModel):
    data: dict[str, Any]


class Ranked(BaseModel):
    passages: list[str]
    scores: list[float]


class Passage(BaseModel):
    source: str
    text: str
    score: float


class Passages(BaseModel):
    passages: list[Passage]
    text: str = Field(description="the passages joined, each with its source")


class DocAnswer(BaseModel):
    text: str
    found: bool
    citations: list[str]


class Generated(BaseModel):
    text: str
    tier: str
    cost_usd: float


class Number(BaseModel):
    value: float
    text: str


class Queued(BaseModel):
    queue: str
    id: int
    text: str


def builtin_tools(slm: SLM | None = None, router: Router | None = None, data_dir: Path | None = None) -> ToolRegistry:
    """The shipped tools bound to ``slm`` and ``router``, each built when first needed if not given;
    queues live in ``data_dir`` (default: the configured one)."""
    crew = _Crew(slm, router)
    reg = ToolRegistry()
    skill = _skill_account

    @reg.tool(account=skill("sentiment"), timeout_s=30,
              examples=["is this review positive or negative", "what is the tone of this feedback",
                        "does the writer like the product", "how upset is the customer",
                        "is the caller happy or annoyed", "what mood does the message convey",
                        "is this comment favourable", "rate the sentiment of the tweet",
                        "is the guest satisfied with the stay", "does this sound cheerful or gloomy",
                        "is this good news or bad news", "how does the author feel about it"])
    def sentiment(text: str) -> Sentiment:
        """Is the text positive or negative (reviews, feedback, messages)."""
        r = crew.slm.sentiment(text)
        return Sentiment(label=r.label, score=r.score)

    @reg.tool(account=skill("classify"), timeout_s=30,
              examples=["sort this ticket into one of these categories", "which topic does this headline belong to",
                        "label the intent of this message", "is this e-mail about billing, shipping or returns",
                        "tag the article as sport, business or tech", "decide which team should handle this request",
                        "assign a priority of low, medium or high", "categorise these questions by subject",
                        "is it a bug report or a feature request", "which of these labels fits the text best"])
    def classify(text: str, labels: list[str] | dict[str, str]) -> Label:
        """Pick the best of the given labels for a text (topic, intent, department); labels may map to descriptions."""
        r = crew.slm.classify(text, labels=labels)
        return Label(label=r.label, top=r.top, score=r.score)

    @reg.tool(account=skill("entities"), timeout_s=30,
              examples=["which people, places and companies are named", "list the organisations and dates mentioned",
                        "find the names of persons in this article", "who is mentioned in the text",
                        "which cities and countries does it refer to", "pick out the brands and products named",
                        "what dates and amounts appear in the story", "tag the named entities",
                        "which firms and institutions are cited", "who are the people in this paragraph"])
    def entities(text: str) -> Spans:
        """Find named entities: people, places, organisations, dates, amounts."""
        found = [Span(text=e.text, label=e.label, start=e.start, end=e.end) for e in crew.slm.entities(text)]
        return Spans(spans=found, count=len(found))

    @reg.tool(account=skill("pii"), timeout_s=30,
              examples=["does this text contain personal data", "find the e-mail addresses and phone numbers",
                        "spot any private details such as card numbers",
                        "is there any sensitive personal information here",
                        "list the IBANs and credit card numbers in the message",
                        "check the form for home addresses and ID numbers",
                        "does the note reveal anyone's contact details",
                        "detect personally identifiable information",
                        "would publishing this expose someone's private data"])
    def pii(text: str) -> Spans:
        """Find personal data: names, e-mails, phones, card numbers, IBANs, addresses, IDs."""
        found = [Span(text=p.text, label=p.type, start=p.start, end=p.end) for p in crew.slm.pii(text)]
        return Spans(spans=found, count=len(found))

    @reg.tool(account=skill("redact"), timeout_s=30,
              examples=["remove the personal details from this note", "anonymise the message before sharing it",
                        "mask names and numbers in the text", "hide the customer's phone number and e-mail",
                        "black out the private information", "replace people's names with placeholders",
                        "scrub sensitive data from the log",
                        "make the report safe to share by taking out identities",
                        "strip the card numbers and addresses out", "de-identify the patient record"])
    def redact(text: str, mode: Literal["mask", "hash"] = "mask") -> Redacted:
        """Replace personal data in a text with placeholders such as [PERSON_1]."""
        r = crew.slm.redact(text, mode=mode)
        return Redacted(text=r.text, replaced=[kind for kind, _ in r.replacements])

    @reg.tool(account=skill("moderate"), timeout_s=30,
              examples=["is this comment offensive or hateful", "check the post for insults or threats",
                        "does this message try to override the instructions", "is the chat message abusive",
                        "flag toxic language in the review", "does the reply contain harassment or slurs",
                        "is this a prompt injection attempt", "should this forum post be removed for abuse",
                        "is the text violent or threatening", "screen the comment for profanity"])
    def moderate(text: str) -> Moderation:
        """Score a text for toxicity, abuse and prompt injection."""
        r = crew.slm.moderate(text)
        return Moderation(flagged=r.flagged, score=r.score, categories=[c for c, _ in r.categories],
                          injection=bool(r.injection and r.injection.detected))

    @reg.tool(account=skill("langid"), timeout_s=30,
              examples=["which language is this written in", "detect the language of the sentence",
                        "is this text French or Spanish", "what language did the customer use",
                        "identify the language of each message", "tell me what language this is",
                        "is the e-mail in English", "in which language is the label printed"])
    def langid(text: str) -> Language:
        """Which language a text is written in."""
        r = crew.slm.langid(text)
        return Language(lang=r.lang, score=r.score)

    @reg.tool(account=skill("summarize"), timeout_s=180, retries=1,
              examples=["summarise this text in one sentence", "give me the gist of the report",
                        "make this long message shorter", "condense the article into a few lines",
                        "what are the main points of the e-mail", "sum up the meeting notes",
                        "write a short abstract of the paper", "shorten the description to 20 words",
                        "recap what the customers said", "a brief overview of this thread"])
    def summarize(text: str, max_words: int = 60) -> Text:
        """Summarise a text in at most max_words words."""
        return Text(text=crew.slm.summarize(text, max_words=max_words).text)

    @reg.tool(account=skill("extract"), timeout_s=180,
              examples=["pull the invoice number and date out of the e-mail",
                        "get the name and address fields from this form",
                        "read the price and quantity from the order",
                        "take the booking reference and flight number from the confirmation",
                        "which amount and due date does the bill state",
                        "fill in name, age and city from the text as JSON",
                        "capture the sender, subject and deadline", "extract the key fields from the contract",
                        "what is the tracking number in this message",
                        "pull the customer's name and the appointment time out of the note"])
    def extract(text: str, fields: list[str]) -> Extracted:
        """Pull the named fields out of a text as JSON (names, dates, amounts, order numbers...)."""
        if not fields:
            raise InvalidInputError("extract needs at least one field name")
        schema = {"type": "object", "properties": {f: {"type": ["string", "null"]} for f in fields},
                  "required": list(fields)}
        return Extracted(data=crew.slm.extract(text, schema=schema).data)

    @reg.tool(account=skill("rerank"), timeout_s=30,
              examples=["order these passages by how well they answer the question",
                        "which of these snippets best matches the query", "sort the search results by relevance",
                        "rank the answers from most to least helpful for the question",
                        "pick the paragraph that best answers it",
                        "put the documents in order of relevance to the topic",
                        "score these candidates against the query and keep the top ones",
                        "which of the following responses fits the question best"])
    def rerank(query: str, passages: list[str], top_k: int = 3) -> Ranked:
        """Order passages by how well they answer a query; keep the best top_k."""
        ranked = crew.slm.rerank(query, passages, top_k=top_k)
        return Ranked(passages=[r.text for r in ranked], scores=[r.score for r in ranked])

    @reg.tool(account=skill("search"), timeout_s=60,
              examples=["search the handbook collection for the travel rules",
                        "look up passages about holidays in the documents", "find what the docs say about expenses",
                        "retrieve the sections of the wiki on deployment",
                        "find the relevant pages in the policy collection",
                        "pull the paragraphs on overtime from the staff manual",
                        "search our documents for mentions of the warranty",
                        "get the passages that cover security from the docs"])
    def search(query: str, collection: str, k: int = 4) -> Passages:
        """Search an ingested document collection; returns the best passages with their sources."""
        hits = crew.retriever(collection).search(query, k, "rerank")
        found = [Passage(source=h.source, text=h.chunk.text, score=h.score) for h in hits]
        return Passages(passages=found, text="\n\n".join(f"[{p.source}] {p.text}" for p in found))

    @reg.tool(account=skill("ask_docs"), timeout_s=180,
              examples=["answer from the manuals collection: how do I install it",
                        "what does the policy document say about remote work",
                        "ask the documentation how the export works", "according to our wiki, who approves expenses",
                        "using the handbook, how many days of leave do I get",
                        "answer the question from the contracts collection",
                        "check the docs: what is the notice period", "what do our guides say the refund policy is"])
    def ask_docs(question: str, collection: str) -> DocAnswer:
        """Answer a question from an ingested document collection, with citations."""
        a = crew.answerer(collection).ask(question)
        return DocAnswer(text=a.text, found=a.found, citations=[f"{c.source}#{c.chunk}" for c in a.citations])

    @reg.tool(account=lambda out: (out["tier"], out["cost_usd"]), timeout_s=300, retries=1,
              fallback=("generate", {"tier": "small"}),
              examples=["write a short e-mail to a colleague", "translate this sentence into French",
                        "explain what inflation is in plain words", "plan a weekend itinerary",
                        "suggest ideas for a party", "come up with names for a new shop",
                        "draft an announcement for the team", "describe a product for an online store",
                        "write a poem about the sea", "reply politely to the customer",
                        "give tips for a job interview", "what is the capital of Australia",
                        "turn the answer into a friendly message", "recommend books about history",
                        "create a workout schedule for a beginner", "compare two programming languages", "what does this phrase mean in English",
                        "explain how a savings account works"])
    def generate(prompt: str, tier: Literal["auto", "small", "large"] = "auto", max_tokens: int = 256) -> Generated:
        """Write text with a language model: drafts, plans, explanations, translations, answers from knowledge."""
        return crew.generate(prompt, tier, max_tokens)

    @reg.tool(account=skill("calculate"), timeout_s=5,
              examples=["what is 15% of 80", "how many hours are in three weeks", "add the tax to this amount",
                        "divide the total by the number of people", "convert 90 minutes into seconds",
                        "what is 17 squared", "work out the total price for 6 items at 3.20 each",
                        "compute the average of these numbers", "how much is left after subtracting the deposit",
                        "multiply the rate by the hours worked", "calculate the interest for one year",
                        "what percentage is 45 of 300"])
    def calculate(expression: str) -> Number:
        """Evaluate arithmetic such as (120 * 0.85) / 3 (+ - * / // % ** and parentheses)."""
        value = safe_eval(expression)
        return Number(value=value, text=f"{value:g}")

    @reg.tool(account=skill("enqueue"), timeout_s=30,
              examples=["file this ticket in the support queue", "send it to the billing department's inbox",
                        "put the message in the sales queue", "forward the complaint to the right team's queue",
                        "add the request to the maintenance backlog", "log the report in the HR inbox",
                        "queue it for the legal team", "save the ticket to the escalation queue"])
    def enqueue(queue: str, text: str) -> Queued:
        """File a text in a named work queue (a department's inbox) on this machine."""
        item = Queues(data_dir / "queues.sqlite3" if data_dir else None).put(queue, text)
        return Queued(queue=item.queue, id=item.id, text=item.text)

    @reg.tool(account=lambda out: (out["tier"], out["cost_usd"]), timeout_s=300, hidden=True)
    def compose(request: str, results: str, missing: list[str] = [], max_tokens: int = 384) -> Generated:  # noqa: B006
        """Write the final answer to a request from the results of the steps that ran."""
        # Told about failures that did not happen, a 0.5B model reports one; so only when one did.
        caveat = (f" These steps failed: {', '.join(missing)}; say what their part of the answer lacks "
                  "instead of inventing it." if missing else "")
        prompt = (f"Request: {request}\n\nResults of the steps that were run:\n{results}\n\n"
                  f"Using these results, write the answer to the request.{caveat}")
        return crew.generate(prompt, "small", max_tokens)

    return reg


class _Crew:
    """The models behind the tools, created on first use and shared by every step."""

    def __init__(self, slm: SLM | None, router: Router | None) -> None:
        self._slm, self._router = slm, router
        self._retrievers: dict[str, Retriever] = {}
        self._answerers: dict[str, Answerer] = {}

    @property
    def slm(self) -> SLM:
        if self._slm is None:
            self._slm = SLM()
        return self._slm

    @property
    def router(self) -> Router:
        if self._router is None:
            self._router = Router()
        return self._router

    def generate(self, prompt: str, tier: str, max_tokens: int) -> Generated:
        s = self.router.settings
        pinned = {"small": s.small_tier, "large": s.large_tier}.get(tier)
        routed = self.router.run([{"role": "user", "content": prompt}], tier=pinned, max_tokens=max_tokens)
        if routed.answer is None:  # a semantic route pointed at a skill: ask the small tier instead
            routed = self.router.run([{"role": "user", "content": prompt}], tier=s.small_tier, max_tokens=max_tokens)
        return Generated(text=routed.answer.completion.text.strip(), tier=routed.decision.tier,
                         cost_usd=routed.decision.cost)

    def retriever(self, collection: str) -> Retriever:
        if collection not in self._retrievers:
            self._retrievers[collection] = Retriever(collection).warm_up()
        return self._retrievers[collection]

    def answerer(self, collection: str) -> Answerer:
        if collection not in self._answerers:
            self._answerers[collection] = Answerer(collection, retriever=self.retriever(collection))
        return self._answerers[collection]


def _skill_account(name: str):  # noqa: ANN202
    # Local specialists cost nothing itemised; summarize, extract and ask_docs run on the local small
    # generator, whose cost per call is negligible next to a remote tier.
    return lambda _out: (f"skill:{name}", 0.0)




_OPS: dict[type, Any] = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
                         ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
                         ast.Pow: operator.pow, ast.USub: operator.neg, ast.UAdd: operator.pos}


def safe_eval(expression: str) -> float:
    """Arithmetic on numbers only: no names, calls or attributes, so a plan cannot run code through it."""
    # "15% of 240" and "240 * 15%" are how people write percentages
    text = re.sub(r"(\d+(?:\.\d+)?)\s*%\s*of\s*", r"(\1/100)*", expression, flags=re.IGNORECASE)
    text = re.sub(r"(\d+(?:\.\d+)?)\s*%", r"(\1/100)", text).replace("^", "**").replace(",", "")
    text = re.sub(r"\s*(?:×|x)\s*(?=[\d(])", "*", text)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise InvalidInputError(f"not an arithmetic expression: {expression!r}") from None

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > 100:
                raise InvalidInputError("exponent too large")
            return _OPS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.operand))
        raise InvalidInputError(f"only numbers and + - * / // % ** are allowed: {expression!r}")

    try:
        return float(ev(tree))
    except ZeroDivisionError:
        raise InvalidInputError(f"division by zero in {expression!r}") from None
