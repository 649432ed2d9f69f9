"""Local generators in supervised child processes: llama.cpp's own ``llama-server``.

One child per (model, threads, slots, context) in this process, started on first use. It listens on a
random free loopback port, accepts only its own random API key, and decodes up to ``slots`` requests
at once with continuous batching (new requests join the running batch between tokens), where the
in-process runtime serves one request at a time behind a lock.

Supervision: a thread per child spawns it, waits for ``/health``, then watches it. When the child dies
(a crash inside llama.cpp, an OOM kill, ``kill -9``) or stops answering ``/health``, the thread counts a
restart and starts a new child after a backoff that doubles on repeated failures. Requests in flight
on the dead child fail (the caller says why, see ``lost``); the next request waits for the new child.

No orphans: the parent stops its children at exit (atexit, which also runs after uvicorn's SIGTERM
handling), and each child is told by the kernel to die with its parent (``PR_SET_PDEATHSIG``), which
covers SIGKILL of the parent. The death signal is tied to the *thread* that forked the child, so the
supervising thread, which lives as long as the child is wanted, is the one that spawns it.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from slmkit.errors import SlmkitError

__all__ = ["Endpoint", "LlamaServer", "ServerSpec", "ServerUnavailable", "all_servers", "default_binary",
           "find_binary", "get_server", "stop_all"]

_PR_SET_PDEATHSIG = 1
_HEALTH_EVERY_S = 5.0
_HEALTH_TIMEOUT_S = 5.0
_HEALTH_MISSES = 3  # consecutive unanswered checks before a live but hung child is killed
_BACKOFF_S, _BACKOFF_MAX_S = 0.5, 30.0
_STABLE_S = 60.0  # a child that ran this long resets the backoff
# Resolved in the parent: the dynamic loader must not run between fork and exec (it takes locks
# another thread of this process may have held at fork time).
_libc = ctypes.CDLL(None, use_errno=True)
_prctl = _libc.prctl


class ServerUnavailable(SlmkitError):
    """The generator's server could not answer: it could not be started, died under the request (and is being
    restarted), timed out, or answered with an error of its own. The gateway answers 502 with the cause."""

    exit_code = 6


@dataclass(frozen=True)
class ServerSpec:
    model: str  # the catalog name, served as the model id
    model_path: Path
    binary: Path
    threads: int = 2
    slots: int = 4
    n_ctx: int = 2048  # per slot, the same window the in-process runtime gives one request
    start_timeout_s: float = 120.0
    nice: int = 0  # added to the child's niceness: the parent's specialists win the CPU when both want it
    poll: int = 50  # llama.cpp's --poll: how long idle compute threads spin before sleeping (0-100)


@dataclass(frozen=True)
class Endpoint:
    base_url: str  # ends in /v1
    api_key: str
    pid: int
    generation: int  # 1 for the first child, +1 per restart


def default_binary() -> Path:
    """Where ``make llama-server`` caches llama-server: built from the pinned llama-cpp-python sdist's sources."""
    try:
        version = metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return Path.home() / ".cache" / "slmkit" / "bin" / f"llama-server-{version}-x86-64-v3"


def find_binary(configured: str | None = None) -> Path:
    """The llama-server to run: the configured one, else the cached build; a clear error when absent."""
    path = Path(configured).expanduser() if configured else default_binary()
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ServerUnavailable(
            f"llama-server not found at {path}: run `make llama-server` (it builds it once from the pinned "
            "llama.cpp sources), set router.server_binary, or use router.runtime: inprocess")
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _prepare_child(parent: int, nice: int) -> None:  # runs in the child between fork and exec
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    if nice:
        os.nice(nice)


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


class LlamaServer:
    """One supervised llama-server child; ``endpoint()`` starts it on first use."""

    def __init__(self, spec: ServerSpec, log_path: Path) -> None:
        self.spec = spec
        self.log_path = log_path
        self.restarts = 0  # children that died and were replaced: /metrics reads it
        self.last_exit: str | None = None
        self._cond = threading.Condition()
        self._endpoint: Endpoint | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._error: str | None = None  # the last start failure; requests fail fast with it
        self._generation = 0
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- what callers use ------------------------------------------------------------------------
    def endpoint(self) -> Endpoint:
        """The running child's address and key, starting it (or waiting for its restart) if needed."""
        with self._cond:
            if self._stopping.is_set():
                raise ServerUnavailable(f"the llama-server for {self.spec.model} is stopped")
            if self._thread is None:
                self._thread = threading.Thread(target=self._supervise, name=f"slmkit-llama-server-{self.spec.model}",
                                                daemon=True)
                self._thread.start()
                atexit.register(self.stop)
            deadline = time.monotonic() + self.spec.start_timeout_s
            while self._endpoint is None:
                if self._error is not None:
                    raise ServerUnavailable(self._error)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ServerUnavailable(f"the llama-server for {self.spec.model} was not ready within "
                                            f"{self.spec.start_timeout_s:g} s")
                self._cond.wait(min(left, 1.0))
            return self._endpoint

    def lost(self, endpoint: Endpoint, wait_s: float = 2.0) -> str | None:
        """After a request to ``endpoint`` failed at the connection: why, if its child died (the supervisor
        is restarting it), or None if that child is alive (the failure was something else)."""
        deadline = time.monotonic() + wait_s
        with self._cond:
            while True:
                if self._generation != endpoint.generation or self._endpoint is None:
                    return (f"the llama-server child for {self.spec.model} (pid {endpoint.pid}) died during the "
                            f"request ({self.last_exit or 'exit unknown'}); it is restarted (restart {self.restarts})")
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(min(left, 0.1))

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the child and its supervisor; the gateway's exit calls this."""
        self._stopping.set()
        with self._cond:
            self._endpoint = None
            self._cond.notify_all()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    # -- the supervising thread ------------------------------------------------------------------
    def _supervise(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                started = time.monotonic()
                self._start()
            except ServerUnavailable as exc:
                with self._cond:
                    self._error = str(exc)
                    self._cond.notify_all()
                failures += 1
                if self._stopping.wait(min(_BACKOFF_S * 2 ** failures, _BACKOFF_MAX_S)):
                    break
                continue
            code = self._watch()
            with self._cond:
                self._endpoint = None
                if self._stopping.is_set():
                    break
                self.restarts += 1
                self.last_exit = _describe_exit(code)
                self._cond.notify_all()
            failures = 0 if time.monotonic() - started > _STABLE_S else failures + 1
            if self._stopping.wait(min(_BACKOFF_S * 2 ** failures, _BACKOFF_MAX_S)):
                break
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def _command(self, port: int) -> list[str]:
        s = self.spec
        return [str(s.binary), "--model", str(s.model_path), "--alias", s.model,
                "--host", "127.0.0.1", "--port", str(port),
                "--threads", str(s.threads), "--threads-batch", str(s.threads),
                "--parallel", str(s.slots), "--ctx-size", str(s.n_ctx * s.slots),  # split evenly across slots
                "--poll", str(s.poll), "--cont-batching", "--jinja", "--reasoning-format", "none", "--no-webui",
                "--cache-ram", "0"]  # the slots keep their own prompt prefix; no extra RAM cache

    def _start(self) -> None:
        port, key = _free_port(), secrets.token_urlsafe(24)
        env = {**os.environ, "LLAMA_API_KEY": key}  # not on the command line, where `ps` shows it
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"--- slmkit: starting llama-server for {self.spec.model} on port {port}\n".encode())
            log.flush()
            parent, nice = os.getpid(), self.spec.nice
            proc = subprocess.Popen(self._command(port), stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                    preexec_fn=lambda: _prepare_child(parent, nice), close_fds=True)
        self._proc = proc
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + self.spec.start_timeout_s
        while not _healthy(base):
            if proc.poll() is not None or self._stopping.is_set() or time.monotonic() > deadline:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
                raise ServerUnavailable(f"the llama-server for {self.spec.model} did not start "
                                        f"({_describe_exit(proc.returncode)}); log: {self._log_tail()}")
            time.sleep(0.1)
        with self._cond:
            self._generation += 1
            self._endpoint = Endpoint(base + "/v1", key, proc.pid, self._generation)
            self._error = None
            self._cond.notify_all()

    def _watch(self) -> int | None:
        """Wait until the child dies, or is killed for not answering /health; its exit code."""
        proc = self._proc
        assert proc is not None and self._endpoint is not None
        base = self._endpoint.base_url.removesuffix("/v1")
        misses = 0
        while True:
            try:
                return proc.wait(_HEALTH_EVERY_S)
            except subprocess.TimeoutExpired:
                pass
            if self._stopping.is_set():
                return None
            misses = 0 if _healthy(base) else misses + 1
            if misses >= _HEALTH_MISSES:
                proc.kill()  # alive but deaf: replace it

    def _log_tail(self, chars: int = 400) -> str:
        try:
            text = self.log_path.read_bytes()[-chars:].decode("utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return " ".join(text.split())


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/health", timeout=_HEALTH_TIMEOUT_S) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


_servers: dict[ServerSpec, LlamaServer] = {}
_servers_lock = threading.Lock()


def get_server(spec: ServerSpec, log_dir: Path) -> LlamaServer:
    """The process-wide supervisor for ``spec`` (tiers with the same model and settings share one child)."""
    with _servers_lock:
        server = _servers.get(spec)
        if server is None or server._stopping.is_set():
            server = _servers[spec] = LlamaServer(spec, log_dir / f"llama-server-{spec.model}.log")
        return server


def all_servers() -> list[LlamaServer]:
    with _servers_lock:
        return list(_servers.values())


def stop_all() -> None:
    for server in all_servers():
        server.stop()
