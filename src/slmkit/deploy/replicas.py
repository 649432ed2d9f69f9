"""The deployments' classes: plain Python, made Serve deployments in :mod:`slmkit.deploy.app`.

Each replica loads its models in its constructor: a replica that cannot (a model file, trained head or
index missing on its node) fails to start with the error naming what to install, and Serve reports the
deployment unhealthy instead of serving errors.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from slmkit.deploy.proxies import (ENCODER_SKILLS, GENERATOR_SKILLS, TOKEN_SKILLS, PlannerProxy, SkillsProxy,
                                   TierProxy, result)
# The tools' return types: make_tool reads the annotations, which must resolve in this module.
from slmkit.plan.builtin import DocAnswer, Passage, Passages

if TYPE_CHECKING:
    from fastapi import FastAPI

    from slmkit.router.router import Router
    from ray.serve.handle import DeploymentHandle

    from slmkit.config import Settings


def adopt_settings(dump: dict) -> Settings:
    """Make ``dump`` (the driver's settings) this worker's process-wide settings.

    Code deep in the kit reads ``get_settings()``; a replica on another node has neither the driver's
    environment nor its YAML file, so the whole settings travel with the deployment and become this
    process's YAML file, with no ``SLMKIT_*`` variable left to override them."""
    from slmkit.config import get_settings

    handle, path = tempfile.mkstemp(prefix="slmkit-settings-", suffix=".yaml")
    with os.fdopen(handle, "w", encoding="utf-8") as f:
        yaml.safe_dump(dump, f)
    for name in [n for n in os.environ if n.startswith("SLMKIT_")]:
        del os.environ[name]
    os.environ["SLMKIT_CONFIG"] = path
    get_settings.cache_clear()
    return get_settings()


class _Crew:
    """Specialists of one kind in one replica; ``skill`` runs one by name."""

    skills: tuple[str, ...] = ()
    warm: tuple[str, ...] = ()

    def __init__(self, settings: dict) -> None:
        from slmkit.api import SLM

        adopt_settings(settings)
        self.slm = SLM()
        for name in self.warm:
            getattr(self.slm, f"_{name}")()

    def skill(self, name: str, args: tuple, kwargs: dict) -> Any:
        if name not in self.skills:
            raise ValueError(f"{type(self).__name__} does not serve {name!r}")
        return getattr(self.slm, name)(*args, **kwargs)

    def check_health(self) -> None:
        pass  # constructed means loaded; a dead replica is noticed by Serve and replaced


class EncoderCrew(_Crew):
    skills = ENCODER_SKILLS
    warm = ("embed", "langid")

    def encoder_dim(self, model: str) -> int:
        return self.slm.encoder(model).dim

    def vectors(self, model: str, items: list[str]) -> Any:
        return self.slm.encoder(model).vectors(items)


class TokenCrew(_Crew):
    skills = TOKEN_SKILLS
    warm = ("pii",)

    def __init__(self, settings: dict) -> None:
        super().__init__(settings)
        self.guard = self.slm.guard().warm_up()

    def check_messages(self, messages: list[dict], destination: str) -> tuple[list[dict], Any]:
        return self.guard.check_messages(messages, destination)  # type: ignore[arg-type]


class GeneratorTier:
    """One local generator tier (its model loaded once per replica); also runs the generator skills."""

    def __init__(self, settings: dict, name: str) -> None:
        from slmkit.api import SLM
        from slmkit.models.llama import use_server_runtime
        from slmkit.router.tiers import make_tier, server_runtime

        config = adopt_settings(settings)
        # A replica is a long-lived server like `slmkit serve`: its local tier runs the gateway's way (a
        # llama-server child batching concurrent requests over its slots, dying with the replica), and the
        # generator skills it serves use that child too, as in the gateway (one copy of the model).
        router, threads = config.router.for_gateway(), max(config.threads, 2)
        self.tier = make_tier(name, router, threads).warm_up()
        use_server_runtime(server_runtime(router, threads))
        self.slm = SLM()

    def answer(self, messages: list, **kwargs: Any) -> Any:
        return self.tier.answer(messages, **kwargs)

    def stream(self, messages: list, **kwargs: Any) -> Iterator[Any]:
        pieces = self.tier.stream(messages, **kwargs)
        try:
            yield from pieces
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()  # cancelled by the caller: stop generating

    def skill(self, name: str, args: tuple, kwargs: dict) -> Any:
        if name not in GENERATOR_SKILLS:
            raise ValueError(f"a generator tier does not serve {name!r}")
        return getattr(self.slm, name)(*args, **kwargs)


class Rag:
    """Retrieval over ingested collections (each collection's index opened once per replica)."""

    def __init__(self, settings: dict) -> None:
        adopt_settings(settings)
        self._retrievers: dict[str, Any] = {}
        self._answerers: dict[str, Any] = {}

    def _retriever(self, collection: str) -> Any:
        from slmkit.rag.retrieve import Retriever

        if collection not in self._retrievers:
            self._retrievers[collection] = Retriever(collection).warm_up()
        return self._retrievers[collection]

    def search(self, query: str, collection: str, k: int) -> list[tuple[str, str, float]]:
        hits = self._retriever(collection).search(query, k, "rerank")
        return [(h.source, h.chunk.text, float(h.score)) for h in hits]

    def ask(self, question: str, collection: str) -> tuple[str, bool, list[str]]:
        from slmkit.rag.answer import Answerer

        if collection not in self._answerers:
            self._answerers[collection] = Answerer(collection, retriever=self._retriever(collection))
        a = self._answerers[collection].ask(question)
        return a.text, a.found, [f"{c.source}#{c.chunk}" for c in a.citations]


def _rag_tools(rag: DeploymentHandle) -> Any:
    """The planner's ``search`` and ``ask_docs`` tools, answered by the RAG deployment."""
    from slmkit.plan.tools import ToolRegistry

    reg = ToolRegistry()

    @reg.tool(account=lambda _out: ("skill:search", 0.0), timeout_s=60)
    def search(query: str, collection: str, k: int = 4) -> Passages:
        """Search an ingested document collection; returns the best passages with their sources."""
        found = [Passage(source=s, text=t, score=sc) for s, t, sc in result(rag.search.remote(query, collection, k))]
        return Passages(passages=found, text="\n\n".join(f"[{p.source}] {p.text}" for p in found))

    @reg.tool(account=lambda _out: ("skill:ask_docs", 0.0), timeout_s=180)
    def ask_docs(question: str, collection: str) -> DocAnswer:
        """Answer a question from an ingested document collection, with citations."""
        text, found, citations = result(rag.ask.remote(question, collection))
        return DocAnswer(text=text, found=found, citations=citations)

    return reg


def _router(config: Settings, encoders: DeploymentHandle, tokens: DeploymentHandle,
            tiers: dict[str, DeploymentHandle]) -> Router:
    """A router whose local tiers are the tier deployments and whose guard is the token crew's."""
    from slmkit.deploy.proxies import GuardProxy
    from slmkit.router.router import Router

    # No distiller under Ray this round: its capture store is a per-process SQLite file (see the README).
    router = Router(config.router, guard=None if config.guard.is_off else GuardProxy(tokens))  # type: ignore[arg-type]
    for name, handle in tiers.items():
        router.use_tier(name, TierProxy(name, config.router.tiers[name], handle))  # type: ignore[arg-type]
    return router


class Planner:
    """Plans and workflows; their steps call the crews, tiers and RAG through handles."""

    def __init__(self, settings: dict, encoders: DeploymentHandle, tokens: DeploymentHandle,
                 tiers: dict[str, DeploymentHandle], small: str, rag: DeploymentHandle) -> None:
        from slmkit.plan.runner import Orchestrator

        config = adopt_settings(settings)
        skills = SkillsProxy(encoders, tokens, tiers[small])
        self.orchestrator = Orchestrator(_rag_tools(rag), slm=skills,  # type: ignore[arg-type]
                                         router=_router(config, encoders, tokens, tiers), settings=config)

    def plan(self, request: str, planner: Any) -> Any:
        return self.orchestrator.plan(request, planner)

    def execute(self, plan: Any, planning: Any) -> Any:
        return self.orchestrator.execute(plan, planning)

    def run_workflow(self, name: str, inputs: Any) -> Any:
        from slmkit.plan.workflow import WorkflowNotFound

        try:
            return self.orchestrator.run_workflow(name, inputs)
        except WorkflowNotFound as exc:  # its `known` does not survive pickling: sent as data
            return {"workflow_not_found": str(exc), "known": exc.known}


class _WorkflowsProxy(PlannerProxy):
    def run_workflow(self, workflow: str, inputs: Any) -> Any:
        from slmkit.plan.workflow import WorkflowNotFound

        out = super().run_workflow(workflow, inputs)
        if isinstance(out, dict) and "workflow_not_found" in out:
            raise WorkflowNotFound(out["workflow_not_found"], out["known"])
        return out


class Ingress:
    """The gateway's FastAPI app, unchanged, with its models replaced by handles to the deployments."""

    def __init__(self, settings: dict, encoders: DeploymentHandle, tokens: DeploymentHandle,
                 tiers: dict[str, DeploymentHandle], small: str, planner: DeploymentHandle) -> None:
        self.config = adopt_settings(settings)
        self.skills = SkillsProxy(encoders, tokens, tiers[small])
        self.router = _router(self.config, encoders, tokens, tiers)
        self.planner = _WorkflowsProxy(planner)

    def __serve_build_asgi_app__(self) -> FastAPI:
        from slmkit.gateway.app import create_app

        app = create_app(self.config, router=self.router, warm=False)
        gateway = app.state.gateway
        gateway.slm = self.skills
        gateway._orchestrator = self.planner
        return app


