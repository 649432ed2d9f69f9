"""``/v1/distill/...``: the distillation lifecycle over HTTP, and its Prometheus gauges.

The same operations as ``slmkit distill status | discover | train | promote | demote``, each
endpoint one call into the router's :class:`~slmkit.distill.distiller.Distiller`. ``train`` answers
202 at once and trains on the distiller's own thread (a fine-tuned candidate takes minutes); the
task shows ``training: true`` until the outcome is in its decision log (``?wait=true`` waits for it).
Keys are required like everywhere else once a key exists. With ``distill.enabled: false`` every endpoint
answers 409 and says how to turn it on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from slmkit.distill.distiller import AlreadyTraining, UnknownTask
from slmkit.gateway.errors import ERROR_RESPONSES, ApiError
from slmkit.gateway.metrics import label_set

if TYPE_CHECKING:
    from collections.abc import Callable

    from slmkit.distill.distiller import Distiller
    from slmkit.gateway.context import Gateway
    from slmkit.gateway.store import ApiKey

TaskId = Annotated[str, Path(description="A task id from GET /v1/distill/tasks.", max_length=64,
                             pattern=r"^[A-Za-z0-9_-]+$")]
# A task's lifecycle as one number, for a gauge a dashboard can draw.
STATUS_VALUE = {"collecting": 0, "shadow": 1, "promoted": 2, "open": -1, "structured": -1}


class DemoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field("by hand", min_length=1, max_length=500, description="Kept in the task's decision log.")


def distiller_of(gateway: Gateway) -> Distiller:
    distiller = gateway.router.distiller
    if distiller is None:
        raise ApiError(409, "distillation is off on this gateway: set distill.enabled: true in the settings file "
                            "and restart", code="distill_disabled")
    return distiller


def _known(distiller: Distiller, task_id: str) -> Distiller:
    try:
        distiller.template(task_id)
    except UnknownTask as exc:
        raise ApiError(404, str(exc), code="task_not_found", param="task_id") from None
    return distiller


def routes(gateway: Gateway, auth: Callable[..., ApiKey | None]) -> APIRouter:
    """The endpoints, behind the app's own key check (``auth``)."""
    api = APIRouter(prefix="/v1/distill", tags=["distill"], dependencies=[Depends(auth)], responses=ERROR_RESPONSES)

    @api.get("/tasks")
    def tasks() -> Any:
        return {"object": "list", "data": [t.to_dict() for t in distiller_of(gateway).status()]}

    @api.post("/discover")
    def discover() -> Any:
        return distiller_of(gateway).discover().to_dict()

    @api.post("/tasks/{task_id}/train", status_code=202)
    def train(task_id: TaskId, response: Response,
              wait: Annotated[bool, Query(description="Answer with the training report once training ends "
                                          "(minutes with a fine-tuned candidate) instead of 202 at once.")] = False
              ) -> Any:
        distiller = _known(distiller_of(gateway), task_id)
        try:
            if wait:
                response.status_code = 200
                return distiller.train(task_id).to_dict()
            queued = distiller.train_later(task_id)
        except AlreadyTraining as exc:
            raise ApiError(409, str(exc), code="already_training", param="task_id") from None
        if not queued:
            raise ApiError(429, "the distiller's bookkeeping queue is full: try again shortly", "rate_limit_exceeded",
                           code="queue_full", headers={"Retry-After": "5"})
        return {"object": "distill.training", "task_id": task_id, "status": "queued",
                "events": f"/v1/distill/events?task_id={task_id}"}

    @api.post("/tasks/{task_id}/promote")
    def promote(task_id: TaskId) -> Any:
        return _known(distiller_of(gateway), task_id).promote(task_id).to_dict()

    @api.post("/tasks/{task_id}/demote")
    def demote(task_id: TaskId, body: DemoteRequest | None = None) -> Any:
        return _known(distiller_of(gateway), task_id).demote(task_id, (body or DemoteRequest()).reason).to_dict()

    @api.get("/events")
    def events(task_id: Annotated[str | None, Query(max_length=64)] = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Any:
        return {"object": "list", "data": [e.to_dict() for e in distiller_of(gateway).events(task_id, limit)]}

    return api


def render_metrics(distiller: Distiller | None) -> str:
    """Per-task gauges: lifecycle state, agreement with the teacher, share served, cost saved."""
    if distiller is None:
        return ""
    gauges = {
        "slmkit_distill_task_status": "Task lifecycle: 0 collecting (also after a demotion), 1 shadow, 2 promoted, -1 left to the generators.",
        "slmkit_distill_agreement": "Student-teacher agreement: on sampled checks once promoted, in shadow before.",
        "slmkit_distill_served_share": "Share of the task's requests its student answered.",
        "slmkit_distill_saved_usd": "Estimated teacher cost saved by the student's answers.",
    }
    rows: dict[str, list[str]] = {name: [] for name in gauges}
    for t in distiller.status():
        labels = label_set({"task": t.task_id, "student": t.student or "none"})
        agreement = t.sampled_agreement if t.status == "promoted" and t.sampled_agreement is not None \
            else t.shadow_agreement
        values = (f"{STATUS_VALUE.get(t.status, 0)}", "NaN" if agreement is None else f"{agreement:.6g}",
                  f"{t.served_share:.6g}", f"{t.saved_cost:.6g}")
        for name, value in zip(gauges, values, strict=True):
            rows[name].append(f"{name}{labels} {value}")
    lines = []
    for name, help_text in gauges.items():
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", *rows[name]]
    lines += ["# HELP slmkit_distill_dropped_total Bookkeeping jobs dropped because the distiller fell behind.",
              "# TYPE slmkit_distill_dropped_total counter", f"slmkit_distill_dropped_total {distiller.dropped}"]
    return "\n".join(lines) + "\n"
