"""Alarm rules (``/admin/rules``): when an alarm opens. For those who manage the plant.

Through the same service as ``/api/v1/alarm-rules`` (``alarms.rules_service``), with the same
checks of each kind's parameters: a parameter the service refuses is shown at its field, with
the service's words. The stages read rules from the database, so a change applies from their
next evaluation on, as one made through the API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.alarms import rules_service
from shopfloor.alarms.schemas import RuleUpdate
from shopfloor.auth.roles import Permission
from shopfloor.core.errors import AlreadyExists, NotFound, ShopfloorError
from shopfloor.web.admin.forms import FormState, form_values, sentence
from shopfloor.web.admin.respond import admin_context, done, section
from shopfloor.web.admin.rule_forms import (
    KIND_LABELS,
    KIND_NOTES,
    KIND_PARAMS,
    LIFE,
    LIFECYCLE_PARAMS,
    SEVERITY_OPTIONS,
    default_of,
    lifecycle_open,
    new_rule,
    params_summary,
    refuse_rule,
    rule_changes,
    rule_form,
)
from shopfloor.web.deps import requires

router = APIRouter(dependencies=[Depends(requires(Permission.MANAGE_PLANT))])
NAV = None
SECTION = "rules"
URL = "/admin/rules"
PAGE, FRAGMENT = "admin/rules/page.html", "admin/rules/section.html"
LIST_LIMIT = 1000
LISTS = tuple(f"{kind}.{p.name}" for kind, ps in KIND_PARAMS.items() for p in ps if p.options)


@dataclass
class Changes:
    notice: str | None = None
    problem: str | None = None
    create: FormState | None = None
    edits: dict[int, FormState] = field(default_factory=dict)


async def _section(request: Request, changes: Changes, status_code: int = 200) -> Response:
    async with request.app.state.db.read() as session:
        rules = list(await rules_service.list_rules(session, None, LIST_LIMIT))
    context = admin_context(
        request,
        SECTION,
        rules=rules,
        changes=changes,
        notice=changes.notice,
        problem=changes.problem,
        create=changes.create or rule_form("new-rule"),
        rule_form=rule_form,
        kinds=[(kind, label) for kind, label in KIND_LABELS.items()],
        kind_labels=KIND_LABELS,
        kind_notes=KIND_NOTES,
        kind_params=KIND_PARAMS,
        lifecycle=LIFECYCLE_PARAMS,
        life=LIFE,
        severities=SEVERITY_OPTIONS,
        default_of=default_of,
        lifecycle_open=lifecycle_open,
        params_summary=params_summary,
    )
    return section(request, PAGE, FRAGMENT, context, status_code)


async def _apply(
    request: Request,
    change: Callable[[AsyncSession], Awaitable[str]],
    refused: Callable[[ShopfloorError], Changes],
) -> Response:
    try:
        async with request.app.state.db.write() as session:
            notice = await change(session)
    except IntegrityError:  # lost a race for the name
        exc = AlreadyExists("an alarm rule with that name was just created")
        return await _section(request, refused(exc), exc.status)
    except NotFound as exc:
        return await _section(request, Changes(problem=sentence(exc.detail)), exc.status)
    except ShopfloorError as exc:
        return await _section(request, refused(exc), exc.status)
    return done(request, URL, notice) or await _section(request, Changes(notice=notice))


@router.get(URL, name="admin_rules")
async def rules_page(request: Request) -> Response:
    return await _section(request, Changes())


@router.post(URL)
async def create_rule(request: Request) -> Response:
    form = rule_form("new-rule")
    form.values = form_values(await request.form(), lists=LISTS)
    body = new_rule(form)
    if body is None:
        return await _section(request, Changes(create=form), 422)

    async def change(session: AsyncSession) -> str:
        rule = await rules_service.create_rule(session, body)
        state = "applies from now on" if rule.enabled else "is saved, disabled"
        return f"The rule {rule.name} {state}."

    return await _apply(request, change, lambda exc: Changes(create=refuse_rule(form, exc)))


@router.post(URL + "/{rule_id}")
async def update_rule(request: Request, rule_id: int) -> Response:
    form = rule_form(f"rule-{rule_id}")
    form.values = form_values(await request.form(), lists=LISTS)
    body = rule_changes(form)
    if body is None:
        return await _section(request, Changes(edits={rule_id: form}), 422)

    async def change(session: AsyncSession) -> str:
        rule = await rules_service.update_rule(session, rule_id, body)
        return f"The rule {rule.name} is saved."

    return await _apply(
        request, change, lambda exc: Changes(edits={rule_id: refuse_rule(form, exc)})
    )


@router.post(URL + "/{rule_id}/enabled")
async def switch_rule(request: Request, rule_id: int) -> Response:
    enabled = (await request.form()).get("enabled") == "true"

    async def change(session: AsyncSession) -> str:
        rule = await rules_service.update_rule(session, rule_id, RuleUpdate(enabled=enabled))
        if enabled:
            return f"The rule {rule.name} applies again."
        return f"The rule {rule.name} is disabled: it opens no alarms until enabled."

    return await _apply(request, change, lambda exc: Changes(problem=sentence(exc.detail)))


@router.post(URL + "/{rule_id}/delete")
async def delete_rule(request: Request, rule_id: int) -> Response:
    async def change(session: AsyncSession) -> str:
        name = (await rules_service.get_rule(session, rule_id)).name
        await rules_service.delete_rule(session, rule_id)
        return f"The rule {name} is deleted; the alarms it raised stay."

    return await _apply(request, change, lambda exc: Changes(problem=sentence(exc.detail)))
