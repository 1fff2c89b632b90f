"""Rendering pages: the Jinja2 environment, what every template may use, and ``render``.

Every template sees:
- ``principal``: who is signed in (None on the sign-in and some error pages);
- ``may("acknowledge")``: whether they hold a permission of ``auth.roles`` — wrap every
  button and form in it, so nobody sees a control they may not use;
- ``csrf_field()`` inside every form that changes something (``csrf_token`` is the bare value,
  which ``base.html`` also hands htmx for its requests);
- ``nav``: the header's links for this principal; ``flashes``: messages to show once;
- ``static("css/shopfloor.css")``: the URL of a static file, with a fingerprint of its content
  so that browsers never keep an old copy.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
from fastapi import Request
from fastapi.responses import HTMLResponse

from shopfloor import __version__
from shopfloor.auth.principal import Principal
from shopfloor.auth.roles import Permission
from shopfloor.web.cookies import mark_web_response
from shopfloor.web.csrf import TOKEN_FIELD, TOKEN_HEADER, csrf_token
from shopfloor.web.flash import take_flashes
from shopfloor.web.navigation import NavItem, links_for

WEB_DIR = Path(__file__).parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
STATIC_PREFIX = "/static"


@cache
def _fingerprint(path: str) -> str:
    try:
        return hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:12]
    except OSError:
        return __version__


def static_url(path: str) -> str:
    """The URL of a file under ``static/``."""
    return f"{STATIC_PREFIX}/{path}?v={_fingerprint(path)}"


@jinja2.pass_context
def may(context: jinja2.runtime.Context, permission: str | Permission) -> bool:
    """Whether the signed-in principal holds ``permission`` (a name of ``auth.roles``)."""
    principal: Principal | None = context.get("principal")
    return principal is not None and principal.may(Permission(permission))


@jinja2.pass_context
def csrf_field(context: jinja2.runtime.Context) -> markupsafe.Markup:
    """The hidden input every form that changes something carries."""
    return markupsafe.Markup('<input type="hidden" name="{}" value="{}">').format(
        TOKEN_FIELD, context["csrf_token"]
    )


def plural(count: int, singular: str, many: str | None = None) -> str:
    """``1 alarm``, ``2 alarms``."""
    return f"{count} {singular if count == 1 else (many or singular + 's')}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        may=may,
        csrf_field=csrf_field,
        static=static_url,
        plural=plural,
        app_version=__version__,
        csrf_field_name=TOKEN_FIELD,
        csrf_header_name=TOKEN_HEADER,
    )
    return env


ENVIRONMENT = _environment()


def nav_items(request: Request) -> list[NavItem]:
    return list(getattr(request.app.state, "web_nav", []))


def fragment_context(request: Request) -> dict[str, Any]:
    """What a fragment's template needs: who is looking, and the token for its forms."""
    return {
        "request": request,
        "principal": getattr(request.state, "principal", None),
        "csrf_token": csrf_token(request),
    }


def page_context(request: Request) -> dict[str, Any]:
    """What a whole page needs besides: the navigation and the messages waiting to be shown."""
    context = fragment_context(request)
    context["nav"] = links_for(nav_items(request), context["principal"], request.url.path)
    context["flashes"] = take_flashes(request)
    return context


def render_string(
    request: Request, template: str, context: dict[str, Any] | None = None, *, page: bool = True
) -> str:
    """A page (``page=True``) or a fragment of one, rendered for this request's principal."""
    base = page_context(request) if page else fragment_context(request)
    return ENVIRONMENT.get_template(template).render({**base, **(context or {})})


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    *,
    page: bool = True,
) -> HTMLResponse:
    """A page (or, ``page=False``, a fragment) as an HTML response with the dashboard's headers."""
    mark_web_response(request)
    body = render_string(request, template, context, page=page)
    return HTMLResponse(body, status_code=status_code, headers=headers)
