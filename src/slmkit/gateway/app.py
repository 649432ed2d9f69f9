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
from collections.abc import Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from slmkit.errors import InvalidInputError, NotTrainedError, SlmkitError
from slmkit.gateway import schemas as s
from slmkit.gateway.metrics import Metrics
from slmkit.gateway.store import ApiKey, GatewayStore

log = logging.getLogger(__name__)

SKILLS = ("classify", "sentiment", "entities", "pii", "redact", "langid", "rerank", "extract", "summarize",
          "moderate")
SkillName = Literal["classify", "sentiment", "entities", "pii", "redact", "langid", "rerank", "extract", "summarize",
                    "moderate"]


class ApiError(Exception):
    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type_, code, param
        self.headers = headers or {}


def error_body(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


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
        return _chat(gateway, body, key)

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
            categories = {name: bool(v.flagged and name in dict(v.categories)) for name in scores}
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


# -- chat ------------------------------------------------------------------------------------------
def _messages(body: s.ChatRequest) -> list[dict[str, str]]:
    out = []
    for m in body.messages:
        text = m.text()
        out.append({"role": "system" if m.role == "developer" else m.role, "content": text})
    if not out[-1]["content"].strip():
        raise ApiError(400, "the last message has no content", param="messages")
    return out


def _schema(body: s.ChatRequest) -> dict | None:
    fmt = body.response_format
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return {"type": "object"}
    if fmt.json_schema is None:
        raise ApiError(400, "response_format json_schema needs json_schema.schema", param="response_format")
    return fmt.json_schema.schema_


def _pin(gateway: Gateway, model: str) -> tuple[str | None, str | None]:
    """(tier, strategy) for the requested model name; 404-style error for an unknown one."""
    tiers = gateway.settings.router.tiers
    if model in ("auto", ""):
        return None, None
    if model.startswith("auto:"):
        strategy = model.split(":", 1)[1]
        if strategy not in ("small", "large", "cascade", "learned", "combined"):
            raise ApiError(400, f"unknown routing strategy {strategy!r}", param="model", code="model_not_found")
        return None, strategy
    if model in tiers:
        return model, None
    for name, tier in tiers.items():
        if tier.model == model:
            return name, None
    known = ", ".join(["auto", *tiers, *(t.model for t in tiers.values())])
    raise ApiError(404, f"model {model!r} does not exist here; use one of: {known}", "invalid_request_error",
                   "model_not_found", "model")


def _routing_headers(info: s.RoutingInfo) -> dict[str, str]:
    return {"x-slmkit-tier": info.tier, "x-slmkit-strategy": info.strategy, "x-slmkit-reason": info.reason[:200],
            "x-slmkit-cost-usd": f"{info.cost_usd:.8f}", "x-slmkit-saved-usd": f"{info.saved_usd:.8f}",
            **({"x-slmkit-fallback": info.fallback[:200].replace("\n", " ")} if info.fallback else {})}


def _reason(d: Any) -> str:
    if d.fallback:
        return f"fallback to {d.tier}: {d.fallback}"
    if d.strategy == "pinned":
        return f"the request named tier {d.tier}"
    if d.strategy == "semantic":
        return f"semantic route {d.route} (score {d.confidence:.2f} >= {d.threshold:.2f})"
    if d.strategy in ("cascade", "combined") and d.confidence is not None:
        verdict = "escalated" if d.escalated else "accepted"
        return f"{d.strategy}: small-tier confidence {d.confidence:.2f} vs threshold {d.threshold:.2f}, {verdict}"
    if d.strategy == "learned" and d.confidence is not None:
        return f"learned router: needs-large probability {d.confidence:.2f} vs {d.threshold:.2f}"
    return f"strategy {d.strategy}"


def _info(d: Any) -> s.RoutingInfo:
    return s.RoutingInfo(tier=d.tier, strategy=d.strategy, reason=_reason(d), confidence=d.confidence,
                         escalated=d.escalated, fallback=d.fallback, cost_usd=d.cost, saved_usd=d.saving,
                         latency_ms=d.latency_ms, guard=d.guard)


def _chat(gateway: Gateway, body: s.ChatRequest, key: ApiKey | None) -> Any:
    from slmkit.router.router import PolicyBlocked

    started = time.perf_counter()
    messages = _messages(body)
    schema = _schema(body)
    tier, strategy = _pin(gateway, body.model)
    max_tokens = body.max_completion_tokens or body.max_tokens or gateway.settings.gateway.max_tokens_default
    if body.stream:
        return _stream(gateway, body, key, messages, schema, tier, strategy, max_tokens, started)
    try:
        routed = gateway.router.run(messages, tier=tier, strategy=strategy, max_tokens=max_tokens, json_schema=schema)
    except PolicyBlocked as exc:
        raise ApiError(400, str(exc), "invalid_request_error", "content_policy") from None
    d = routed.decision
    if routed.answer is None:  # a semantic route to a skill: run it on the last message
        text = json.dumps(_dispatch_target(gateway, d.tier, messages[-1]["content"]), ensure_ascii=False)
        prompt_tokens, completion_tokens, finish = 0, 0, "stop"
    else:
        c = routed.answer.completion
        text, prompt_tokens, completion_tokens, finish = c.text, c.prompt_tokens, c.completion_tokens, c.finish_reason
    info = _info(d)
    _account(gateway, "/v1/chat/completions", key, started, model=body.model, tier=d.tier, strategy=d.strategy,
             tokens=(prompt_tokens, completion_tokens), decision=d, content=messages[-1]["content"])
    completion = s.ChatCompletion(
        id="chatcmpl-" + secrets.token_hex(12), created=int(time.time()), model=body.model,
        choices=[s.Choice(index=0, message=s.AssistantMessage(content=text), finish_reason=finish)],
        usage=s.Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                      total_tokens=prompt_tokens + completion_tokens),
        slmkit=info)
    return JSONResponse(completion.model_dump(), headers=_routing_headers(info))


def _stream(gateway: Gateway, body: s.ChatRequest, key: ApiKey | None, messages: list[dict], schema: dict | None,
            tier: str | None, strategy: str | None, max_tokens: int, started: float) -> StreamingResponse:
    """True streaming from one tier when the tier is known up front (pinned, or a strategy that picks it
    before answering); a cascade has to read the small answer first, so its answer is sent in pieces."""
    from slmkit.models.llama import Delta
    from slmkit.router.decision import Decision
    from slmkit.router.router import PolicyBlocked
    from slmkit.router.tiers import TierError

    router = gateway.router
    chosen = strategy or router.settings.strategy
    cid, created = "chatcmpl-" + secrets.token_hex(12), int(time.time())
    pieces: Iterator[Delta]
    if tier is None and (chosen in ("cascade", "combined", "learned") or router.semantic is not None):
        try:
            routed = router.run(messages, strategy=strategy, max_tokens=max_tokens, json_schema=schema)
        except PolicyBlocked as exc:
            raise ApiError(400, str(exc), "invalid_request_error", "content_policy") from None
        d = routed.decision
        if routed.answer is None:
            text = json.dumps(_dispatch_target(gateway, d.tier, messages[-1]["content"]), ensure_ascii=False)
            c_prompt, c_completion, finish = 0, 0, "stop"
        else:
            c = routed.answer.completion
            text, c_prompt, c_completion, finish = c.text, c.prompt_tokens, c.completion_tokens, c.finish_reason
        words = text.split(" ")
        pieces = iter([*(Delta(w if i == 0 else " " + w) for i, w in enumerate(words)),
                       Delta("", finish, c_prompt, c_completion)])
    else:
        s_ = router.settings
        d = Decision(tier=tier or (s_.small_tier if chosen == "small" else s_.large_tier),
                     strategy="pinned" if tier else chosen)
        pieces = _open_stream(gateway, d, messages, schema, max_tokens)
    info = _info(d)

    def events() -> Iterator[bytes]:
        prompt_tokens = completion_tokens = 0
        status = 200
        error = None
        head = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": body.model}
        yield _sse({**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                         "finish_reason": None}]})
        try:
            for delta in pieces:
                if delta.finish_reason is not None:
                    prompt_tokens, completion_tokens = delta.prompt_tokens, delta.completion_tokens
                    if delta.finish_reason == "error":
                        status, error = 502, f"tier {d.tier} stopped in the middle of its answer"
                        yield _sse(error_body(error, "upstream_error", "stream_interrupted"))
                        break
                    yield _sse({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": delta.finish_reason}]})
                elif delta.text:
                    yield _sse({**head, "choices": [{"index": 0, "delta": {"content": delta.text},
                                                     "finish_reason": None}]})
            if status == 200:
                usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                         "total_tokens": prompt_tokens + completion_tokens}
                yield _sse({**head, "choices": [], "usage": usage, "slmkit": info.model_dump()})
        except (TierError, SlmkitError) as exc:
            status, error = 502, str(exc)
            yield _sse(error_body(error, "upstream_error", "stream_interrupted"))
        finally:
            # Before [DONE]: a client that stops reading at an error closes the stream at the next yield.
            _account(gateway, "/v1/chat/completions", key, started, model=body.model, tier=d.tier,
                     strategy=d.strategy, tokens=(prompt_tokens, completion_tokens), decision=d,
                     content=messages[-1]["content"], status=status, error=error)
        yield b"data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers=_routing_headers(info))


def _open_stream(gateway: Gateway, d: Any, messages: list[dict], schema: dict | None, max_tokens: int):  # noqa: ANN202
    """Start the tier's stream now, before any header is sent, so a backend that is down can still be
    replaced by the fallback tier (and the headers say so)."""
    from slmkit.router.router import PolicyBlocked
    from slmkit.router.tiers import TierError

    router = gateway.router
    for attempt in range(2):
        name = d.tier
        d.tiers_tried.append(name)
        try:
            outgoing, guarded = router.guard_for_remote(name, messages, d)
            tier = router.tier(name)
            stream = tier.stream(outgoing, max_tokens=max_tokens, json_schema=schema)
            first = next(stream)  # the first piece proves the backend answers
            if guarded is not None and guarded.vault is not None:
                # Placeholders can be split across pieces: restore on the whole answer.
                from slmkit.models.llama import Delta

                rest = [first, *stream]
                text = router.guard.restore("".join(p.text for p in rest), guarded)
                last = rest[-1]
                return iter([Delta(text), last])
            return _chain(first, stream)
        except PolicyBlocked as exc:
            raise ApiError(400, str(exc), "invalid_request_error", "content_policy") from None
        except (TierError, StopIteration) as exc:
            fallback = router.settings.fallback_tier
            if attempt == 1 or name == fallback:
                raise ApiError(502, str(exc) or f"tier {name} returned nothing", "upstream_error",
                               "tier_failed") from None
            d.fallback, d.tier = str(exc) or f"tier {name} returned nothing", fallback
    raise AssertionError("unreachable")


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _sse(payload: dict) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode("utf-8") + b"\n\n"


# -- skills ------------------------------------------------------------------------------------------
def _dispatch_target(gateway: Gateway, target: str, text: str) -> Any:
    kind, _, name = target.partition(":")
    if kind == "skill" and name in SKILLS and name not in ("rerank", "extract", "classify"):
        return _run_skill(gateway, name, s.SkillRequest(input=text))
    raise ApiError(400, f"the semantic route points at {target!r}, which the gateway cannot run on a chat "
                        "message; call it directly", code="route_not_runnable")


def _run_skill(gateway: Gateway, name: str, body: s.SkillRequest) -> list[Any]:
    from slmkit.cli import to_json

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
