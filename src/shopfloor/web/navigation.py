"""The main navigation: one entry per area, shown to those who may use it."""

from __future__ import annotations

from dataclasses import dataclass

from shopfloor.auth.principal import Principal
from shopfloor.auth.roles import Permission


@dataclass(frozen=True, slots=True)
class NavItem:
    """A link in the header. ``permission``: who sees it (None: everyone signed in; a tuple:
    whoever holds any one of them, for an area whose parts need different permissions)."""

    label: str
    href: str
    permission: Permission | tuple[Permission, ...] | None = Permission.READ
    order: int = 100


@dataclass(frozen=True, slots=True)
class NavLink:
    label: str
    href: str
    current: bool


def links_for(items: list[NavItem], principal: Principal | None, path: str) -> list[NavLink]:
    """The items ``principal`` may use, in order; the one whose area ``path`` is in is current."""
    if principal is None:
        return []
    visible = sorted(
        (item for item in items if _may_see(item, principal)),
        key=lambda item: (item.order, item.label),
    )
    return [NavLink(item.label, item.href, _is_current(item.href, path)) for item in visible]


def _may_see(item: NavItem, principal: Principal) -> bool:
    if item.permission is None:
        return True
    wanted = item.permission if isinstance(item.permission, tuple) else (item.permission,)
    return any(principal.may(permission) for permission in wanted)


def _is_current(href: str, path: str) -> bool:
    if href == "/":
        return path == "/"
    return path == href or path.startswith(href.rstrip("/") + "/")
