"""The gateway as one Serve application: a FastAPI ingress and a deployment per crew, tier, RAG and
the planner, each with its replicas or autoscaling from ``ray.deployments`` in the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slmkit.config.deploy import TIER_PREFIX

if TYPE_CHECKING:
    from ray.serve import Application

    from slmkit.config import Settings

APP_NAME = "slmkit"


def local_tiers(settings: Settings) -> list[str]:
    """The tiers that run a model here (remote tiers are HTTP calls: they stay in the ingress)."""
    tiers = settings.router.tiers or {}
    return [name for name, tier in tiers.items() if tier.kind == "local"]


def deployment_options(settings: Settings, name: str) -> dict[str, Any]:
    r = settings.ray.replicas(name)
    options: dict[str, Any] = {"name": name, "max_ongoing_requests": r.max_ongoing_requests,
                               "ray_actor_options": {"num_cpus": r.num_cpus},
                               # Loading a generator on a busy 2-core machine takes a while.
                               "health_check_timeout_s": 60, "graceful_shutdown_timeout_s": 5}
    if r.autoscaling:
        options["autoscaling_config"] = {"min_replicas": r.min_replicas, "max_replicas": r.max_replicas,
                                         "target_ongoing_requests": r.target_ongoing_requests}
    else:
        options["num_replicas"] = r.num_replicas
    return options


def build(settings: Settings) -> Application:
    """The bound application; ``serve.run`` deploys it."""
    from ray import serve

    from slmkit.deploy import replicas as r

    dump = settings.model_dump(mode="json")

    def deployment(cls: type, name: str) -> Any:
        return serve.deployment(cls, **deployment_options(settings, name))

    encoders = deployment(r.EncoderCrew, "encoders").bind(dump)
    tokens = deployment(r.TokenCrew, "tokens").bind(dump)
    names = local_tiers(settings)
    small = settings.router.small_tier if settings.router.small_tier in names else names[0]
    tiers = {name: deployment(r.GeneratorTier, TIER_PREFIX + name).bind(dump, name) for name in names}
    rag = deployment(r.Rag, "rag").bind(dump)
    planner = deployment(r.Planner, "planner").bind(dump, encoders, tokens, tiers, small, rag)
    ingress = serve.ingress()(r.Ingress)
    return deployment(ingress, "ingress").bind(dump, encoders, tokens, tiers, small, planner)
