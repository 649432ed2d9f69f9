"""The specialists over HTTP: one skill by name, a semantic route's target, embeddings and moderations
shaped the OpenAI way."""

from __future__ import annotations

import base64
import secrets
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from slmkit.errors import InvalidInputError
from slmkit.gateway import schemas as s
from slmkit.gateway.errors import ApiError
from slmkit.serialize import to_json
from slmkit.skills.embed import resolve_embedding_model

if TYPE_CHECKING:
    from slmkit.gateway.context import Gateway
    from slmkit.skills.moderate import ModerationResult

SkillName = Literal["classify", "sentiment", "entities", "pii", "redact", "langid", "rerank", "extract", "summarize",
                    "moderate"]
SKILLS: tuple[SkillName, ...] = get_args(SkillName)


def _items(texts: str | list[str]) -> list[str]:
    """One text or a batch, as a batch; an empty batch is the caller's mistake."""
    items = [texts] if isinstance(texts, str) else list(texts)
    if not items:
        raise ApiError(400, "input is empty", param="input")
    return items


def dispatch_target(gateway: Gateway, target: str, text: str) -> Any:
    """A semantic route's target run on a chat message (the chat endpoint's one way to reach a skill)."""
    kind, _, name = target.partition(":")
    if kind == "skill" and name in SKILLS and name not in ("rerank", "extract", "classify"):
        return run_skill(gateway, name, s.SkillRequest(input=text))
    raise ApiError(400, f"the semantic route points at {target!r}, which the gateway cannot run on a chat "
                        "message; call it directly", code="route_not_runnable")


def run_skill(gateway: Gateway, name: str, body: s.SkillRequest) -> list[Any]:
    slm = gateway.skills
    items = _items(body.input)
    if name == "classify":
        if (body.labels is None) == (body.head is None):
            raise ApiError(400, "classify needs labels (zero-shot) or head (a trained classifier)", param="labels")
        out = slm.classify(items, labels=body.labels, head=body.head)
    elif name == "rerank":
        if not body.passages or len(items) != 1:
            raise ApiError(400, "rerank needs one input (the query) and passages", param="passages")
        return [to_json(r) for r in slm.rerank(items[0], body.passages, top_k=body.top_k)]
    elif name == "extract":
        if body.json_schema is None:
            raise ApiError(400, "extract needs schema: the JSON schema to fill", param="schema")
        out = slm.extract(items, schema=body.json_schema)
    elif name == "summarize":
        out = slm.summarize(items, max_words=body.max_words or 60)
    elif name == "redact":
        out = slm.redact(items, mode=body.mode or "mask")
    else:
        out = getattr(slm, name)(items)
    results = [to_json(r) for r in out]
    if name == "redact":
        for r in results:
            # The mapping back to real values never leaves this machine, and neither do the values.
            r.pop("vault", None)
            r.pop("spans", None)
    return results


def embeddings(gateway: Gateway, body: s.EmbeddingsRequest) -> tuple[s.EmbeddingsResponse, int]:
    """The vectors for ``body`` from the encoder its model names (OpenAI's names mean the default); the
    response and the token count for accounting."""
    items = _items(body.input)
    try:
        model = resolve_embedding_model(body.model)
    except InvalidInputError as exc:
        raise ApiError(400, str(exc), param="model", code="model_not_found") from None
    embed = gateway.skills.encoder(model)
    if body.dimensions is not None and body.dimensions != embed.dim:
        raise ApiError(400, f"dimensions={body.dimensions} is not available: {model} gives {embed.dim}-d "
                            "vectors and was not trained to be truncated; omit dimensions", param="dimensions")
    vectors = embed.vectors(items)
    tokens = sum(len(t.split()) for t in items)
    if body.encoding_format == "base64":
        encoded: list[Any] = [base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode() for v in vectors]
    else:
        encoded = [[round(float(x), 7) for x in v] for v in vectors]
    response = s.EmbeddingsResponse(data=[s.EmbeddingItem(index=i, embedding=e) for i, e in enumerate(encoded)],
                                    model=model, usage=s.EmbeddingsUsage(prompt_tokens=tokens, total_tokens=tokens))
    return response, tokens


def moderations(gateway: Gateway, body: s.ModerationRequest) -> s.ModerationResponse:
    items = _items(body.input)
    results = [_moderation_result(v) for v in gateway.skills.moderate(items)]
    return s.ModerationResponse(id="modr-" + secrets.token_hex(8), model="slmkit-moderate", results=results)


def _moderation_result(v: ModerationResult) -> s.ModerationResult:
    scores = {name: round(score, 6) for name, score in v.categories}
    scores["toxicity"] = round(v.score, 6)
    injection = v.injection.detected if v.injection is not None else False
    scores["prompt_injection"] = float(v.injection.score) if v.injection is not None else 0.0
    categories = {name: name in v.flagged_categories for name in scores}  # each above its own threshold
    categories["toxicity"], categories["prompt_injection"] = v.flagged, injection
    return s.ModerationResult(flagged=v.flagged or injection, categories=categories, category_scores=scores)
