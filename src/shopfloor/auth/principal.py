"""Who is calling: a signed-in user or a machine's API key, and what that allows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from shopfloor.auth.roles import Permission, role_permissions, scope_permissions


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Literal["user", "api_key"]
    id: int
    name: str  # the user name, or the key's name: what the audit log and alarms record
    role: str | None = None  # users only
    scopes: frozenset[str] = field(default_factory=frozenset)  # API keys only

    @property
    def permissions(self) -> frozenset[Permission]:
        if self.kind == "user":
            return role_permissions(self.role or "")
        return scope_permissions(self.scopes)

    def may(self, permission: Permission) -> bool:
        return permission in self.permissions

    @property
    def actor(self) -> str:
        """How the principal appears in records: ``name`` for users, ``key:name`` for keys."""
        return self.name if self.kind == "user" else f"key:{self.name}"
