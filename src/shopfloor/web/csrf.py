"""Forms that change things come from this dashboard's own pages, nowhere else.

Three layers: the cookies are SameSite=Strict (another site's form posts without them); the
browser's ``Origin`` (or ``Sec-Fetch-Site``) must name this server (pages send their origin:
their referrer policy is ``same-origin``); and every form carries a
token, the HMAC of a random seed kept in an HttpOnly cookie (a signed double-submit cookie), so
a request that has the cookie but not the page's token is refused. htmx requests send the token
as a header (``hx-headers`` on the page's body).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request

from shopfloor.core.errors import Forbidden
from shopfloor.web.cookies import CSRF_COOKIE, pending_value, set_cookie
from shopfloor.web.signing import purpose_key

TOKEN_FIELD = "csrf_token"
TOKEN_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SEED_TTL_S = 30 * 24 * 3600
_SEED_LENGTH = 43  # token_urlsafe(32)


class CsrfRefused(Forbidden):
    slug, title = "csrf-refused", "Form refused"


def csrf_token(request: Request) -> str:
    """The token for this browser's forms (a seed cookie is set on first use)."""
    seed = pending_value(request, CSRF_COOKIE)
    if not _is_seed(seed):
        seed = secrets.token_urlsafe(32)
        set_cookie(request, CSRF_COOKIE, seed, SEED_TTL_S)
    return _token_of(request, seed or "")


async def verify_csrf(request: Request) -> None:
    """Dependency of every dashboard route: unsafe methods need a same-origin request and token."""
    if request.method in SAFE_METHODS:
        return
    if not _same_origin(request):
        raise CsrfRefused("This form was sent from another site; it is refused.")
    seed = request.cookies.get(CSRF_COOKIE)
    sent = request.headers.get(TOKEN_HEADER)
    if sent is None and _is_form(request):
        value = (await request.form()).get(TOKEN_FIELD)
        sent = value if isinstance(value, str) else None
    if not _is_seed(seed) or not sent or not hmac.compare_digest(sent, _token_of(request, seed)):
        raise CsrfRefused(
            "This form has expired or did not come from this dashboard. Reload the page and "
            "try again."
        )


def _token_of(request: Request, seed: str) -> str:
    key = purpose_key(request.app.state.settings, "web.csrf")
    return hmac.new(key, seed.encode(), hashlib.sha256).hexdigest()


def _is_seed(seed: str | None) -> bool:
    return bool(seed) and len(seed or "") == _SEED_LENGTH


def _is_form(request: Request) -> bool:
    content_type = request.headers.get("content-type", "").lower()
    return content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))


def _same_origin(request: Request) -> bool:
    """The browser says where the request comes from; it must be this host.

    Hosts are compared, not schemes: behind a proxy that ends TLS the server sees http while
    the browser says https. A request naming no origin at all (not a browser's, or a very old
    one) still needs the token.
    """
    host = request.headers.get("host", "").lower()
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        return urlsplit(origin).netloc.lower() == host
    # "null" comes from pages whose referrer policy withholds the origin, and from sandboxed
    # documents anywhere: then the browser's own Sec-Fetch-Site, which no page can set, decides.
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in {"same-origin", "none"}
    return origin is None
