"""`slmkit serve --ray` in the settings file (the ``ray:`` section); pydantic only.

    ray:
      address: null              # join a running cluster (ray://host:10001 or auto); null: a local Ray
      host: 127.0.0.1            # where Serve's HTTP proxy listens
      port: 8000
      num_cpus: null             # local Ray only: CPUs it may schedule (default: the machine's)
      dashboard: false           # the Ray dashboard, on 127.0.0.1:8265 when on
      default:                   # every deployment, unless named below
        num_replicas: 1
        num_cpus: 0.1
      deployments:
        encoders: {min_replicas: 1, max_replicas: 4, target_ongoing_requests: 4}
        tier-large: {num_replicas: 1, num_cpus: 2}

Deployments: ``ingress`` (the FastAPI app), ``encoders`` (embed, classify, sentiment, langid, rerank,
moderate), ``tokens`` (entities, pii, guard), ``tier-<name>`` (one per local generator tier), ``rag``,
``planner``. ``num_cpus`` is what Ray reserves to place a replica, not the threads it computes with
(``threads`` and each tier's own setting decide those).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEPLOYMENTS = ("ingress", "encoders", "tokens", "rag", "planner")
TIER_PREFIX = "tier-"


class ReplicaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    num_replicas: int = Field(1, ge=1, le=1024, description="Fixed replica count (when not autoscaling).")
    min_replicas: int | None = Field(None, ge=0, description="Set with max_replicas to autoscale.")
    max_replicas: int | None = Field(None, ge=1)
    target_ongoing_requests: float = Field(2.0, gt=0, description="Autoscaling: requests per replica to aim at.")
    max_ongoing_requests: int = Field(16, ge=1, description="Requests a replica takes at once; more wait.")
    num_cpus: float = Field(0.1, ge=0, description="CPUs Ray reserves for each replica.")

    @model_validator(mode="after")
    def _bounds(self) -> ReplicaSettings:
        if (self.min_replicas is None) != (self.max_replicas is None):
            raise ValueError("give min_replicas and max_replicas together (autoscaling), or neither")
        if self.min_replicas is not None and self.max_replicas is not None and self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas cannot exceed max_replicas")
        return self

    @property
    def autoscaling(self) -> bool:
        return self.max_replicas is not None


class RaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(None, description="A running cluster to join; null starts a local Ray.")
    host: str = Field("127.0.0.1", description="Serve's HTTP proxy binds here.")
    port: int = Field(8000, ge=1, le=65535)
    num_cpus: int | None = Field(None, ge=1, description="Local Ray: schedulable CPUs (default: all).")
    dashboard: bool = Field(False, description="Start Ray's dashboard (loopback only) with a local Ray.")
    default: ReplicaSettings = Field(default_factory=ReplicaSettings)
    deployments: dict[str, ReplicaSettings] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names(self) -> RaySettings:
        unknown = [n for n in self.deployments if n not in DEPLOYMENTS and not n.startswith(TIER_PREFIX)]
        if unknown:
            raise ValueError(f"unknown deployment(s) {', '.join(unknown)}; known: {', '.join(DEPLOYMENTS)}, "
                             f"{TIER_PREFIX}<tier name>")
        return self

    def replicas(self, deployment: str) -> ReplicaSettings:
        return self.deployments.get(deployment, self.default)
