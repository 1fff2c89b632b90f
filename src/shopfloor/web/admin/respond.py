"""Answering the administration area's requests.

A form or button on these pages is an htmx request: the answer is the fragment it changed (the
section, with a notice or with the problems next to the fields), swapped in place. The same
forms also work without htmx (a plain post), and then the answer is the whole page.

Problems keep their HTTP status (422, 409): ``static/js/admin.js`` lets htmx swap such an
answer in when it carries ``FRAGMENT_HEADER``, instead of treating it as a failed request.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shopfloor.web.admin.display import HELPERS
from shopfloor.web.admin.forms import FormState
from shopfloor.web.admin.sections import sections_for
from shopfloor.web.errors import is_htmx
from shopfloor.web.flash import flash
from shopfloor.web.templating import render

FRAGMENT_HEADER = "X-Shopfloor-Fragment"


def section(
    request: Request,
    page_template: str,
    fragment_template: str,
    context: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    """The section's fragment for htmx, else the page around it."""
    if is_htmx(request):
        headers = {FRAGMENT_HEADER: "in-place"} if status_code >= 400 else None
        return render(request, fragment_template, context, status_code, headers, page=False)
    return render(request, page_template, context, status_code)


def done(request: Request, url: str, notice: str) -> Response | None:
    """After a change made without htmx: back to the page (``url``) with the notice.

    None for an htmx request, which gets its fragment instead.
    """
    if is_htmx(request):
        return None
    flash(request, notice, "success")
    return RedirectResponse(url, status_code=303)


def admin_context(request: Request, current: str, **values: Any) -> dict[str, Any]:
    """What every administration template uses: the sections, which is open, the helpers."""
    principal = getattr(request.state, "principal", None)
    return {
        "sections": sections_for(principal),
        "current": current,
        "blank_form": FormState,
        **HELPERS,
        **values,
    }
