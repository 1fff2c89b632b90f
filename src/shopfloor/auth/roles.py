"""Roles and API-key scopes, and the permissions each grants (CONTRACT, "Auth").

Routes never name roles: each route needs one permission (``auth.policy``), and this module is
the only place that says which roles hold it.
"""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    READ = "read"  # plant, readings, alarms, quality, reports
    INGEST = "ingest"  # post readings
    ACKNOWLEDGE = "acknowledge"  # acknowledge alarms, add notes
    RESOLVE = "resolve"  # resolve or assign alarms
    MANAGE_PLANT = "manage_plant"  # assets, sensors, alarm rules, shelves
    INSPECT = "inspect"  # create, start, measure, record defects, complete inspections
    MANAGE_QUALITY = "manage_quality"  # parts, characteristics, lots
    MANAGE_NOTIFY = "manage_notify"  # channels, subscriptions, deliveries
    MANAGE_MODELS = "manage_models"  # promote and roll back models (move their aliases)
    ADMIN = "admin"  # users, API keys, the audit log, the pipeline's dead letters


P = Permission
ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "viewer": frozenset({P.READ}),
    "operator": frozenset({P.READ, P.ACKNOWLEDGE}),
    "inspector": frozenset({P.READ, P.ACKNOWLEDGE, P.INSPECT}),
    "maintenance_engineer": frozenset(
        {P.READ, P.ACKNOWLEDGE, P.RESOLVE, P.MANAGE_PLANT, P.MANAGE_NOTIFY, P.MANAGE_MODELS}
    ),
    "quality_manager": frozenset(
        {P.READ, P.ACKNOWLEDGE, P.RESOLVE, P.INSPECT, P.MANAGE_QUALITY, P.MANAGE_NOTIFY}
    ),
    "admin": frozenset(Permission),
}
ROLES: tuple[str, ...] = tuple(ROLE_PERMISSIONS)

# What a machine's API key may do: ``ingest`` posts readings; ``read`` serves dashboards and
# integrations that only look.
SCOPE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "ingest": frozenset({P.INGEST}),
    "read": frozenset({P.READ}),
}
SCOPES: tuple[str, ...] = tuple(SCOPE_PERMISSIONS)


def role_permissions(role: str) -> frozenset[Permission]:
    return ROLE_PERMISSIONS.get(role, frozenset())


def scope_permissions(scopes: frozenset[str] | set[str] | list[str]) -> frozenset[Permission]:
    granted: set[Permission] = set()
    for scope in scopes:
        granted |= SCOPE_PERMISSIONS.get(scope, frozenset())
    return frozenset(granted)
