"""The dashboard's pages: one module per area.

A page module defines
- ``router``: an ``APIRouter`` with its routes (paths from the root: ``/alarms``, ``/alarms/12``);
  every route requires a signed-in user unless the module sets ``PUBLIC = True``;
- ``NAV``: its ``NavItem`` in the header (or None), shown to those with its permission;
- ``FEEDS`` (optional): factories ``(app) -> Feed`` of the live feeds it owns, which the
  broadcaster polls while someone watches their topics.

A new area is a new module here, added to ``PAGE_MODULES``.
"""

from __future__ import annotations

from types import ModuleType

from shopfloor.web.pages import (
    admin,
    admin_api_keys,
    admin_audit,
    admin_channels,
    admin_deliveries,
    admin_rules,
    admin_users,
    alarms,
    login,
    overview,
    quality,
    sensor,
)

PAGE_MODULES: tuple[ModuleType, ...] = (
    login,
    overview,
    alarms,
    quality,
    admin,
    admin_users,
    admin_api_keys,
    admin_channels,
    admin_deliveries,
    admin_rules,
    admin_audit,
    sensor,
)
