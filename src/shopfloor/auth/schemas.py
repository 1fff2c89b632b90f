"""Bodies of the sign-in, own-account and user-management API.

No response model has a field for the password hash or the TOTP secret: they cannot leak by a
``model_validate`` of the row.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shopfloor.auth.roles import ROLES

Role = Literal[ROLES]  # type: ignore[valid-type]
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,63}$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
PASSWORD = Field(min_length=1, max_length=1024)
CODE = Field(min_length=6, max_length=8, description="the 6-digit code of the authenticator app")


class TokenResponse(BaseModel):
    """OAuth 2.0 token response (RFC 6749 §5.1)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds the access token is valid")
    refresh_token: str = Field(description="single use: each refresh returns a new one")


class RefreshBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=200)
    grant_type: Literal["refresh_token"] | None = None


class LogoutBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=200)


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = PASSWORD
    new_password: str = PASSWORD


class TotpEnrolment(BaseModel):
    secret: str = Field(description="base32; type it into the app, or scan otpauth_uri")
    otpauth_uri: str


class TotpCode(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = CODE


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    role: str
    email: str | None
    active: bool
    totp_enabled: bool
    created_at: datetime
    updated_at: datetime
    password_changed_at: datetime
    last_login_at: datetime | None


class MeOut(BaseModel):
    """The caller: a user (the user fields) or an API key (its name and scopes)."""

    kind: Literal["user", "api_key"]
    id: int
    name: str
    role: str | None = None
    scopes: list[str] | None = None
    user: UserOut | None = None


def _email(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(EMAIL_PATTERN, value):
        raise ValueError("is not an e-mail address")
    return value


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(
        pattern=USERNAME_PATTERN,
        description="2 to 64 characters: lower-case letters, digits, '.', '_', '-'",
    )
    password: str = PASSWORD
    role: Role
    email: str | None = Field(default=None, max_length=255)

    _email = field_validator("email")(_email)


class UserUpdate(BaseModel):
    """Only the fields sent change; ``email: null`` removes the address."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    email: str | None = Field(default=None, max_length=255)
    active: bool | None = None
    password: str | None = Field(default=None, min_length=1, max_length=1024)

    _email = field_validator("email")(_email)

    @field_validator("role", "active", "password")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be left out but not null")
        return value
