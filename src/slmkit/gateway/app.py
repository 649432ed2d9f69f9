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

# No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations when they are
# defined, and `Key` is local to create_app.
import time
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio
from fastapi import Depends, FastAPI, Header, Path
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, PlainTextResponse

from slmkit.api import SLM
from slmkit.config import Settings, get_settings
from slmkit.distill.distiller import Distiller
from slmkit.errors import InvalidInputError
from slmkit.gateway import schemas as s
from slmkit.gateway.accounting import account
from slmkit.gateway.chat import ChatHost, complete
from slmkit.gateway.context import Gateway
from slmkit.gateway.distill import render_metrics
from slmkit.gateway.distill import routes as distill_routes
from slmkit.gateway.errors import ERROR_RESPONSES, ApiError, install_body_limit, install_errors
from slmkit.gateway.skills import SKILLS, SkillName, dispatch_target, embeddings, moderations, run_skill
from slmkit.gateway.store import ApiKey, GatewayStore
from slmkit.gateway.ui import dashboard
from slmkit.guard.guard import Guard
from slmkit.models.llama import use_server_runtime
from slmkit.plan.workflow import Workflow, WorkflowNotFound, list_workflows
from slmkit.router.resilience import all_breakers
from slmkit.router.router import Router
from slmkit.router.tiers import server_runtime

_NOT_FOUND = {404: {"model": s.ErrorResponse, "description": "No such model or workflow."}}


def create_app(settings: Settings | None = None, router: Router | None = None, warm: bool = True) -> FastAPI:
    settings = settings or get_settings()
    slm = SLM()  # one crew for the endpoints and the distiller's students (cheap: skills load on first use)
    if router is None:
        router = Router(settings.router.for_gateway(), guard=None if settings.guard.is_off else Guard(settings.guard),
                        distiller=Distiller(settings.distill, slm, data_dir=settings.data_dir)
                        if settings.distill.enabled else None)
    mode = settings.gateway.log_content
    store = GatewayStore(settings.data_dir / "gateway.sqlite", keep_content=mode != "none",
                         content_filter=(lambda text: gateway.mask_pii(text)) if mode == "redacted" else None,
                         url=settings.store.url, pool_size=settings.store.pool_size,
                         connect_timeout=settings.store.connect_timeout)
    gateway = Gateway(settings, router, store, slm=slm)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # noqa: ANN202
        gateway.skills  # noqa: B018 - build the specialists' holder before the first request
        # Skills that generate (extract, summarize, RAG answers) use the router's llama-server children, not a
        # second copy of the model in this process: one copy, batched with the chats, a crash costs a restart.
        use_server_runtime(server_runtime(gateway.router.settings, gateway.router.threads))
        distiller = gateway.router.distiller
        if warm:
            await anyio.to_thread.run_sync(gateway.router.warm_up)
            if distiller is not None:
                await anyio.to_thread.run_sync(distiller.warm_up)
        gateway.ready = True
        yield
        if distiller is not None:
            await anyio.to_thread.run_sync(distiller.close)  # the captures already answered for are kept
        gateway.store.flush()
        use_server_runtime(None)

    # The schema and its page are served below, behind the same key as everything else.
    app = FastAPI(title="slmkit gateway", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None,
                  description="OpenAI-compatible: small local models first, a large one only when it must.")
    app.state.gateway = gateway
    install_errors(app, gateway.metrics, gateway.store)
    install_body_limit(app, settings.gateway.max_body_bytes)

    def auth(authorization: Annotated[str | None, Header(include_in_schema=False)] = None) -> ApiKey | None:
        return gateway.authenticate(authorization)

    Key = Annotated[ApiKey | None, Depends(auth)]

    @app.post("/v1/chat/completions", response_model=s.ChatCompletion, responses={
        **ERROR_RESPONSES, 200: {"content": {"text/event-stream": {}}, "description": "A completion, or SSE chunks."}})
    def chat_completions(body: s.ChatRequest, key: Key) -> Any:
        host = ChatHost(gateway.settings, gateway.router, lambda *a, **k: account(gateway, *a, **k),
                        lambda target, text: dispatch_target(gateway, target, text))
        return complete(host, body, key)

    @app.post("/v1/embeddings", response_model=s.EmbeddingsResponse, responses=ERROR_RESPONSES)
    def embed(body: s.EmbeddingsRequest, key: Key) -> Any:
        started = time.perf_counter()
        response, tokens = embeddings(gateway, body)
        account(gateway, "/v1/embeddings", key, started, model=response.model, tier="embed", tokens=(tokens, 0))
        return response

    def model_cards() -> list[s.ModelCard]:
        cards = [s.ModelCard(id="auto", kind="router")]
        cards += [s.ModelCard(id=name, kind=f"tier:{t.kind}:{t.model}") for name, t in settings.router.tiers.items()]
        cards.append(s.ModelCard(id=settings.embed_model, kind="embedding"))
        cards += [s.ModelCard(id=f"skill:{name}", kind="skill") for name in SKILLS]
        return cards

    @app.get("/v1/models", response_model=s.ModelList, responses=ERROR_RESPONSES)
    def models(key: Key) -> Any:
        return s.ModelList(data=model_cards())

    @app.get("/v1/models/{model_id:path}", response_model=s.ModelCard, responses={**ERROR_RESPONSES, **_NOT_FOUND})
    def model(model_id: str, key: Key) -> Any:
        card = next((c for c in model_cards() if c.id == model_id), None)
        if card is None:
            raise ApiError(404, f"model {model_id!r} does not exist here; GET /v1/models lists them",
                           code="model_not_found", param="model")
        return card

    @app.post("/v1/moderations", response_model=s.ModerationResponse, responses=ERROR_RESPONSES)
    def moderate(body: s.ModerationRequest, key: Key) -> Any:
        started = time.perf_counter()
        response = moderations(gateway, body)
        account(gateway, "/v1/moderations", key, started, tier="moderate")
        return response

    @app.post("/v1/skills/{name}", response_model=s.SkillResponse, responses=ERROR_RESPONSES)
    def skill(name: Annotated[SkillName, Path(description="The specialist to run.")], body: s.SkillRequest,
              key: Key) -> Any:
        started = time.perf_counter()
        results = run_skill(gateway, name, body)
        account(gateway, "/v1/skills/{name}", key, started, tier=f"skill:{name}")
        return s.SkillResponse(skill=name, results=results)

    @app.get("/v1/workflows", response_model=s.WorkflowList, responses=ERROR_RESPONSES)
    def workflows(key: Key) -> Any:
        infos = []
        for name, path in list_workflows(gateway.settings).items():
            try:
                wf = Workflow.from_yaml(path)
            except InvalidInputError:
                continue  # a malformed file is reported when someone runs it, not here
            infos.append(s.WorkflowInfo(name=name, description=wf.description, inputs=wf.inputs))
        return s.WorkflowList(data=infos)

    @app.post("/v1/workflows/{name}", response_model=s.RunResponse, responses={**ERROR_RESPONSES, **_NOT_FOUND})
    def run_workflow(name: Annotated[str, Path(description="The workflow's name.", max_length=128)],
                     body: s.WorkflowRequest, key: Key) -> Any:
        started = time.perf_counter()
        if "/" in name or name.endswith((".yaml", ".yml")):
            raise ApiError(404, f"no workflow named {name!r}", code="workflow_not_found")
        try:
            run = gateway.orchestrator.run_workflow(name, body.inputs)
        except WorkflowNotFound as exc:  # its own message names server folders: not for the caller
            raise ApiError(404, f"no workflow named {name!r}; known: {', '.join(exc.known) or 'none'}",
                           code="workflow_not_found") from None
        account(gateway, "/v1/workflows/{name}", key, started, tier="workflow")
        return run.to_dict()

    @app.post("/v1/plan", response_model=s.RunResponse | s.PlanOnly, responses=ERROR_RESPONSES)
    def plan(body: s.PlanRequest, key: Key) -> Any:
        started = time.perf_counter()
        orc = gateway.orchestrator
        planned, planning = orc.plan(body.request, body.planner)
        if not body.execute:
            result: Any = {"plan": planned.to_dict(), "planning": planning.to_dict()}
        else:
            result = orc.execute(planned, planning).to_dict()
        account(gateway, "/v1/plan", key, started, tier=f"planner:{planning.planner}")
        return result

    app.include_router(distill_routes(gateway, auth))

    @app.get("/healthz", include_in_schema=True)
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"description": "Still loading models."}})
    def readyz() -> Any:
        if not gateway.ready:
            return JSONResponse({"status": "loading"}, status_code=503)
        return {"status": "ready"}

    @app.get("/metrics", response_class=PlainTextResponse, responses=ERROR_RESPONSES)
    def metrics(key: Key) -> str:
        return gateway.metrics.render(all_breakers()) + render_metrics(gateway.router.distiller)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(key: Key) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs(key: Key) -> Any:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="slmkit gateway")

    app.include_router(dashboard(gateway))  # /ui: the operator's dashboard, admin key once keys exist
    return app
