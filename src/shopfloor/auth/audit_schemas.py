"""Response bodies of the audit log API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    seq: int = Field(description="Position in the chain: consecutive from 1, never reused")
    at: datetime
    actor: str = Field(description="A user name, key:NAME for an API key, cli:NAME for a command")
    source: str | None = Field(description='The client address, or "cli"')
    request_id: str | None
    operation: str | None = Field(
        description='What was called: "POST /api/v1/alarms/{alarm_id}/acknowledge", "users create"'
    )
    action: str = Field(description='"asset.created", "alarm.updated", "auth.login_failed" …')
    target: str = Field(description='What it was done to: "asset/7"')
    before: dict[str, Any] | None = Field(description="Changed fields before; secrets as ***")
    after: dict[str, Any] | None = Field(description="Changed fields after; secrets as ***")
    prev_hash: str
    hash: str = Field(description="SHA-256 over this entry's content and prev_hash")


class VerifyOut(BaseModel):
    ok: bool
    checked: int = Field(description="Entries found sound (before the first problem, if any)")
    problem: str | None = Field(description="What is wrong, naming the first bad entry")
    seq: int | None = Field(description="The sequence number of the first bad entry")
