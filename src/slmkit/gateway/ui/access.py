"""Who may open the dashboard, and forms no other site can submit.

The API's rule, with one step up: while no key was ever created (or ``gateway.auth: off``) the
dashboard is as open as the API, which then listens on loopback only; once a key exists, every UI
page and data endpoint needs an *admin* key (``slmkit keys create NAME --admin``, or the "admin" box
on the Keys page). A browser presents it once on the sign-in form and then carries it in an
HttpOnly, SameSite=Strict cookie scoped to ``/ui``; scripts and tests may send
``Authorization: Bearer`` instead. The key is checked against the store on every request, so
revoking it ends its sessions at once.

Cross-site request forgery: every form carries a token that must equal the ``slmkit_csrf`` cookie
(double submit; another site can neither read nor set that cookie), and a POST whose ``Origin``
names another host is refused before the token is looked at.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from starlette.requests import Request

    from slmkit.gateway.context import Gateway
    from slmkit.gateway.store import ApiKey

SESSION_COOKIE = "slmkit_admin"
CSRF_COOKIE = "slmkit_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


class Denied(Exception):
    """No valid admin key: the caller gets a 401 (a sign-in page for a browser, JSON otherwise)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Forged(Exception):
    """A state-changing request without a matching CSRF token, or from another origin: a 403."""


@dataclass(frozen=True)
class Viewer:
    """Who is looking: ``key`` is None while the dashboard is open (no key ever created, or auth off)."""

    key: ApiKey | None
    csrf: str


def presented_secret(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.cookies.get(SESSION_COOKIE) or None


def check_admin(gateway: Gateway, secret: str | None) -> ApiKey | None:
    """The admin key behind ``secret``; None when no key is required; Denied otherwise."""
    if not gateway.keys_required():
        return None
    if not secret:
        raise Denied("the dashboard needs an admin key once API keys exist")
    key = gateway.store.lookup(secret)
    if key is None or key.revoked is not None:
        raise Denied("unknown or revoked key")
    if key.id not in gateway.store.admin_key_ids():
        raise Denied(f"key {key.id} is not an admin key; create one with `slmkit keys create NAME --admin`")
    return key


def csrf_token(request: Request) -> str:
    """The browser's token (from its cookie), or a new one the response must set."""
    token = request.cookies.get(CSRF_COOKIE, "")
    return token if len(token) == 43 else secrets.token_urlsafe(32)


def check_csrf(request: Request, submitted: str | None) -> None:
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise Forged(f"a form from {origin} may not change this gateway")
    expected = request.cookies.get(CSRF_COOKIE, "")
    submitted = submitted or request.headers.get(CSRF_HEADER, "")
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise Forged("the form's CSRF token is missing or stale; reload the page and submit it again")
