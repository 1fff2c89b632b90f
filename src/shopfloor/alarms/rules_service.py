"""Alarm rules: create, read, change, delete. Takes a session, never commits.

A rule's ``params`` are stored as given (validated and normalised); documents show them with
every default filled in (``schemas.rule_params``), so a default that changes later applies to
every rule that did not set it. Deleting a rule keeps its alarms (their ``rule_id`` becomes
NULL). Renaming a rule renames its alarms that are not closed, so that the stage, which keys
alarms by (sensor, rule name), keeps counting on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopfloor.alarms.models import Alarm, AlarmRule
from shopfloor.alarms.schemas import RuleCreate, RuleOut, RuleUpdate, rule_params, stored_params
from shopfloor.core.clock import utcnow
from shopfloor.core.errors import AlreadyExists, Conflict, ValidationFailed
from shopfloor.storage.lookup import get_or_404


def checked_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` for a rule of ``kind`` as stored; 422 naming each bad parameter."""
    try:
        return stored_params(kind, params)
    except ValidationError as exc:
        errors = [
            {"loc": ["params", *error["loc"]], "msg": error["msg"], "type": error["type"]}
            for error in exc.errors()
        ]
        raise ValidationFailed(
            f"params do not fit a {kind} rule: {len(errors)} problem(s)", errors=errors
        ) from None


def rule_document(rule: AlarmRule) -> dict[str, Any]:
    out = RuleOut.model_validate(
        {
            "id": rule.id,
            "name": rule.name,
            "scope": rule.scope,
            "kind": rule.kind,
            "params": rule_params(rule.kind, rule.params, rule.severity),
            "severity": rule.severity,
            "for_seconds": rule.for_seconds,
            "enabled": rule.enabled,
            "created_at": rule.created_at,
            "updated_at": rule.updated_at,
        }
    )
    return out.model_dump(mode="json")


async def _ensure_name_free(session: AsyncSession, name: str) -> None:
    if await session.scalar(select(AlarmRule.id).where(AlarmRule.name == name)) is not None:
        raise AlreadyExists(f"an alarm rule named {name!r} already exists")


async def create_rule(session: AsyncSession, data: RuleCreate) -> AlarmRule:
    params = checked_params(data.kind, data.params)
    await _ensure_name_free(session, data.name)
    now = utcnow()
    rule = AlarmRule(
        name=data.name,
        scope=data.scope,
        kind=data.kind,
        params=params,
        severity=data.severity,
        for_seconds=data.for_seconds,
        enabled=data.enabled,
        created_at=now,
        updated_at=now,
    )
    session.add(rule)
    await session.flush()
    return rule


async def list_rules(
    session: AsyncSession, after_id: int | None, limit: int
) -> Sequence[AlarmRule]:
    query = select(AlarmRule).order_by(AlarmRule.id).limit(limit)
    if after_id is not None:
        query = query.where(AlarmRule.id > after_id)
    return (await session.scalars(query)).all()


async def get_rule(session: AsyncSession, rule_id: int) -> AlarmRule:
    return await get_or_404(session, AlarmRule, rule_id, "alarm rule")


async def update_rule(session: AsyncSession, rule_id: int, data: RuleUpdate) -> AlarmRule:
    rule = await get_rule(session, rule_id)
    changes = data.model_dump(exclude_unset=True)
    kind = changes.get("kind", rule.kind)
    if "params" in changes or kind != rule.kind:
        changes["params"] = checked_params(kind, changes.get("params", rule.params))
    new_name = changes.get("name")
    if new_name is not None and new_name != rule.name:
        await _rename_alarms(session, rule, new_name)
    for field, value in changes.items():
        setattr(rule, field, value)
    rule.updated_at = utcnow()
    await session.flush()
    return rule


async def _rename_alarms(session: AsyncSession, rule: AlarmRule, new_name: str) -> None:
    await _ensure_name_free(session, new_name)
    not_closed = Alarm.state != "closed"
    mine = select(Alarm.sensor_id).where(Alarm.rule_id == rule.id, not_closed)
    clash = exists().where(Alarm.rule == new_name, not_closed, Alarm.sensor_id.in_(mine))
    if await session.scalar(select(clash)):
        raise Conflict(
            f"alarms named {new_name!r} (of a former rule) are still open on sensors this rule "
            "has open alarms on; resolve them first"
        )
    await session.execute(
        update(Alarm)
        .where(Alarm.rule_id == rule.id, not_closed)
        .values(rule=new_name)
        .execution_options(synchronize_session=False)
    )


async def delete_rule(session: AsyncSession, rule_id: int) -> None:
    """Delete the rule; its alarms stay, with ``rule_id`` NULL (the foreign key sees to it)."""
    rule = await get_rule(session, rule_id)
    await session.delete(rule)
    await session.flush()
