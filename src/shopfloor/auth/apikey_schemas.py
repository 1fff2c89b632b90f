"""Request and response bodies of the API keys API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from shopfloor.auth.apikeys import name_problem, scope_problem
from shopfloor.auth.roles import SCOPES
from shopfloor.core.clock import utcnow


def _known_scope(value: str) -> str:
    if problem := scope_problem(value):
        raise ValueError(problem)
    return value


# Checked per item, so that a 422 names the bad one by its index.
Scope = Annotated[
    str, AfterValidator(_known_scope), Field(json_schema_extra={"enum": list(SCOPES)})
]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(examples=["press-line-gateway"], description="Unique; [a-z0-9][a-z0-9._-]*")
    scopes: list[Scope] = Field(
        min_length=1,
        max_length=20,
        examples=[["ingest"]],
        description="ingest: post readings; read: read plant, readings, alarms and quality",
    )
    expires_at: datetime | None = Field(
        default=None, description="RFC 3339; in the future; without an offset, UTC. None: never"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if problem := name_problem(value):
            raise ValueError(problem)
        return value

    @field_validator("scopes")
    @classmethod
    def _once_each(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("expires_at")
    @classmethod
    def _in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if value <= utcnow():
            raise ValueError("expires_at must be in the future")
        return value.astimezone(UTC)


class ApiKeyOut(BaseModel):
    """A key as listed and fetched: never the key itself, which only its creation shows."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str = Field(description="The key's public start, sf_<prefix>_…, to tell keys apart")
    scopes: list[str]
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="Recorded at most once a minute")
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The API key: shown in this response only, store it now")
