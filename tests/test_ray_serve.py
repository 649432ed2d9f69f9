"""slmkit on Ray Serve, for real: a local Ray started by the test on 127.0.0.1 only, the whole gateway
deployed (ingress, encoder crew, token crew, a deployment per local tier, RAG, planner), the official
openai client against it, a replica killed by PID and replaced, and nothing of Ray left afterwards.

Loopback only is checked, not assumed: every listening socket of every Ray process is on 127.0.0.1.
The settings that make it so are in slmkit/deploy/loopback.py (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 for
the node address, dashboard off or on 127.0.0.1, Serve's proxy on ray.host, the replicas' gRPC port
rebound by a worker setup hook). Heavy on 2 cores (Ray ~0.8 GB and 10-30 s to start): one module-scoped
cluster, marked ``ray`` and run by `make test` (CI): about 35 s on a quiet machine.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import openai
import pytest

from slmkit.deploy.loopback import LOOPBACK_ENV

os.environ.update(LOOPBACK_ENV)  # before Ray is imported: it reads them at import

from slmkit.config import Settings  # noqa: E402
from slmkit.config.deploy import RaySettings  # noqa: E402
from slmkit.config.guard import GuardPolicy  # noqa: E402
from slmkit.config.router import RouterSettings, TierConfig  # noqa: E402

def heavy(test):  # noqa: ANN001, ANN201 - one local Ray for these (module fixture), run in CI by `make test`
    # (about 35 s on a quiet 2-core machine); `-m "not ray"` leaves them out.
    return pytest.mark.ray(test)


ROUTE_WORKFLOW = """
name: route
description: Redact a message, classify it to a department and file it there.
inputs:
  text: {type: string, description: the message}
steps:
  - id: clean
    tool: redact
    args: {text: "${input.text}"}
  - id: department
    tool: classify
    depends_on: [clean]
    args: {text: "${clean.text}", labels: [billing, technical support, shipping]}
  - id: file
    tool: enqueue
    depends_on: [department]
    args: {queue: "${department.top}", text: "${clean.text}"}
output: "${file}"
"""
RAY_PROCESS = re.compile(r'"(raylet|gcs_server|ray::[^"]*|python[^"]*)",pid=(\d+)')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_pids() -> set[int]:
    """PIDs of Ray's processes (raylet, GCS, workers, dashboard agents...), from /proc."""
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "raylet" in cmd or "gcs_server" in cmd or cmd.startswith("ray::") or "ray/_private/workers" in cmd \
                or "ray/dashboard" in cmd or "ray/autoscaler" in cmd or "ray/_private/log_monitor" in cmd:
            pids.add(int(entry))
    return pids


def test_nothing_imports_ray_unless_asked():
    code = ("import sys, slmkit, slmkit.cli.app, slmkit.gateway.app, slmkit.deploy, slmkit.bench.scale, "
            "slmkit.config; slmkit.gateway.app.create_app(slmkit.config.Settings(), warm=False); "
            "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_replica_without_its_model_refuses_to_start_and_says_why(tmp_path):
    # The replica's constructor, in its own process (adopting settings rewrites the environment):
    # Serve reports this error as the deployment's, and `slmkit serve --ray` stops with it.
    tiers = {"small": TierConfig(model="no-such-model")}
    dump = Settings(data_dir=tmp_path, router=RouterSettings(tiers=tiers, strategy="small",
                                                             large_tier="small")).model_dump(mode="json")
    code = f"from slmkit.deploy.replicas import GeneratorTier; GeneratorTier({dump!r}, 'small')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "no-such-model" in done.stderr.splitlines()[-1], done.stderr[-2000:]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    pytest.importorskip("ray", reason="the ray extra: pip install 'slmkit[ray]'")
    from slmkit.deploy import deploy, shutdown

    assert not _ray_pids(), "a Ray is already running on this machine; the test starts its own"
    tiers = {"small": TierConfig(model="smollm2-135m"), "large": TierConfig(model="smollm2-135m")}
    data = tmp_path_factory.mktemp("ray-data")
    # triage's sentiment step would train the sentiment head first in a fresh data dir (minutes): this
    # workflow crosses the same deployments (token crew, encoder crew, planner) without it.
    (data / "workflows").mkdir()
    (data / "workflows" / "route.yaml").write_text(ROUTE_WORKFLOW)
    settings = Settings(data_dir=data,
                        router=RouterSettings(tiers=tiers, strategy="small"),
                        guard=GuardPolicy(moderation="off", injection="off"),
                        ray=RaySettings(port=_free_port(), num_cpus=2))
    started = time.perf_counter()
    try:
        result = deploy(settings)
    except BaseException:
        shutdown()
        raise
    result.seconds = time.perf_counter() - started  # type: ignore[attr-defined]
    yield result
    shutdown()


@pytest.fixture
def client(deployed):
    return openai.OpenAI(base_url=deployed.url + "/v1", api_key="unused-on-loopback", max_retries=0, timeout=120)


@heavy
def test_every_deployment_is_healthy(deployed):
    assert set(deployed.deployments) == {"ingress", "encoders", "tokens", "tier-small", "tier-large", "rag", "planner"}
    assert all(d["status"] == "HEALTHY" for d in deployed.deployments.values()), deployed.deployments
    print(f"deployed in {deployed.seconds:.1f} s")  # type: ignore[attr-defined]


@heavy
def test_openai_client_round_trip(client):
    chat = client.chat.completions.create(model="small", max_tokens=8,
                                          messages=[{"role": "user", "content": "Say hello."}])
    assert chat.choices[0].message.content and chat.usage.completion_tokens > 0
    pieces = list(client.chat.completions.create(model="small", max_tokens=8, stream=True,
                                                 messages=[{"role": "user", "content": "Count to three."}]))
    assert "".join(p.choices[0].delta.content or "" for p in pieces if p.choices).strip()
    vectors = client.embeddings.create(model="text-embedding-3-small", input=["a cat", "a kitten", "a tax form"])
    a, b, c = (v.embedding for v in vectors.data)
    assert len(a) == 384 and sum(x * y for x, y in zip(a, b)) > sum(x * y for x, y in zip(a, c))
    moderated = client.moderations.create(input=["have a nice day", "I will kill you, you worthless idiot"])
    assert [r.flagged for r in moderated.results] == [False, True]


@heavy
def test_a_skill_and_a_workflow(deployed):
    r = httpx.post(deployed.url + "/v1/skills/langid", json={"input": ["Bonjour tout le monde", "Hello world"]},
                   timeout=60)
    assert r.status_code == 200 and [x["lang"] for x in r.json()["results"]] == ["fr", "en"]
    r = httpx.post(deployed.url + "/v1/skills/pii", json={"input": "Write to jane.doe@example.com"}, timeout=60)
    assert r.status_code == 200 and r.json()["results"][0][0]["type"] == "EMAIL"  # the token crew's deployment
    r = httpx.post(deployed.url + "/v1/workflows/route", timeout=180,
                   json={"inputs": {"text": "Jane Doe here: I was charged twice for my subscription, refund me"}})
    assert r.status_code == 200, r.text
    steps = {s["id"]: s for s in r.json()["steps"]}
    assert all(s["status"] == "ok" for s in steps.values()), steps
    assert steps["department"]["output"]["top"] == "billing" and "Jane Doe" not in steps["clean"]["output"]["text"]
    r = httpx.post(deployed.url + "/v1/workflows/nope", json={"inputs": {}}, timeout=60)
    assert r.status_code == 404 and "route" in r.json()["error"]["message"]  # `known` crossed the handle
    assert httpx.post(deployed.url + "/v1/embeddings", json={"input": []}, timeout=60).status_code == 400


@heavy
def test_ray_listens_on_loopback_only(deployed):
    listening = subprocess.run(["ss", "-ltnpuH"], capture_output=True, text=True, check=True).stdout
    pids = _ray_pids()
    ours = [line for line in listening.splitlines()
            if any(int(pid) in pids for _, pid in RAY_PROCESS.findall(line))]
    assert ours, "no Ray socket found: the check would pass vacuously"
    exposed = [line for line in ours if not re.search(r"\s(127\.0\.0\.1|\[::ffff:127\.0\.0\.1\]|\[::1\]):\d+\s", line)]
    assert not exposed, "\n".join(exposed)


def _replica_pids(deployment: str) -> set[int]:
    """Serve names each replica's process ``ray::ServeReplica:<app>:<deployment>``."""
    title = f"ray::ServeReplica:slmkit:{deployment}".encode()
    pids = set()
    for pid in _ray_pids():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read().split(b"\0")[0].strip() == title:
                    pids.add(pid)
        except OSError:
            continue
    return pids


@heavy
def test_a_replica_killed_by_pid_is_replaced(deployed, client):
    from slmkit.deploy import status

    before = _replica_pids("encoders")
    assert len(before) == 1, before
    os.kill(next(iter(before)), signal.SIGKILL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        now = _replica_pids("encoders")
        if now and not now & before and status()["encoders"]["status"] == "HEALTHY":
            break
        time.sleep(1)
    assert _replica_pids("encoders") and not _replica_pids("encoders") & before, "the killed replica was not replaced"
    for _ in range(3):  # the next requests succeed
        assert len(client.embeddings.create(model="text-embedding-3-small", input="back again").data[0].embedding) \
            == 384


@heavy
def test_shutdown_leaves_no_ray_process(deployed):
    from slmkit.deploy import shutdown

    shutdown()
    deadline = time.monotonic() + 60
    while _ray_pids() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _ray_pids(), f"left behind: {sorted(_ray_pids())}"
