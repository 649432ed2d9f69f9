"""OpenAI-style errors: what an endpoint raises, the body every error response carries, the handlers
that turn every failure into one, and the checks a body passes before any endpoint sees it (size,
nesting, lone surrogates)."""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from slmkit.errors import InvalidInputError, NotTrainedError, SlmkitError
from slmkit.gateway import schemas as s
from slmkit.models.llama_server import ServerUnavailable
from slmkit.router.tiers import TierError
from slmkit.skills.extract import ExtractionError

if TYPE_CHECKING:
    from slmkit.gateway.metrics import Metrics
    from slmkit.gateway.store import GatewayStore

log = logging.getLogger(__name__)

# The error responses every endpoint may give, for the OpenAPI schema.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": s.ErrorResponse, "description": "The request cannot be used as sent."},
    401: {"model": s.ErrorResponse, "description": "Missing or unknown API key."},
    413: {"model": s.ErrorResponse, "description": "Body larger than gateway.max_body_bytes."},
    429: {"model": s.ErrorResponse, "description": "Rate limit or token budget exhausted."},
    502: {"model": s.ErrorResponse, "description": "Every tier that could answer failed."}}


class ApiError(Exception):
    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type_, code, param
        self.headers = headers or {}


def error_body(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def route_label(request: Request) -> str:
    """The endpoint as metrics and the log name it: the route's template, never the raw path, so a
    caller cannot mint label values (or smuggle personal data into them) by varying the URL."""
    route = request.scope.get("route")
    return getattr(route, "path", None) or "unmatched"


def install_errors(app: FastAPI, metrics: Metrics, store: GatewayStore) -> None:
    def respond(request: Request, status: int, message: str, type_: str, code: str | None = None,
                param: str | None = None, headers: dict | None = None) -> JSONResponse:
        endpoint = route_label(request)
        metrics.inc("slmkit_errors_total", type=type_, status=str(status))
        metrics.inc("slmkit_requests_total", endpoint=endpoint, tier="none", status=str(status))
        store.log(id="req-" + secrets.token_hex(8), ts=time.time(), endpoint=endpoint,
                          status=status, error=message[:500], error_code=code or type_)
        return JSONResponse(error_body(message, type_, code, param), status_code=status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Unknown paths, wrong methods, bodies FastAPI cannot decode (invalid UTF-8, nesting too deep):
        # the same OpenAI-style error as everything else, not FastAPI's {"detail": ...}.
        messages = {404: "no endpoint at this path (GET /openapi.json lists them)",
                    405: f"{request.method} is not allowed here"}
        message = messages.get(exc.status_code) or str(exc.detail)
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):
            message = "the body cannot be decoded: it must be UTF-8 JSON nested at most a few dozen levels deep"
        type_ = "invalid_request_error" if exc.status_code < 500 else "server_error"
        return respond(request, exc.status_code, message, type_, {404: "not_found"}.get(exc.status_code),
                       headers=getattr(exc, "headers", None))

    @app.exception_handler(ApiError)
    def _api(request: Request, exc: ApiError) -> JSONResponse:
        return respond(request, exc.status, exc.message, exc.type, exc.code, exc.param, exc.headers)

    @app.exception_handler(RequestValidationError)
    def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        if first.get("type") == "json_invalid":
            return respond(request, 400, f"the body is not valid JSON: {first.get('ctx', {}).get('error', '')}",
                           "invalid_request_error", "invalid_json")
        message = f"{where or 'body'}: {first.get('msg', 'invalid')}"
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem(s))"
        return respond(request, 400, message, "invalid_request_error", "invalid_value", where or None)

    @app.exception_handler(InvalidInputError)
    def _input(request: Request, exc: InvalidInputError) -> JSONResponse:
        return respond(request, 400, str(exc), "invalid_request_error", "invalid_value")

    @app.exception_handler(NotTrainedError)
    def _untrained(request: Request, exc: NotTrainedError) -> JSONResponse:
        return respond(request, 400, str(exc), "invalid_request_error", "not_trained")

    @app.exception_handler(SlmkitError)
    def _ours(request: Request, exc: SlmkitError) -> JSONResponse:
        if isinstance(exc, TierError):
            return respond(request, 502, str(exc), "upstream_error", "tier_failed")
        if isinstance(exc, ServerUnavailable):  # a skill's generator child (see models/served.py) failed
            return respond(request, 502, str(exc), "upstream_error", "generator_failed")
        if isinstance(exc, ExtractionError):  # the request was well formed, but this schema and text beat the model
            return respond(request, 422, f"{exc}; try a simpler schema or a shorter text", "invalid_request_error",
                           "extraction_failed")
        return respond(request, 500, str(exc), "server_error")

    @app.exception_handler(Exception)
    def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error on %s", route_label(request), exc_info=exc)
        return respond(request, 500, f"internal error ({type(exc).__name__}); the server's log has the details",
                       "server_error")


def install_body_limit(app: FastAPI, limit: int) -> None:
    """Refuse bodies over ``limit`` bytes with 413, whether or not they declare a length."""

    class BodyLimit:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return await self.inner(scope, receive, send)
            declared = dict(scope.get("headers") or []).get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                return await _too_large(send, limit)
            # Read the whole body (at most ``limit`` bytes) before the app sees it: a chunked body
            # over the limit is refused here, instead of failing half-way through JSON parsing.
            messages, seen, more = [], 0, True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    messages.append(message)
                    break
                seen += len(message.get("body", b""))
                if seen > limit:
                    return await _too_large(send, limit)
                messages.append(message)
                more = message.get("more_body", False)
            problem = _unusable_json(b"".join(m.get("body", b"") for m in messages))
            if problem is not None:
                return await _refuse(send, 400, problem, "invalid_value")
            replay = iter(messages)

            async def replayed() -> dict:
                return next(replay, None) or await receive()

            return await self.inner(scope, replayed, send)

    app.add_middleware(BodyLimit)


MAX_JSON_DEPTH = 64


def _unusable_json(body: bytes) -> str | None:
    """Why a JSON body cannot be used although it parses: a lone UTF-16 surrogate (``"\\ud800"``: valid
    JSON, but no text encoding can carry it, so every later step would fail), or nesting deeper than any
    request needs. Both checks run only when a cheap byte scan says they might apply."""
    suspicious = b"\\ud" in body.lower() or body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH
    if not suspicious:
        return None
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None  # FastAPI reports it as invalid JSON or an undecodable body
    stack: list[tuple[Any, int]] = [(parsed, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"the body is nested more than {MAX_JSON_DEPTH} levels deep"
        if isinstance(value, dict):
            stack.extend((k, depth) for k in value)
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return "the body holds a lone UTF-16 surrogate (e.g. \\ud800): it is not valid Unicode text"
    return None


async def _too_large(send: Any, limit: int) -> None:
    await _refuse(send, 413, f"request body larger than {limit} bytes", "request_too_large")


async def _refuse(send: Any, status: int, message: str, code: str) -> None:
    """An OpenAI-style error sent before the app sees the request."""
    body = json.dumps(error_body(message, "invalid_request_error", code)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
