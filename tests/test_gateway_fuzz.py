"""Schemathesis against the gateway's own OpenAPI schema: generated requests, none may get a 5xx.

Chat tiers point at the instant upstream so the fuzzer explores the gateway rather than waiting
on generation; the specialists are real. Slow (a few minutes): `make test-slow`."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from slmkit.config import Settings  # noqa: E402
from slmkit.bench.gateway import UPSTREAM  # noqa: E402
from slmkit.config.router import RouterSettings, TierConfig  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Built at collection (schemathesis needs the schema then): cheap, no model is loaded until a request
# needs one; the upstream process only starts when the test runs.
_PORT = _free_port()
_URL = f"http://127.0.0.1:{_PORT}/v1"
_TIERS = {"small": TierConfig(kind="remote", model="upstream", base_url=_URL),
          "large": TierConfig(kind="remote", model="upstream", base_url=_URL)}


def _app():
    from slmkit.gateway.app import create_app

    return create_app(Settings(data_dir=tempfile.mkdtemp(prefix="slmkit-fuzz-"), router=RouterSettings(tiers=_TIERS)),
                      warm=False)


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@pytest.fixture(scope="module", autouse=True)
def instant_upstream():
    upstream = subprocess.Popen([sys.executable, str(UPSTREAM), str(_PORT)])
    time.sleep(0.5)
    yield
    upstream.terminate()


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_server_error(case):
    case.call_and_validate(checks=[not_a_server_error])
