"""Tests run on the real packaged models. State goes to a temporary data dir; the model and
data-set cache is the one `slmkit setup` filled, so nothing is rebuilt per test run."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

_DEFAULT_CACHE = Path(os.environ.get("SLMKIT_DATA_DIR", Path.home() / ".slmkit")).expanduser() / "cache"


@pytest.fixture(scope="session", autouse=True)
def _isolated_state(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("slmkit-data")
    os.environ["SLMKIT_DATA_DIR"] = str(data)
    os.environ.setdefault("SLMKIT_CACHE_DIR", str(_DEFAULT_CACHE))
    from slmkit.config import get_settings

    get_settings.cache_clear()
    yield data
    get_settings.cache_clear()


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch):
    """Change SLMKIT_* variables for one test; settings are re-read before and after."""
    from slmkit.config import get_settings

    def apply(**values: str) -> None:
        for key, value in values.items():
            monkeypatch.setenv(f"SLMKIT_{key.upper()}", value)
        get_settings.cache_clear()

    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()


def run_cli(*args: str, stdin: bytes | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "slmkit.cli", *args], input=stdin, capture_output=True,
        env={**os.environ, **(env or {})}, timeout=300,
    )


@contextlib.contextmanager
def serve_app(app: object) -> Iterator[str]:
    """A real uvicorn server for ``app`` on a free loopback port; yields its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 120
    while not server.started and time.time() < deadline:
        time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
