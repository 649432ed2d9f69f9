"""The dashboard's HTTP routes: server-rendered pages (Jinja2), htmx fragments, one JSON data endpoint.

Every route but the sign-in form and the vendored static files needs an admin key once keys exist
(see access.py); every POST needs the CSRF token. Pages read the log one page or one bucket
aggregate at a time, never the whole log.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from slmkit.errors import InvalidInputError, SlmkitError
from slmkit.gateway.ui import views
from slmkit.gateway.ui.access import (
    CSRF_COOKIE,
    CSRF_FIELD,
    SESSION_COOKIE,
    Denied,
    Forged,
    Viewer,
    check_admin,
    check_csrf,
    csrf_token,
    presented_secret,
)
from slmkit.gateway.ui.overview import GROUPS, WINDOWS, OverviewCache
from slmkit.router.resilience import all_breakers

if TYPE_CHECKING:
    import jinja2

    from slmkit.gateway.context import Gateway

HERE = Path(__file__).parent
STATIC = HERE / "static"
PAGE_ROWS = 50
SEARCH_ROWS = 5_000  # text search reads at most this many rows per page (a LIKE scan); a link reads on from there
_STATUS = re.compile(r"^[1-5](xx|\d\d)$")
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")
NAV = (("overview", "/ui", "Overview"), ("requests", "/ui/requests", "Requests"), ("models", "/ui/models", "Models"),
       ("routes", "/ui/routes", "Routes and tasks"), ("reports", "/ui/reports", "Evaluations and benchmarks"),
       ("keys", "/ui/keys", "Keys"))


class BadRequest(Exception):
    """A malformed filter or form field: a 400 with the message."""


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "") and not request.headers.get("hx-request")


class _UiRoute(APIRoute):
    """Turns the dashboard's refusals into responses here, so they never reach the API's error log."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            started = time.perf_counter()
            try:
                response = await handler(request)
                # How long the server took, for the browser's devtools and the page-speed test.
                response.headers["Server-Timing"] = f"app;dur={1000 * (time.perf_counter() - started):.1f}"
                return response
            except Denied as exc:
                if _wants_html(request):
                    html = templates().get_template("login.html").render(
                        message=exc.message, csrf=csrf_token(request), next=request.url.path)
                    return _secure(HTMLResponse(html, status_code=401), request)
                return JSONResponse({"error": {"message": exc.message, "type": "invalid_request_error",
                                               "code": "admin_key_required"}}, status_code=401)
            except Forged as exc:
                return JSONResponse({"error": {"message": str(exc), "type": "invalid_request_error",
                                               "code": "csrf_failed"}}, status_code=403)
            except (BadRequest, InvalidInputError) as exc:
                return JSONResponse({"error": {"message": str(exc), "type": "invalid_request_error",
                                               "code": "bad_request"}}, status_code=400)

        return guarded


@lru_cache(maxsize=1)
def templates() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["utc"] = _utc
    env.filters["mb"] = lambda b: "-" if not b else f"{b / 2**20:,.1f} MB"
    env.filters["usd"] = lambda v: "-" if v is None else f"${v:,.4f}"
    env.filters["ratio"] = lambda v: "-" if v is None else f"{v:.3f}"
    env.globals["nav"] = NAV
    return env


def _secure(response: Response, request: Request, token: str | None = None) -> Response:
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    token = token or csrf_token(request)
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path="/ui")
    return response


def _utc(ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _parse_time(text: str | None, name: str) -> float | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name} must be a date and time like 2026-12-01T09:30 (UTC), not {text[:40]!r}") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}


def dashboard(gateway: Gateway) -> APIRouter:
    """The /ui routes for one gateway (mounted by create_app)."""
    from slmkit.skills.pii import PII_TYPES

    env = templates()

    store = gateway.store
    store.dashboard_schema()
    routing = gateway.settings.router

    def group_of(tier: str | None) -> str:
        """The tier mix's groups: a remote tier, the small or large local tier, or a specialist."""
        if tier in routing.tiers:
            if routing.tiers[tier].kind == "remote":
                return "remote"
            return {routing.small_tier: "small", routing.large_tier: "large"}.get(tier, "other")
        if tier and (tier.startswith(("skill:", "student")) or tier in ("embed", "moderate")):
            return "specialist"
        return "other"

    cache = OverviewCache(store, group_of, tuple(PII_TYPES), [r["name"] for r in views.semantic_routes(gateway)])
    tasks = views.Tasks(gateway)
    reports_dir = gateway.settings.data_dir / "reports"
    filter_options: dict[str, tuple[float, list[str]]] = {}

    def warm() -> None:
        try:
            cache.warm()
            views.refresh_statuses()
            views.mapped_rss()
        except Exception:  # noqa: BLE001 - an early look only: a page computes what it needs itself
            return

    threading.Thread(target=warm, name="slmkit-ui-warm", daemon=True).start()

    def viewer(request: Request) -> Viewer:
        return Viewer(check_admin(gateway, presented_secret(request)), csrf_token(request))

    Who = Depends(viewer)

    def page(request: Request, who: Viewer, template: str, active: str, status: int = 200, **context: Any) -> Response:
        partial = bool(request.headers.get("hx-request")) and context.pop("partial", None)
        context.pop("partial", None)
        auth = context.pop("keys_exist", False) or gateway.keys_required()  # the latter lags a new key by 2 s
        html = env.get_template(partial or template).render(active=active, viewer=who, csrf=who.csrf, auth=auth,
                                                            **context)
        return _secure(HTMLResponse(html, status_code=status), request, who.csrf)

    router = APIRouter(prefix="/ui", include_in_schema=False, route_class=_UiRoute)

    # -- overview ------------------------------------------------------------------------------------
    def window_of(window: str) -> str:
        if window not in WINDOWS:
            raise BadRequest(f"window must be one of {', '.join(WINDOWS)}, not {window[:20]!r}")
        return window

    def overview_data(window: str) -> dict:
        data = cache.overview(window_of(window))  # type: ignore[arg-type]
        data["breakers"] = [{"backend": k, "state": getattr(b, "state", "closed")} for k, b in
                            sorted(all_breakers().items())]
        data["log_rows"] = store.log_rows()
        data["groups"] = list(GROUPS)
        return data

    @router.get("")
    def overview(request: Request, who: Viewer = Who, window: str = "hour") -> Response:
        data = overview_data(window)
        return page(request, who, "overview.html", "overview", data=data, windows=list(WINDOWS))

    @router.get("/data/overview")
    def overview_json(who: Viewer = Who, window: str = "hour") -> dict:
        return overview_data(window)

    # -- requests ------------------------------------------------------------------------------------
    def options(column: str) -> list[str]:
        at, values = filter_options.get(column, (0.0, []))
        if time.monotonic() - at > 30:  # a DISTINCT over the index; new values show within 30 s
            values = store.log_distinct(column)
            filter_options[column] = (time.monotonic(), values)
        return values

    @router.get("/requests")
    def requests_page(request: Request, who: Viewer = Who, endpoint: str = "", tier: str = "", status: str = "",
                      key: str = "", since: str = "", until: str = "", q: str = "", before: str = "") -> Response:
        if status and not _STATUS.match(status):
            raise BadRequest(f"status must be a code like 404 or a class like 4xx, not {status[:20]!r}")
        if len(q) > 200:
            raise BadRequest("the search text is limited to 200 characters")
        cursor = None
        if before:
            ts_text, _, rid = before.partition("~")
            try:
                cursor = (float(ts_text), rid)
            except ValueError:
                raise BadRequest("malformed page cursor") from None
        lo, hi = _parse_time(since, "since"), _parse_time(until, "until")
        given = {"endpoint": endpoint, "tier": tier, "status": status, "key": key, "since": since, "until": until,
                 "q": q}
        filters = {k: v for k, v in given.items() if v}
        note = further = None
        if q:  # a LIKE scan: bounded per page, with a link that reads on from where it stopped
            start = min(x for x in (cursor[0] if cursor else None, hi, float("inf")) if x is not None)
            floor = store.log_search_floor(start, SEARCH_ROWS)
            if floor is not None and (lo is None or floor > lo):
                lo = floor
                note = f"searched the {SEARCH_ROWS:,} requests before this page (back to {_utc(floor)} UTC)"
                further = "/ui/requests?" + urlencode({**filters, "before": f"{floor!r}~"})
        rows = store.log_page(limit=PAGE_ROWS + 1, before=cursor, endpoint=endpoint or None, tier=tier or None,
                              status=status or None, key_id=key or None, since=lo, until=hi, text=q or None)
        more = len(rows) > PAGE_ROWS
        rows = rows[:PAGE_ROWS]
        older = ("/ui/requests?" + urlencode({**filters, "before": f"{rows[-1]['ts']!r}~{rows[-1]['id']}"})
                 if more and rows else None)
        return page(request, who, "requests.html", "requests", partial="_rows.html", rows=rows, filters=given,
                    older=older, first=not cursor, note=note, further=further, endpoints=options("endpoint"),
                    tiers=options("tier"), keys=options("key_id"), newest="/ui/requests?" + urlencode(filters))

    @router.get("/requests/{request_id}")
    def record(request: Request, request_id: str, who: Viewer = Who) -> Response:
        row = store.log_row(request_id[:64])
        if row is None:
            return page(request, who, "missing.html", "requests", status=404, partial="missing.html",
                        what=f"request {request_id[:64]}")
        decision = None
        if row.get("decision"):
            decision = json.loads(row["decision"])
            if isinstance(decision.get("guard"), dict):
                decision["guard"].pop("text", None)  # what was sent: the record keeps what changed, not the text
            if gateway.settings.gateway.log_content != "full":
                # Free text in a decision can quote an upstream's error body, which can quote the request:
                # masked like the log's content before it is shown.
                for name in ("reason", "fallback", "distill"):
                    if isinstance(decision.get(name), str) and decision[name]:
                        decision[name] = gateway.mask_pii(decision[name])
        return page(request, who, "record.html", "requests", partial="_record.html", row=row, decision=decision)

    # -- models, routes and tasks, reports -----------------------------------------------------------------
    @router.get("/models")
    def models_page(request: Request, who: Viewer = Who) -> Response:
        return page(request, who, "models.html", "models", models=views.models(), heads=views.heads(),
                    rss=views.process_rss())

    @router.get("/routes")
    def routes_page(request: Request, who: Viewer = Who, done: str = "") -> Response:
        routes = views.semantic_routes(gateway)
        hits = cache.overview("week")["routes"]
        error = None
        try:
            task_rows = tasks.status()
        except (SlmkitError, OSError) as exc:
            task_rows, error = [], str(exc)
        return page(request, who, "routes.html", "routes", routes=routes, hits=hits, tasks=task_rows,
                    serving=tasks.serving(), error=error, done=done[:200])

    @router.post("/routes/tasks/{task_id}/{action}")
    async def task_action(request: Request, task_id: str, action: str, who: Viewer = Who) -> Response:
        form = await _form(request)
        check_csrf(request, form.get(CSRF_FIELD))
        if action not in ("promote", "demote"):
            raise BadRequest("action must be promote or demote")
        distiller = await run_in_threadpool(tasks.distiller)
        try:
            event = await run_in_threadpool(
                distiller.promote if action == "promote" else (lambda t: distiller.demote(t, "from the dashboard")),
                task_id[:128])
        except SlmkitError as exc:
            raise BadRequest(str(exc)) from None
        return RedirectResponse("/ui/routes?" + urlencode({"done": f"{task_id}: {event.action}"}), status_code=303)

    @router.get("/reports")
    def reports_page(request: Request, who: Viewer = Who, page_no: int = 0) -> Response:
        items, total = views.reports(reports_dir, max(0, page_no))
        return page(request, who, "reports.html", "reports", reports=items, total=total, page_no=max(0, page_no),
                    per_page=views.REPORTS_PER_PAGE, folder=str(reports_dir))

    @router.get("/reports/plot/{name}")
    def report_plot(name: str, who: Viewer = Who) -> Response:
        path = views.report_plot(reports_dir, name)
        if path is None:
            return JSONResponse({"error": {"message": "no such plot", "type": "invalid_request_error"}}, 404)
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-store"})

    # -- keys ------------------------------------------------------------------------------------------
    def keys_context() -> dict:
        return {"keys": store.list_keys(), "admins": store.admin_key_ids(), "usage": store.log_by_key()}

    @router.get("/keys")
    def keys_page(request: Request, who: Viewer = Who) -> Response:
        return page(request, who, "keys.html", "keys", created=None, **keys_context())

    @router.post("/keys")
    async def create_key(request: Request, who: Viewer = Who) -> Response:
        form = await _form(request)
        check_csrf(request, form.get(CSRF_FIELD))

        def number(name: str) -> int | None:
            text = form.get(name, "").strip()
            if not text:
                return None
            if not text.isdigit() or not 0 < int(text) < 10**12:
                raise BadRequest(f"{name} must be a positive whole number")
            return int(text)

        name = form.get("name", "").strip()
        if not name or len(name) > 100:
            raise BadRequest("a key needs a name of 1-100 characters")
        rpm, budget, admin = number("rpm"), number("token_budget"), form.get("admin") == "on"
        key, secret = await run_in_threadpool(store.create_key, name, rpm, budget)
        if admin:
            await run_in_threadpool(store.grant_admin, key.id)
        signs_in = admin and who.key is None  # the dashboard was open: its first admin key signs this browser in
        response = page(request, Viewer(key, who.csrf) if signs_in else who, "keys.html", "keys", keys_exist=True,
                        created={"key": key, "secret": secret, "admin": admin}, **await run_in_threadpool(keys_context))
        if signs_in:
            response.set_cookie(SESSION_COOKIE, secret, httponly=True, samesite="strict", path="/ui")
        return response

    @router.post("/keys/{key_id}/revoke")
    async def revoke_key(request: Request, key_id: str, who: Viewer = Who) -> Response:
        form = await _form(request)
        check_csrf(request, form.get(CSRF_FIELD))
        await run_in_threadpool(store.revoke_key, key_id[:64])
        return RedirectResponse("/ui/keys", status_code=303)

    # -- signing in ------------------------------------------------------------------------------------
    @router.get("/login")
    def login_form(request: Request) -> Response:
        html = env.get_template("login.html").render(message=None, csrf=csrf_token(request), next="/ui")
        return _secure(HTMLResponse(html), request)

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await _form(request)
        check_csrf(request, form.get(CSRF_FIELD))
        secret = form.get("key", "").strip()
        await run_in_threadpool(check_admin, gateway, secret)
        target = form.get("next", "/ui")
        target = target if target.startswith("/ui") and "//" not in target else "/ui"
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(SESSION_COOKIE, secret, httponly=True, samesite="strict", path="/ui")
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        form = await _form(request)
        check_csrf(request, form.get(CSRF_FIELD))
        response = RedirectResponse("/ui/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/ui")
        return response

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        # The vendored libraries and the dashboard's own CSS/JS: public files, no data.
        path = STATIC / name
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", name) or not path.is_file():
            return JSONResponse({"error": {"message": "no such file", "type": "invalid_request_error"}}, 404)
        types = {".js": "text/javascript", ".css": "text/css", ".txt": "text/plain"}
        return FileResponse(path, media_type=types.get(path.suffix, "application/octet-stream"),
                            headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"})

    return router
