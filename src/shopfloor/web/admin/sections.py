"""The administration area's sections, and who may use each (CONTRACT, "Auth").

Each section needs the one permission its API needs; the area itself (its header link, its
landing page) is for whoever may use at least one section.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Depends

from shopfloor.auth.principal import Principal
from shopfloor.auth.roles import Permission
from shopfloor.core.errors import Forbidden
from shopfloor.web.deps import signed_in


@dataclass(frozen=True, slots=True)
class AdminSection:
    key: str
    title: str
    href: str
    permission: Permission
    description: str


SECTIONS: tuple[AdminSection, ...] = (
    AdminSection(
        "users",
        "Users",
        "/admin/users",
        Permission.ADMIN,
        "Who signs in, with which role; second factors, lockouts, password resets.",
    ),
    AdminSection(
        "api-keys",
        "API keys",
        "/admin/api-keys",
        Permission.ADMIN,
        "Keys for machines and integrations: what each may do, when it was last used.",
    ),
    AdminSection(
        "channels",
        "Notifications",
        "/admin/channels",
        Permission.MANAGE_NOTIFY,
        "Where alarms are sent (webhooks, e-mail, Slack), and which alarms go where.",
    ),
    AdminSection(
        "deliveries",
        "Deliveries",
        "/admin/deliveries",
        Permission.MANAGE_NOTIFY,
        "Every notification sent, retried or given up on, and why.",
    ),
    AdminSection(
        "rules",
        "Alarm rules",
        "/admin/rules",
        Permission.MANAGE_PLANT,
        "When an alarm opens: limits, rates of change, anomalies, silence, SPC, risk, drift.",
    ),
    AdminSection(
        "audit",
        "Audit log",
        "/admin/audit",
        Permission.ADMIN,
        "Every change and sign-in: who, what, when, from where.",
    ),
)
AREA_PERMISSIONS: tuple[Permission, ...] = tuple(dict.fromkeys(s.permission for s in SECTIONS))


def sections_for(principal: Principal | None) -> list[AdminSection]:
    if principal is None:
        return []
    return [section for section in SECTIONS if principal.may(section.permission)]


def section_named(key: str) -> AdminSection:
    return next(section for section in SECTIONS if section.key == key)


def may_enter_area() -> Callable[..., Awaitable[Principal]]:
    """A dependency: the signed-in principal, refused (403 page) without any section."""

    async def check(principal: Principal = Depends(signed_in)) -> Principal:
        if not sections_for(principal):
            raise Forbidden(
                f"Your role ({principal.role}) does not allow administration: it needs one of "
                f"the permissions {', '.join(repr(p.value) for p in AREA_PERMISSIONS)}."
            )
        return principal

    return check
