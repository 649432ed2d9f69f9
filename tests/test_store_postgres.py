"""Shared state on a real PostgreSQL server (tests/pg.py starts one from Debian's package: a temporary
directory, the unprivileged `postgres` user, 127.0.0.1 only): the store's contract on both backends,
versioned migrations, and two `slmkit serve` replicas sharing keys, one rate-limit window and one log."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from conftest import run_cli
from pg import fresh_database, postgres_server, wait_for

psycopg = pytest.importorskip("psycopg", reason="the postgres extra: pip install 'slmkit[postgres]'")

from slmkit.gateway.store import MIGRATIONS, GatewayStore  # noqa: E402


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gateway.sqlite'}"
    return fresh_database(request.getfixturevalue("pg_url"))


def _store(url: str, tmp_path: Path) -> GatewayStore:
    return GatewayStore(tmp_path / "unused.sqlite", url=url, pool_size=4)


def test_the_store_behaves_the_same_on_both_backends(store_url, tmp_path):
    one, two = _store(store_url, tmp_path), _store(store_url, tmp_path)  # two replicas' stores
    key, secret = one.create_key("ci", rpm=3, token_budget=1000)
    seen = two.lookup(secret)
    assert seen is not None and seen.id == key.id and seen.rpm == 3 and seen.token_budget == 1000
    assert two.lookup(secret + "x") is None
    one.add_tokens(key.id, 40)
    two.add_tokens(key.id, 2)
    one.flush(), two.flush()
    assert one.lookup(secret).tokens_used == 42
    one.log(id="req-1", ts=time.time(), endpoint="/v1/embeddings", status=200, decision={"tier": "embed"},
            content="hello\x1b[31m")
    one.log(id="req-1", ts=time.time(), endpoint="/v1/embeddings", status=200, content="again")  # same id: one row
    rows = one.requests(10)
    assert len(rows) == 1 and rows[0]["content"] == "again" and rows[0]["status"] == 200
    assert [one.admit(key.id, 3).admitted, two.admit(key.id, 3).admitted, one.admit(key.id, 3).admitted] == [True] * 3
    refused = two.admit(key.id, 3)
    assert not refused.admitted and 1 <= refused.retry_after <= 61
    two.revoke_key(key.id)
    assert one.lookup(secret).revoked is not None and one.active_keys() == 0 and one.keys_ever_created() == 1
    one.close(), two.close()


def test_migrations_are_versioned_and_run_once_when_replicas_start_together(store_url, tmp_path):
    stores: list[GatewayStore] = []
    threads = [threading.Thread(target=lambda: stores.append(_store(store_url, tmp_path))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [s.schema_version for s in stores] == [MIGRATIONS[-1].version] * 4
    with stores[0]._connect() as db:
        applied = db.all("SELECT version FROM schema_migrations WHERE component='gateway' ORDER BY version")
    assert applied == [(m.version,) for m in MIGRATIONS]
    for s in stores:
        s.close()


def test_a_file_from_before_versioning_is_adopted_with_its_keys(tmp_path):
    path = tmp_path / "gateway.sqlite"
    old = sqlite3.connect(path)
    old.executescript("""CREATE TABLE keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,
        created REAL NOT NULL, revoked REAL, rpm INTEGER, token_budget INTEGER, tokens_used INTEGER NOT NULL DEFAULT 0);
        INSERT INTO keys VALUES ('key_old', 'old', 'abc', 1.0, NULL, NULL, NULL, 5);""")
    old.commit()
    old.close()
    store = GatewayStore(path)
    assert store.schema_version == MIGRATIONS[-1].version
    assert [k.id for k in store.list_keys()] == ["key_old"] and store.admit("key_old", 1).admitted
    store.close()


# -- two replicas -------------------------------------------------------------------------------------

def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def replicas(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Two `slmkit serve` processes, each with its own data directory, sharing one PostgreSQL database."""
    url = fresh_database(pg_url)
    env = {**os.environ, "SLMKIT_STORE__URL": url, "SLMKIT_GATEWAY__LOG_CONTENT": "none"}
    procs, bases = [], []
    for i in range(2):
        port = _free_port()
        data = tmp_path_factory.mktemp(f"replica{i}")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "slmkit.cli", "serve", "--port", str(port), "--no-warm"],
            env={**env, "SLMKIT_DATA_DIR": str(data)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        bases.append(f"http://127.0.0.1:{port}")

    def up(base: str) -> bool:
        try:
            return httpx.get(base + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        assert wait_for(lambda: all(up(b) for b in bases), timeout=120), "the replicas did not start"
        yield {"url": url, "bases": bases, "env": env}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(20)


def _cli(env: dict, *args: str) -> str:
    done = run_cli(*args, env={"SLMKIT_STORE__URL": env["SLMKIT_STORE__URL"]})
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode().strip()


def test_a_key_created_for_one_replica_authorises_on_the_other(replicas):
    a, b = replicas["bases"]
    secret = _cli(replicas["env"], "keys", "create", "ci")  # a third process: the CLI, on the same store
    auth = {"Authorization": f"Bearer {secret}"}
    assert wait_for(lambda: httpx.get(a + "/v1/models").status_code == 401, timeout=10)  # closed within 2 s
    assert wait_for(lambda: httpx.get(b + "/v1/models").status_code == 401, timeout=10)
    assert httpx.get(a + "/v1/models", headers=auth).status_code == 200
    assert httpx.get(b + "/v1/models", headers=auth).status_code == 200
    store = GatewayStore(Path("unused.sqlite"), url=replicas["url"])
    key_id = next(k.id for k in store.list_keys() if k.name == "ci")
    store.close()
    _cli(replicas["env"], "keys", "revoke", key_id)
    assert httpx.get(a + "/v1/models", headers=auth).status_code == 401  # revocation is seen at once
    assert httpx.get(b + "/v1/models", headers=auth).status_code == 401


def test_a_limit_of_n_per_minute_lets_exactly_n_through_across_two_replicas(replicas, tmp_path):
    store = GatewayStore(tmp_path / "unused.sqlite", url=replicas["url"])
    _, secret = store.create_key("limited", rpm=12)
    auth = {"Authorization": f"Bearer {secret}"}
    bases = replicas["bases"]
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda i: client.get(bases[i % 2] + "/v1/models", headers=auth).status_code,
                              range(48)))
    assert Counter(codes) == {200: 12, 429: 36}
    store.close()


def _mixed_load(replicas: dict, secret: str, seconds: float) -> Counter:
    """Closed-loop mixed traffic on both replicas; the statuses the clients saw, for logged requests only."""
    bases, auth = replicas["bases"], {"Authorization": f"Bearer {secret}"}
    calls = [  # (method, path, body, headers): successes the log keeps, and refusals
        ("POST", "/v1/embeddings", {"input": ["a short sentence", "another one"]}, auth),
        ("POST", "/v1/skills/langid", {"input": "Bonjour tout le monde"}, auth),
        ("POST", "/v1/embeddings", {"input": []}, auth),  # 400: empty input
        ("GET", "/v1/models", None, {"Authorization": "Bearer sk-slm-wrong"}),  # 401
        ("GET", "/no/such/path", None, auth),  # 404
    ]
    seen: Counter = Counter()
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(n: int) -> None:
        with httpx.Client(timeout=60) as client:
            i = n
            while time.monotonic() < stop:
                method, path, body, headers = calls[i % len(calls)]
                r = client.request(method, bases[i % 2] + path, json=body, headers=headers)
                with lock:
                    seen[r.status_code] += 1
                i += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return seen


@pytest.mark.parametrize("seconds", [
    pytest.param(5, id="5s"),
    pytest.param(120, id="2min", marks=pytest.mark.slow),
])
def test_the_request_log_holds_every_request_exactly_once(replicas, tmp_path, seconds):
    store = GatewayStore(tmp_path / "unused.sqlite", url=replicas["url"])
    _, secret = store.create_key("load", rpm=1_000_000)
    time.sleep(2.1)  # the replicas' "keys exist" cache
    with store._connect() as db:
        before = db.one("SELECT MAX(ts) FROM requests")[0] or 0.0
    seen = _mixed_load(replicas, secret, seconds)
    assert set(seen) == {200, 400, 401, 404}, seen
    total = sum(seen.values())

    def logged() -> Counter:
        with store._connect() as db:
            return Counter(dict(db.all("SELECT status, COUNT(*) FROM requests WHERE ts > ? GROUP BY status",
                                       (before,))))

    wait_for(lambda: sum(logged().values()) >= total, timeout=30)
    time.sleep(0.5)  # nothing more may arrive: every request once, not at least once
    assert logged() == seen
    with store._connect() as db:
        ids, distinct = db.one("SELECT COUNT(id), COUNT(DISTINCT id) FROM requests WHERE ts > ?", (before,))
    assert ids == distinct == total
    print(f"{seconds} s on two replicas: {total} requests by status {dict(seen)}, each logged once")
    store.close()
