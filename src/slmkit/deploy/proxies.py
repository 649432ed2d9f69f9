"""Stand-ins the ingress (and the planner) use where the single-process gateway holds models: each
forwards a call to its deployment through a Serve handle and returns what the replica returned.

They mirror only what the gateway, router and planner call: ``SLM``'s skills, ``Embed``'s
``dim``/``vectors``, a local tier's ``answer``/``stream``, the guard's ``check_messages``, the
orchestrator's ``plan``/``execute``/``run_workflow``. Remote tiers stay in the ingress, behind the guard.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from slmkit.guard.guard import Guard

if TYPE_CHECKING:
    from ray.serve.handle import DeploymentHandle, DeploymentResponse

    from slmkit.config.router import TierConfig
    from slmkit.models.llama import Delta, Message, Sampling
    from slmkit.models.tool_calls import ToolUse
    from slmkit.plan.graph import Plan
    from slmkit.plan.planner import Planning
    from slmkit.router.tiers import Answer

# Which crew serves which skill (the split): encoders are one ONNX model family, the token
# crew spaCy + Presidio; extract and summarize run on the small generator tier's replica.
ENCODER_SKILLS = ("embed", "classify", "sentiment", "langid", "rerank", "moderate")
TOKEN_SKILLS = ("entities", "pii", "redact")
GENERATOR_SKILLS = ("extract", "summarize")


def result(response: DeploymentResponse) -> Any:
    """A handle call's value; a replica's exception is raised as itself (an InvalidInputError stays a 4xx)."""
    try:
        return response.result()
    except Exception as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, BaseException):
            raise cause from None
        raise


class EncoderProxy:
    """``Embed`` of one catalog encoder, living in the encoder crew."""

    def __init__(self, handle: DeploymentHandle, model: str) -> None:
        self._handle, self.model = handle, model
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(result(self._handle.encoder_dim.remote(self.model)))
        return self._dim

    def vectors(self, items: list[str]) -> Any:
        return result(self._handle.vectors.remote(self.model, items))


class SkillsProxy:
    """What the gateway calls ``skills`` (an ``SLM``), split over the crews' deployments."""

    def __init__(self, encoders: DeploymentHandle, tokens: DeploymentHandle, generator: DeploymentHandle) -> None:
        self._routes = {**dict.fromkeys(ENCODER_SKILLS, encoders), **dict.fromkeys(TOKEN_SKILLS, tokens),
                        **dict.fromkeys(GENERATOR_SKILLS, generator)}
        self._encoders = encoders
        self._dims: dict[str, EncoderProxy] = {}

    def encoder(self, model: str) -> EncoderProxy:
        if model not in self._dims:
            self._dims[model] = EncoderProxy(self._encoders, model)
        return self._dims[model]

    def __getattr__(self, name: str) -> Any:
        routes = self.__dict__.get("_routes", {})
        if name not in routes:
            raise AttributeError(name)
        handle = routes[name]
        return lambda *args, **kwargs: result(handle.skill.remote(name, args, kwargs))


class GuardProxy:
    """The guard before remote tiers, run by the token crew (it needs the PII models)."""

    def __init__(self, tokens: DeploymentHandle) -> None:
        self._tokens = tokens

    def warm_up(self) -> GuardProxy:
        return self

    def check_messages(self, messages: list[dict], destination: str = "remote") -> tuple[list[dict], Any]:
        return result(self._tokens.check_messages.remote(messages, destination))

    restore = staticmethod(Guard.restore)  # no model: runs where the answer is


class TierProxy:
    """A local generator tier served by its own deployment (``tier-<name>``)."""

    def __init__(self, name: str, config: TierConfig, handle: DeploymentHandle) -> None:
        self.name, self.config, self._handle = name, config, handle

    def warm_up(self) -> TierProxy:
        return self  # the replica loaded its model before it reported healthy

    def answer(self, messages: list[Message], max_tokens: int = 256, scored: bool = False,
               json_schema: dict | None = None, sampling: Sampling | None = None, tools: ToolUse | None = None
               ) -> Answer:
        kwargs = {"max_tokens": max_tokens, "scored": scored, "json_schema": json_schema, "tools": tools}
        if sampling is not None:
            kwargs["sampling"] = sampling
        return result(self._handle.answer.remote(messages, **kwargs))

    def stream(self, messages: list[Message], max_tokens: int = 256, json_schema: dict | None = None,
               sampling: Sampling | None = None, tools: ToolUse | None = None) -> Iterator[Delta]:
        kwargs = {"max_tokens": max_tokens, "json_schema": json_schema, "tools": tools}
        if sampling is not None:
            kwargs["sampling"] = sampling
        pieces = self._handle.options(stream=True).stream.remote(messages, **kwargs)
        try:
            yield from pieces
        except Exception as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, BaseException):
                raise cause from None
            raise
        finally:
            pieces.cancel()  # the client went away (or the answer ended): stop generating in the replica


class PlannerProxy:
    """The orchestrator, in the planner deployment."""

    def __init__(self, handle: DeploymentHandle) -> None:
        self._handle = handle

    def plan(self, request: str, planner: Any = None) -> tuple[Plan, Planning]:
        return result(self._handle.plan.remote(request, planner))

    def execute(self, plan: Plan, planning: Planning | None = None) -> Any:
        return result(self._handle.execute.remote(plan, planning))

    def run_workflow(self, workflow: str, inputs: Any) -> Any:
        return result(self._handle.run_workflow.remote(workflow, inputs))
