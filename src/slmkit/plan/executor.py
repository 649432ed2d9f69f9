"""Run a plan: independent steps at once, outputs passed along, and one failure never the end of the run.

Each step gets a timeout, retries and an optional fallback step. A step that still fails
marks the steps that need its output as skipped (saying why); everything else runs, and
the run returns what it has with an account of what it does not. A planned run ends with
``compose``, which writes the answer from the outputs and names what is missing.

A timed-out call cannot be stopped from outside (Python threads cannot be killed): it is
abandoned on a daemon thread and its result, if it ever comes, is dropped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from slmkit.errors import InvalidInputError
from slmkit.plan.graph import Plan, Step, UnresolvedReference, as_text, resolve
from slmkit.plan.tools import Tool, ToolOutputError, ToolRegistry

Status = Literal["pending", "running", "ok", "failed", "skipped"]


class StepTimeout(Exception):
    pass


@dataclass
class StepResult:
    id: str
    tool: str
    status: Status = "pending"
    output: Any = None
    error: str | None = None
    attempts: int = 0
    tier: str | None = None  # which tier or specialist did the work
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    started_ms: float | None = None  # since the run started
    fallback: str | None = None  # the fallback that produced the output, when the step's own tool failed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunResult:
    plan: Plan
    steps: list[StepResult]
    answer: str | None = None  # the composed answer (planned runs)
    output: Any = None  # the workflow's declared output, or the answer
    status: Literal["ok", "partial", "failed"] = "ok"
    latency_ms: float = 0.0
    planning: dict[str, Any] = field(default_factory=dict)  # planner tier, attempts, latency, cost

    @property
    def cost_usd(self) -> float:
        return sum(s.cost_usd for s in self.steps) + float(self.planning.get("cost_usd", 0.0))

    def step(self, step_id: str) -> StepResult:
        return next(s for s in self.steps if s.id == step_id)

    def account(self) -> list[str]:
        """One line per step that did not run as planned: what failed, and what that cost the run."""
        lines = []
        for s in self.steps:
            if s.status == "failed":
                lines.append(f"{s.id} ({s.tool}) failed after {s.attempts} attempt(s): {s.error}")
            elif s.status == "skipped":
                lines.append(f"{s.id} ({s.tool}) skipped: {s.error}")
            elif s.fallback:
                lines.append(f"{s.id} ({s.tool}) answered by its fallback {s.fallback} after: {s.error}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "answer": self.answer, "output": self.output,
                "latency_ms": round(self.latency_ms, 1), "cost_usd": self.cost_usd, "account": self.account(),
                "planning": self.planning, "plan": self.plan.to_dict(), "steps": [s.to_dict() for s in self.steps]}


@dataclass
class Executor:
    registry: ToolRegistry
    max_workers: int = 4
    step_timeout_s: float = 120.0
    on_event: Callable[[StepResult], None] | None = None  # called when a step starts, ends or is skipped
    backoff_s: float = 0.2

    def run(self, plan: Plan, inputs: Any = None, *, compose: bool = False, output: str | None = None) -> RunResult:
        """Run every step of a valid plan. ``inputs`` is what ``${input}`` reads; ``compose`` adds the
        answer-writing step; ``output`` (a ``${ref}``) picks a workflow's result."""
        started = time.perf_counter()
        outputs: dict[str, Any] = {"input": inputs if inputs is not None else plan.request}
        results = {s.id: StepResult(s.id, s.tool) for s in plan.steps}
        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="slmkit-plan") as pool:
            running: dict[Future, str] = {}
            while True:
                self._skip_blocked(plan, results)
                for s in plan.steps:
                    r = results[s.id]
                    if r.status == "pending" and all(results[d].status == "ok" for d in s.depends_on):
                        r.status, r.started_ms = "running", 1000 * (time.perf_counter() - started)
                        self._emit(r)
                        running[pool.submit(self._run_step, s, dict(outputs), r.started_ms)] = s.id
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    sid = running.pop(fut)
                    try:
                        results[sid] = fut.result()
                    except Exception as exc:  # noqa: BLE001 - e.g. an unvalidated plan naming no tool
                        results[sid] = StepResult(sid, results[sid].tool, "failed", error=f"{type(exc).__name__}: {exc}")
                    if results[sid].status == "ok":
                        outputs[sid] = results[sid].output
                    self._emit(results[sid])
        steps = [results[s.id] for s in plan.steps]
        run = RunResult(plan=plan, steps=steps)
        if compose and "compose" in self.registry:
            final = self._compose(plan, steps, started)
            run.steps.append(final)
            run.answer = final.output["text"] if final.status == "ok" else None
            run.output = run.answer
        if output is not None:
            try:
                run.output = resolve(output, outputs)
            except UnresolvedReference as exc:
                run.output = None
                run.steps.append(StepResult("output", "output", "failed", error=str(exc).strip('"')))
        ok = [s for s in run.steps if s.status == "ok"]
        run.status = "ok" if len(ok) == len(run.steps) else ("failed" if not ok else "partial")
        run.latency_ms = 1000 * (time.perf_counter() - started)
        return run

    # -- one step --------------------------------------------------------------------------------
    def _run_step(self, step: Step, outputs: dict[str, Any] | None, started_ms: float) -> StepResult:
        """``outputs`` None: the arguments are final (compose's text may itself contain ``${...}``)."""
        r = StepResult(step.id, step.tool, "running", started_ms=started_ms)
        t0 = time.perf_counter()
        tool = self.registry.get(step.tool)
        try:
            args = resolve(step.args, outputs) if outputs is not None else dict(step.args)
        except UnresolvedReference as exc:
            r.status, r.error = "failed", str(exc).strip('"')
            return r
        retries = step.retries if step.retries is not None else tool.retries
        timeout = step.timeout_s or tool.timeout_s or self.step_timeout_s
        errors: list[str] = []
        for attempt in range(1 + retries):
            r.attempts = attempt + 1
            try:
                self._attempt(tool, args, timeout, r)
                r.latency_ms = 1000 * (time.perf_counter() - t0)
                return r
            except InvalidInputError as exc:  # the same arguments will be refused again: no retry
                errors.append(str(exc))
                break
            except StepTimeout as exc:
                errors.append(str(exc))
            except ToolOutputError as exc:
                errors.append(str(exc))
            except Exception as exc:  # noqa: BLE001 - a tool's own failure is reported, not raised
                errors.append(f"{type(exc).__name__}: {exc}"[:500])
            if attempt < retries:
                time.sleep(self.backoff_s * 2**attempt)
        r.error = errors[-1] if len(set(errors)) == 1 else " | ".join(errors)
        fallback = self._fallback(step, tool, args)
        if fallback is not None:
            fb_tool, fb_args = fallback
            try:
                self._attempt(fb_tool, fb_args, timeout, r)
                r.fallback = f"{fb_tool.name}({', '.join(f'{k}={v!r}' for k, v in fb_args.items() if k not in args or args[k] != v)})"
                r.attempts += 1
                r.latency_ms = 1000 * (time.perf_counter() - t0)
                return r
            except Exception as exc:  # noqa: BLE001
                r.attempts += 1
                r.error += f" | fallback {fb_tool.name}: {type(exc).__name__}: {exc}"[:500]
        r.status, r.latency_ms = "failed", 1000 * (time.perf_counter() - t0)
        return r

    def _attempt(self, tool: Tool, args: dict[str, Any], timeout: float, r: StepResult) -> None:
        raw = _call_with_timeout(tool, args, timeout)
        out = tool.check_output(raw)
        r.tier, r.cost_usd = tool.account(out) if tool.account else (f"tool:{tool.name}", 0.0)
        r.output, r.status = out, "ok"

    def _fallback(self, step: Step, tool: Tool, args: dict[str, Any]) -> tuple[Tool, dict[str, Any]] | None:
        if step.fallback is not None:
            name, overrides = step.fallback.get("tool"), step.fallback.get("args") or {}
        elif tool.fallback is not None:
            name, overrides = tool.fallback
        else:
            return None
        if name not in self.registry:
            return None  # validate() reports an unknown fallback before a plan runs
        fb = self.registry.get(str(name))
        fb_args = {**{k: v for k, v in args.items() if k in fb.params}, **overrides}
        if fb is tool and fb_args == args:
            return None  # the same call again is a retry, not a fallback
        return fb, fb_args

    # -- the run around the steps ------------------------------------------------------------------
    def _skip_blocked(self, plan: Plan, results: dict[str, StepResult]) -> None:
        changed = True
        while changed:
            changed = False
            for s in plan.steps:
                r = results[s.id]
                blockers = [d for d in s.depends_on if results[d].status in ("failed", "skipped")]
                if r.status == "pending" and blockers:
                    why = ", ".join(f"{d} {results[d].status}" for d in blockers)
                    r.status, r.error = "skipped", f"needs the output of {why}"
                    self._emit(r)
                    changed = True

    def _compose(self, plan: Plan, steps: list[StepResult], started: float) -> StepResult:
        lines = []
        for r in steps:
            if r.status == "ok":
                lines.append(f"- {r.id} ({r.tool}): {as_text(r.output)[:700]}")
            else:
                lines.append(f"- {r.id} ({r.tool}): {r.status.upper()}, {r.error}")
        missing = [f"{r.id} ({r.tool})" for r in steps if r.status != "ok"]
        step = Step("answer", "compose", {"request": plan.request, "results": "\n".join(lines), "missing": missing})
        r = StepResult("answer", "compose", "running", started_ms=1000 * (time.perf_counter() - started))
        self._emit(r)
        r = self._run_step(step, None, r.started_ms or 0.0)
        self._emit(r)
        return r

    def _emit(self, r: StepResult) -> None:
        if self.on_event is not None:
            self.on_event(r)


def _call_with_timeout(tool: Tool, args: dict[str, Any], timeout: float) -> Any:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = tool(**args)
        except BaseException as exc:  # noqa: BLE001 - carried back to the calling thread
            box["error"] = exc

    worker = threading.Thread(target=target, daemon=True, name=f"slmkit-tool-{tool.name}")
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise StepTimeout(f"{tool.name} gave no answer within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")
