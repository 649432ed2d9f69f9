"""The OpenAI-compatible gateway: the whole crew behind one base URL.

    slmkit serve                      # loopback, local tiers, data in the data dir
    client = OpenAI(base_url="http://127.0.0.1:8080/v1", api_key="unused-on-loopback")
    client.chat.completions.create(model="auto", messages=[...])

`model: "auto"` routes (router.strategy); a tier name, or the model a tier serves,
pins it. Every answer says which tier answered, why, and the estimated saving, in
``x-slmkit-*`` headers and in the body's ``slmkit`` field. Errors are OpenAI-style
``{"error": {...}}`` objects with a 4xx for the caller's mistakes, 5xx only for ours
or an upstream's.
"""


import json
import logging
import secrets
import threading
import time
from collections import deque
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse

from slmkit.errors import InvalidInputError, NotTrainedError, SlmkitError
from slmkit.gateway import schemas as s
from slmkit.gateway.errors import ApiError, error_body
from slmkit.gateway.metrics import Metrics
from slmkit.gateway.store import ApiKey, GatewayStore

log = logging.getLogger(__name__)

SKILLS = ("classify", "sentiment", "entities", "pii", "redact", "langid", "rerank", "extract", "summarize",
          "moderate")
SkillName = Literal["classify", "sentiment", "entities", "pii", "redact", "langid", "rerank", "extract", "summarize",
                    "moderate"]


_ERRORS = {400: {"model": s.ErrorResponse, "description": "The request cannot be used as sent."},
           401: {"model": s.ErrorResponse, "description": "Missing or unknown API key."},
           413: {"model": s.ErrorResponse, "description": "Body larger than gateway.max_body_bytes."},
           429: {"model": s.ErrorResponse, "description": "Rate limit or token budget exhausted."},
           502: {"model": s.ErrorResponse, "description": "Every tier that could answer failed."}}


@dataclass
class Gateway:
    """What the endpoints share: settings, the router, the skills, the log and the metrics."""

    settings: Any
    router: Any
    store: GatewayStore
    metrics: Metrics = field(default_factory=Metrics)
    slm: Any = None
    _windows: dict[str, deque] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _keys_cache: tuple[float, int] = (0.0, 0)
    ready: bool = False
    _orchestrator: Any = None

    @property
    def orchestrator(self) -> Any:
        """The planner and workflow runner, on the gateway's own router and skills."""
        if self._orchestrator is None:
            from slmkit.plan.runner import Orchestrator

            self._orchestrator = Orchestrator(slm=self.skills, router=self.router, settings=self.settings)
        return self._orchestrator

    @property
    def skills(self) -> Any:
        """The specialists, built on first use (also when the app runs without its lifespan, as in tests)."""
        if self.slm is None:
            from slmkit.api import SLM

            self.slm = SLM()
        return self.slm

    def keys_required(self) -> bool:
        """Fails closed: once a key has ever existed, revoking the last one does not open the server."""
        if self.settings.gateway.auth == "off":
            return False
        at, count = self._keys_cache
        if time.monotonic() - at > 2.0:  # a new key takes effect within 2 s
            count = self.store.keys_ever_created()
            self._keys_cache = (time.monotonic(), count)
        return count > 0

    def admit(self, key: ApiKey | None) -> None:
        """Per-key requests-per-minute (sliding window) and token budget."""
        if key is None:
            return
        if key.token_budget is not None and key.tokens_used >= key.token_budget:
            raise ApiError(429, f"key {key.id} has used its token budget of {key.token_budget}",
                           "insufficient_quota", "insufficient_quota")
        rpm = key.rpm or self.settings.gateway.default_rpm
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(key.id, deque())
            while window and now - window[0] > 60:
                window.popleft()
            if len(window) >= rpm:
                retry = max(1, int(60 - (now - window[0])) + 1)
                raise ApiError(429, f"rate limit of {rpm} requests per minute reached", "rate_limit_exceeded",
                               "rate_limit_exceeded", headers={"Retry-After": str(retry)})
            window.append(now)


def _mask_pii(text: str) -> str:
    """What the request log keeps by default: the text with personal data masked (runs on the log thread)."""
    from slmkit.guard.redact import redact
    from slmkit.skills.pii import Pii

    global _pii
    if _pii is None:
        _pii = Pii().warm_up()
    return redact(text, _pii(text), "mask").text


_pii: Any = None


def create_app(settings: Any = None, router: Any = None, warm: bool = True) -> FastAPI:
    from slmkit.config import get_settings

    settings = settings or get_settings()
    if router is None:
        from slmkit.guard.guard import Guard
        from slmkit.router.router import Router

        router = Router(settings.router, guard=None if settings.guard.is_off else Guard(settings.guard))
    mode = settings.gateway.log_content
    store = GatewayStore(settings.data_dir / "gateway.sqlite",
                         content_filter=_mask_pii if mode == "redacted" else None, keep_content=mode != "none")
    gateway = Gateway(settings, router, store)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # noqa: ANN202
        import anyio

        gateway.skills  # noqa: B018 - build the specialists' holder before the first request
        if warm:
            await anyio.to_thread.run_sync(router.warm_up)
        gateway.ready = True
        yield
        gateway.store.flush()

    # The schema and its page are served below behind the same key as everything else.
    app = FastAPI(title="slmkit gateway", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None,
                  description="OpenAI-compatible: small local models first, a large one only when it must.")
    app.state.gateway = gateway

    _install_errors(app, gateway)
    _install_body_limit(app, settings.gateway.max_body_bytes)

    def auth(authorization: Annotated[str | None, Header(include_in_schema=False)] = None) -> ApiKey | None:
        if not gateway.keys_required():
            return None
        if not authorization or not authorization.lower().startswith("bearer "):
            raise ApiError(401, "an API key is required: Authorization: Bearer sk-slm-...", "invalid_request_error",
                           "invalid_api_key")
        key = gateway.store.lookup(authorization[7:].strip())
        if key is None or key.revoked is not None:
            raise ApiError(401, "unknown or revoked API key", "invalid_request_error", "invalid_api_key")
        gateway.admit(key)
        return key

    Key = Annotated[ApiKey | None, Depends(auth)]

    @app.post("/v1/chat/completions", response_model=s.ChatCompletion, responses={
        **_ERRORS, 200: {"content": {"text/event-stream": {}}, "description": "A completion, or SSE chunks."}})
    def chat_completions(body: s.ChatRequest, key: Key) -> Any:
        from slmkit.gateway.chat import ChatHost, complete

        host = ChatHost(gateway.settings, gateway.router, partial(_account, gateway),
                        partial(_dispatch_target, gateway))
        return complete(host, body, key)

    @app.post("/v1/embeddings", response_model=s.EmbeddingsResponse, responses=_ERRORS)
    def embeddings(body: s.EmbeddingsRequest, key: Key) -> Any:
        started = time.perf_counter()
        from slmkit.skills.embed import Embed, resolve_embedding_model

        items = [body.input] if isinstance(body.input, str) else list(body.input)
        if not items:
            raise ApiError(400, "input is empty", param="input")
        try:
            model = resolve_embedding_model(body.model)
        except InvalidInputError as exc:
            raise ApiError(400, str(exc), param="model", code="model_not_found") from None
        embed = gateway.skills._skill(("embed", model), lambda: Embed(model))
        if body.dimensions is not None and body.dimensions != embed.dim:
            raise ApiError(400, f"dimensions={body.dimensions} is not available: {model} gives {embed.dim}-d "
                                "vectors and was not trained to be truncated; omit dimensions", param="dimensions")
        vectors = embed.vectors(items)
        tokens = sum(len(t.split()) for t in items)
        _account(gateway, "/v1/embeddings", key, started, model=model, tier="embed", tokens=(tokens, 0))
        if body.encoding_format == "base64":
            import base64

            import numpy as np

            encoded: list[Any] = [base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode() for v in vectors]
        else:
            encoded = [[round(float(x), 7) for x in v] for v in vectors]
        return s.EmbeddingsResponse(
            data=[s.EmbeddingItem(index=i, embedding=e) for i, e in enumerate(encoded)],
            model=model, usage=s.EmbeddingsUsage(prompt_tokens=tokens, total_tokens=tokens))

    def model_cards() -> list[s.ModelCard]:
        cards = [s.ModelCard(id="auto", kind="router")]
        cards += [s.ModelCard(id=name, kind=f"tier:{t.kind}:{t.model}") for name, t in settings.router.tiers.items()]
        cards.append(s.ModelCard(id=settings.embed_model, kind="embedding"))
        cards += [s.ModelCard(id=f"skill:{name}", kind="skill") for name in SKILLS]
        return cards

    @app.get("/v1/models", response_model=s.ModelList, responses=_ERRORS)
    def models(key: Key) -> Any:
        return s.ModelList(data=model_cards())

    @app.get("/v1/models/{model_id:path}", response_model=s.ModelCard,
             responses={**_ERRORS, 404: {"model": s.ErrorResponse, "description": "No model of that id."}})
    def model(model_id: str, key: Key) -> Any:
        card = next((c for c in model_cards() if c.id == model_id), None)
        if card is None:
            raise ApiError(404, f"model {model_id!r} does not exist here; GET /v1/models lists them",
                           code="model_not_found", param="model")
        return card

    @app.post("/v1/moderations", response_model=s.ModerationResponse, responses=_ERRORS)
    def moderations(body: s.ModerationRequest, key: Key) -> Any:
        started = time.perf_counter()
        items = [body.input] if isinstance(body.input, str) else list(body.input)
        if not items:
            raise ApiError(400, "input is empty", param="input")
        verdicts = gateway.skills.moderate(items)
        results = []
        for v in verdicts:
            scores = {name: round(score, 6) for name, score in v.categories}
            scores["toxicity"] = round(v.score, 6)
            injection = v.injection.detected if v.injection is not None else False
            scores["prompt_injection"] = float(v.injection.score) if v.injection is not None else 0.0
            categories = {name: name in v.flagged_categories for name in scores}
            categories["toxicity"], categories["prompt_injection"] = v.flagged, injection
            results.append(s.ModerationResult(flagged=v.flagged or injection, categories=categories,
                                              category_scores=scores))
        _account(gateway, "/v1/moderations", key, started, tier="moderate")
        return s.ModerationResponse(id="modr-" + secrets.token_hex(8), model="slmkit-moderate", results=results)

    @app.post("/v1/skills/{name}", response_model=s.SkillResponse, responses=_ERRORS)
    def skill(name: Annotated[SkillName, Path(description="The specialist to run.")], body: s.SkillRequest,
              key: Key) -> Any:
        started = time.perf_counter()
        results = _run_skill(gateway, name, body)
        _account(gateway, "/v1/skills/{name}", key, started, tier=f"skill:{name}")
        return s.SkillResponse(skill=name, results=results)

    @app.get("/v1/workflows", response_model=s.WorkflowList, responses=_ERRORS)
    def workflows(key: Key) -> Any:
        from slmkit.plan.workflow import Workflow, list_workflows

        infos = []
        for name, path in list_workflows(gateway.settings).items():
            try:
                wf = Workflow.from_yaml(path)
            except InvalidInputError:
                continue  # a malformed file is reported when someone runs it, not here
            infos.append(s.WorkflowInfo(name=name, description=wf.description, inputs=wf.inputs))
        return s.WorkflowList(data=infos)

    @app.post("/v1/workflows/{name}", response_model=s.RunResponse,
              responses={**_ERRORS, 404: {"model": s.ErrorResponse, "description": "No workflow of that name."}})
    def run_workflow(name: Annotated[str, Path(description="The workflow's name.", max_length=128)],
                     body: s.WorkflowRequest, key: Key) -> Any:
        from slmkit.plan.workflow import WorkflowNotFound

        started = time.perf_counter()
        if "/" in name or name.endswith((".yaml", ".yml")):
            raise ApiError(404, f"no workflow named {name!r}", code="workflow_not_found")
        try:
            run = gateway.orchestrator.run_workflow(name, body.inputs)
        except WorkflowNotFound as exc:
            raise ApiError(404, f"no workflow named {name!r}; known: {', '.join(exc.known) or 'none'}",
                           code="workflow_not_found") from None
        _account(gateway, "/v1/workflows/{name}", key, started, tier="workflow")
        return run.to_dict()

    @app.post("/v1/plan", response_model=s.RunResponse | s.PlanOnly, responses=_ERRORS)
    def plan(body: s.PlanRequest, key: Key) -> Any:
        started = time.perf_counter()
        orc = gateway.orchestrator
        planned, planning = orc.plan(body.request, body.planner)
        if not body.execute:
            result: Any = {"plan": planned.to_dict(), "planning": planning.to_dict()}
        else:
            result = orc.execute(planned, planning).to_dict()
        _account(gateway, "/v1/plan", key, started, tier=f"planner:{planning.planner}")
        return result

    @app.get("/healthz", include_in_schema=True)
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"description": "Still loading models."}})
    def readyz() -> Any:
        if not gateway.ready:
            return JSONResponse({"status": "loading"}, status_code=503)
        return {"status": "ready"}

    @app.get("/metrics", response_class=PlainTextResponse, responses=_ERRORS)
    def metrics(key: Key) -> str:
        from slmkit.router.resilience import all_breakers

        return gateway.metrics.render(all_breakers())

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(key: Key) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs(key: Key) -> Any:
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(openapi_url="/openapi.json", title="slmkit gateway")

    return app


# -- errors and limits ---------------------------------------------------------------------------
def route_label(request: Request) -> str:
    """The endpoint as metrics and the log name it: the route's template, never the raw path, so a
    caller cannot mint label values (or smuggle personal data into them) by varying the URL."""
    route = request.scope.get("route")
    return getattr(route, "path", None) or "unmatched"


def _install_errors(app: FastAPI, gateway: Gateway) -> None:
    from starlette.exceptions import HTTPException as StarletteHTTPException

    def respond(request: Request, status: int, message: str, type_: str, code: str | None = None,
                param: str | None = None, headers: dict | None = None) -> JSONResponse:
        endpoint = route_label(request)
        gateway.metrics.inc("slmkit_errors_total", type=type_, status=str(status))
        gateway.metrics.inc("slmkit_requests_total", endpoint=endpoint, tier="none", status=str(status))
        gateway.store.log(id="req-" + secrets.token_hex(8), ts=time.time(), endpoint=endpoint,
                          status=status, error=message[:500], error_code=code or type_)
        return JSONResponse(error_body(message, type_, code, param), status_code=status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Unknown paths, wrong methods, bodies FastAPI cannot decode (invalid UTF-8, nesting too deep):
        # the same OpenAI-style error as everything else, not FastAPI's {"detail": ...}.
        messages = {404: "no endpoint at this path (GET /openapi.json lists them)",
                    405: f"{request.method} is not allowed here"}
        message = messages.get(exc.status_code) or str(exc.detail)
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):
            message = "the body cannot be decoded: it must be UTF-8 JSON nested at most a few dozen levels deep"
        type_ = "invalid_request_error" if exc.status_code < 500 else "server_error"
        return respond(request, exc.status_code, message, type_, {404: "not_found"}.get(exc.status_code),
                       headers=getattr(exc, "headers", None))

    @app.exception_handler(ApiError)
    def _api(request: Request, exc: ApiError) -> JSONResponse:
        return respond(request, exc.status, exc.message, exc.type, exc.code, exc.param, exc.headers)

    @app.exception_handler(RequestValidationError)
    def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        if first.get("type") == "json_invalid":
            return respond(request, 400, f"the body is not valid JSON: {first.get('ctx', {}).get('error', '')}",
                           "invalid_request_error", "invalid_json")
        message = f"{where or 'body'}: {first.get('msg', 'invalid')}"
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem(s))"
        return respond(request, 400, message, "invalid_request_error", "invalid_value", where or None)

    @app.exception_handler(InvalidInputError)
    def _input(request: Request, exc: InvalidInputError) -> JSONResponse:
        return respond(request, 400, str(exc), "invalid_request_error", "invalid_value")

    @app.exception_handler(NotTrainedError)
    def _untrained(request: Request, exc: NotTrainedError) -> JSONResponse:
        return respond(request, 400, str(exc), "invalid_request_error", "not_trained")

    @app.exception_handler(SlmkitError)
    def _ours(request: Request, exc: SlmkitError) -> JSONResponse:
        from slmkit.router.tiers import TierError

        if isinstance(exc, TierError):
            return respond(request, 502, str(exc), "upstream_error", "tier_failed")
        return respond(request, 500, str(exc), "server_error")

    @app.exception_handler(Exception)
    def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error on %s", route_label(request), exc_info=exc)
        return respond(request, 500, f"internal error ({type(exc).__name__}); the server's log has the details",
                       "server_error")


def _install_body_limit(app: FastAPI, limit: int) -> None:
    """Refuse bodies over ``limit`` bytes with 413, whether or not they declare a length."""

    class BodyLimit:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return await self.inner(scope, receive, send)
            declared = dict(scope.get("headers") or []).get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                return await _too_large(send, limit)
            # Read the whole body (at most ``limit`` bytes) before the app sees it: a chunked body
            # over the limit is refused here, instead of failing half-way through JSON parsing.
            messages, seen, more = [], 0, True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    messages.append(message)
                    break
                seen += len(message.get("body", b""))
                if seen > limit:
                    return await _too_large(send, limit)
                messages.append(message)
                more = message.get("more_body", False)
            problem = _unusable_json(b"".join(m.get("body", b"") for m in messages))
            if problem is not None:
                return await _refuse(send, 400, problem, "invalid_value")
            replay = iter(messages)

            async def replayed() -> dict:
                return next(replay, None) or await receive()

            return await self.inner(scope, replayed, send)

    app.add_middleware(BodyLimit)


MAX_JSON_DEPTH = 64


def _unusable_json(body: bytes) -> str | None:
    """Why a JSON body cannot be used although it parses: a lone UTF-16 surrogate (``"\\ud800"``: valid
    JSON, but no text encoding can carry it, so every later step would fail), or nesting deeper than any
    request needs. Both checks run only when a cheap byte scan says they might apply."""
    suspicious = b"\\ud" in body.lower() or body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH
    if not suspicious:
        return None
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None  # FastAPI reports it as invalid JSON or an undecodable body
    stack: list[tuple[Any, int]] = [(parsed, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"the body is nested more than {MAX_JSON_DEPTH} levels deep"
        if isinstance(value, dict):
            stack.extend((k, depth) for k in value)
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return "the body holds a lone UTF-16 surrogate (e.g. \\ud800): it is not valid Unicode text"
    return None


async def _too_large(send: Any, limit: int) -> None:
    await _refuse(send, 413, f"request body larger than {limit} bytes", "request_too_large")


async def _refuse(send: Any, status: int, message: str, code: str) -> None:
    """An OpenAI-style error sent before the app sees the request."""
    body = json.dumps(error_body(message, "invalid_request_error", code)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# -- skills ------------------------------------------------------------------------------------------
def _dispatch_target(gateway: Gateway, target: str, text: str) -> Any:
    """A semantic route's target run on a chat message (the chat endpoint's one way to reach a skill)."""
    kind, _, name = target.partition(":")
    if kind == "skill" and name in SKILLS and name not in ("rerank", "extract", "classify"):
        return _run_skill(gateway, name, s.SkillRequest(input=text))
    raise ApiError(400, f"the semantic route points at {target!r}, which the gateway cannot run on a chat "
                        "message; call it directly", code="route_not_runnable")


def _run_skill(gateway: Gateway, name: str, body: s.SkillRequest) -> list[Any]:
    from slmkit.serialize import to_json

    slm = gateway.skills
    items = [body.input] if isinstance(body.input, str) else list(body.input)
    if not items:
        raise ApiError(400, "input is empty", param="input")
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


# -- accounting ------------------------------------------------------------------------------------
def _account(gateway: Gateway, endpoint: str, key: ApiKey | None, started: float, *, model: str | None = None,
             tier: str | None = None, strategy: str | None = None, tokens: tuple[int, int] = (0, 0),
             decision: Any = None, content: str | None = None, status: int = 200, error: str | None = None) -> None:
    ms = 1000 * (time.perf_counter() - started)
    m = gateway.metrics
    m.inc("slmkit_requests_total", endpoint=endpoint, tier=tier or "none", status=str(status))
    m.observe_latency(ms, endpoint=endpoint, tier=tier or "none")
    if tokens != (0, 0):
        m.inc("slmkit_tokens_total", tokens[0], tier=tier or "none", kind="prompt")
        m.inc("slmkit_tokens_total", tokens[1], tier=tier or "none", kind="completion")
    if decision is not None:
        m.inc("slmkit_cost_usd_total", decision.cost, tier=decision.tier)
        m.inc("slmkit_saved_usd_total", max(decision.saving, 0.0), tier=decision.tier)
        if decision.fallback:
            m.inc("slmkit_fallbacks_total", tier=decision.tier)
    if error:
        m.inc("slmkit_errors_total", type="upstream_error", status=str(status))
    if key is not None and sum(tokens):
        gateway.store.add_tokens(key.id, sum(tokens))
    gateway.store.log(
        id="req-" + secrets.token_hex(8), ts=time.time(), key_id=key.id if key else None, endpoint=endpoint,
        model=model, status=status, latency_ms=round(ms, 2), tier=tier, strategy=strategy,
        prompt_tokens=tokens[0], completion_tokens=tokens[1],
        cost=decision.cost if decision is not None else None, saving=decision.saving if decision is not None else None,
        error=error, content=content or None,
        decision=decision.to_dict() if decision is not None else None)
