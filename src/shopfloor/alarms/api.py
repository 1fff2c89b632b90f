"""HTTP: alarms and what people do with them, alarm rules, and shelves.

Alarms (CONTRACT "Alarms") are listed newest first and acted on by people: acknowledge
(``open`` → ``acknowledged``), resolve (``open`` or ``acknowledged`` → ``resolved``), assign,
and notes. An action the alarm's state does not allow is 409. Each acknowledge and resolve
publishes its ``alarm.events`` event once committed.

SPC alarms (kind ``spc``, rule ``spc:<test>``) are raised by the ``spc`` stage on a quality
characteristic rather than a sensor: ``sensor`` is null, ``characteristic`` names it and
``path`` is where it is filed. Nothing clears them by itself: a person resolves them.

Shelves are an extension beyond CONTRACT: maintenance windows. ``POST /shelves`` with
``{scope, until | minutes, reason}`` keeps any alarm from opening on the sensors at and under
``scope`` until the window ends; ``DELETE /shelves/{id}`` ends it at once and keeps the record.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.exc import IntegrityError

from shopfloor.alarms import publish, rules_service, service, shelves
from shopfloor.alarms.schemas import (
    ActionBody,
    AlarmOut,
    AlarmState,
    AssignBody,
    NoteCreate,
    NoteOut,
    RuleCreate,
    RuleOut,
    RuleUpdate,
    Severity,
    ShelfCreate,
    ShelfOut,
)
from shopfloor.core.actor import actor_of
from shopfloor.core.clock import utcnow
from shopfloor.core.errors import AlreadyExists
from shopfloor.core.idempotency import create_once
from shopfloor.core.pagination import Page, decode_cursor, encode_cursor
from shopfloor.core.paths import checked_under

router = APIRouter()
LIMIT = Query(100, ge=1, le=1000)


def _page(items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_cursor": encode_cursor(items[-1]["id"]) if more else None}


# --- alarms -------------------------------------------------------------------------------


@router.get(
    "/alarms", response_model=Page[AlarmOut], tags=["alarms"], summary="List alarms, newest first"
)
async def list_alarms(
    request: Request,
    state: list[AlarmState] | None = Query(None, description="repeat for several states"),
    severity: list[Severity] | None = Query(None, description="repeat for several"),
    under: str | None = Query(
        None,
        description="the alarms of sensors at or under this path, and SPC alarms filed there",
    ),
    limit: int = LIMIT,
    cursor: str | None = None,
) -> dict[str, Any]:
    before = decode_cursor(cursor, int)
    async with request.app.state.db.read() as session:
        items = await service.list_alarms(
            session,
            states=state or (),
            severities=severity or (),
            under=checked_under(under),
            before_id=before,
            limit=limit + 1,
        )
    return _page(items, limit)


@router.get("/alarms/{alarm_id}", response_model=AlarmOut, tags=["alarms"])
async def get_alarm(request: Request, alarm_id: int) -> dict[str, Any]:
    async with request.app.state.db.read() as session:
        return await service.get_alarm(session, alarm_id)


@router.post(
    "/alarms/{alarm_id}/acknowledge",
    response_model=AlarmOut,
    tags=["alarms"],
    summary="Acknowledge an open alarm (409 in any other state)",
)
async def acknowledge(
    request: Request, alarm_id: int, body: ActionBody | None = None
) -> dict[str, Any]:
    note = body.note if body else None
    async with request.app.state.db.write() as session:
        document, event = await service.acknowledge(session, alarm_id, actor_of(request), note)
    publish.offer(request.app.state.pipeline.relay, [event])
    return document


@router.post(
    "/alarms/{alarm_id}/resolve",
    response_model=AlarmOut,
    tags=["alarms"],
    summary="Resolve an open or acknowledged alarm (409 when resolved or closed)",
)
async def resolve(
    request: Request, alarm_id: int, body: ActionBody | None = None
) -> dict[str, Any]:
    note = body.note if body else None
    async with request.app.state.db.write() as session:
        document, event = await service.resolve(session, alarm_id, actor_of(request), note)
    publish.offer(request.app.state.pipeline.relay, [event])
    return document


@router.post(
    "/alarms/{alarm_id}/assign",
    response_model=AlarmOut,
    tags=["alarms"],
    summary="Assign an alarm to someone, or unassign it with null (409 when closed)",
)
async def assign(request: Request, alarm_id: int, body: AssignBody) -> dict[str, Any]:
    async with request.app.state.db.write() as session:
        return await service.assign(session, alarm_id, body.user)


@router.post(
    "/alarms/{alarm_id}/notes",
    status_code=201,
    response_model=NoteOut,
    tags=["alarms"],
    summary="Add a note to an alarm in any state",
)
async def add_note(request: Request, alarm_id: int, body: NoteCreate) -> Response:
    async def create(session: Any) -> dict[str, Any]:
        note = await service.add_note(session, alarm_id, actor_of(request), body.text)
        return publish.note_document(note)

    return await create_once(request.app.state.db, request, body.model_dump(), create)


# --- alarm rules --------------------------------------------------------------------------


@router.post(
    "/alarm-rules",
    status_code=201,
    response_model=RuleOut,
    tags=["alarm rules"],
    summary="Create an alarm rule",
)
async def create_rule(request: Request, body: RuleCreate) -> Response:
    async def create(session: Any) -> dict[str, Any]:
        return rules_service.rule_document(await rules_service.create_rule(session, body))

    taken = f"an alarm rule named {body.name!r} already exists"
    return await create_once(request.app.state.db, request, body.model_dump(), create, taken=taken)


@router.get(
    "/alarm-rules", response_model=Page[RuleOut], tags=["alarm rules"], summary="List alarm rules"
)
async def list_rules(
    request: Request, limit: int = LIMIT, cursor: str | None = None
) -> dict[str, Any]:
    after = decode_cursor(cursor, int)
    async with request.app.state.db.read() as session:
        rules = await rules_service.list_rules(session, after, limit + 1)
        items = [rules_service.rule_document(rule) for rule in rules]
    return _page(items, limit)


@router.get("/alarm-rules/{rule_id}", response_model=RuleOut, tags=["alarm rules"])
async def get_rule(request: Request, rule_id: int) -> dict[str, Any]:
    async with request.app.state.db.read() as session:
        return rules_service.rule_document(await rules_service.get_rule(session, rule_id))


@router.patch(
    "/alarm-rules/{rule_id}",
    response_model=RuleOut,
    tags=["alarm rules"],
    summary="Change an alarm rule; params, when given, replace the old ones",
)
async def update_rule(request: Request, rule_id: int, body: RuleUpdate) -> dict[str, Any]:
    try:
        async with request.app.state.db.write() as session:
            rule = await rules_service.update_rule(session, rule_id, body)
            return rules_service.rule_document(rule)
    except IntegrityError:  # lost a race for the name
        raise AlreadyExists(f"an alarm rule named {body.name!r} already exists") from None


@router.delete(
    "/alarm-rules/{rule_id}",
    status_code=204,
    response_class=Response,
    tags=["alarm rules"],
    summary="Delete an alarm rule; its alarms stay",
)
async def delete_rule(request: Request, rule_id: int) -> Response:
    async with request.app.state.db.write() as session:
        await rules_service.delete_rule(session, rule_id)
    return Response(status_code=204)


# --- shelves ------------------------------------------------------------------------------


@router.post(
    "/shelves",
    status_code=201,
    response_model=ShelfOut,
    tags=["shelves"],
    summary="Shelve a path for a maintenance window",
)
async def create_shelf(request: Request, body: ShelfCreate) -> Response:
    """No alarm opens on the sensors at or under ``scope`` (an existing asset or sensor path)
    from now until ``until`` (an RFC 3339 time in the future) or for ``minutes`` (1 to 10080).
    Occurrences held back are counted in ``suppressed``; alarms already open are not affected."""

    async def create(session: Any) -> dict[str, Any]:
        shelf = await shelves.create_shelf(session, body, actor_of(request))
        return shelves.shelf_document(shelf)

    return await create_once(request.app.state.db, request, body.model_dump(), create)


@router.get(
    "/shelves",
    response_model=Page[ShelfOut],
    tags=["shelves"],
    summary="List shelves, newest first",
)
async def list_shelves(
    request: Request,
    active: bool | None = Query(None, description="true: in force now; false: ended"),
    limit: int = LIMIT,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Every shelf, the ended ones too, newest first."""
    before = decode_cursor(cursor, int)
    now = utcnow()
    async with request.app.state.db.read() as session:
        found = await shelves.list_shelves(
            session, active=active, at=now, before_id=before, limit=limit + 1
        )
    return _page([shelves.shelf_document(shelf, now) for shelf in found], limit)


@router.get("/shelves/{shelf_id}", response_model=ShelfOut, tags=["shelves"])
async def get_shelf(request: Request, shelf_id: int) -> dict[str, Any]:
    async with request.app.state.db.read() as session:
        return shelves.shelf_document(await shelves.get_shelf(session, shelf_id))


@router.delete(
    "/shelves/{shelf_id}", response_model=ShelfOut, tags=["shelves"], summary="End a shelf now"
)
async def end_shelf(request: Request, shelf_id: int) -> dict[str, Any]:
    """Ends the shelf at once (``ends_at`` becomes now) and returns it; the record is kept.
    Ending a shelf that is already over changes nothing."""
    now = utcnow()
    async with request.app.state.db.write() as session:
        shelf = await shelves.end_shelf(session, shelf_id, now)
        return shelves.shelf_document(shelf, now)
