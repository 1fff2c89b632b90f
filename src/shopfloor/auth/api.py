"""HTTP: sign-in (``/auth/*``) and user management (``/users``).

``POST /auth/token`` is the OAuth 2.0 password grant (a form, as Swagger's "Authorize" sends it)
with an optional ``totp`` field; ``POST /auth/refresh`` trades a refresh token for a new pair
(JSON or form). Answers carrying tokens say ``Cache-Control: no-store``.

Who may call what is decided centrally (``auth.policy`` and ``auth.guard``), which sets
``request.state.principal``; routes here never look at roles. Sign-in failures are committed
although the request fails (the lockout counts them), so those routes open their own units of
work (see ``users.authenticate_password``).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from fastapi import APIRouter, Form, Query, Request, Response
from pydantic import ValidationError

from shopfloor.auth import tokens, totp, users
from shopfloor.auth.lockout import AuthRateLimiter
from shopfloor.auth.models import User
from shopfloor.auth.principal import Principal
from shopfloor.auth.schemas import (
    LogoutBody,
    MeOut,
    PasswordChange,
    RefreshBody,
    TokenResponse,
    TotpCode,
    TotpEnrolment,
    UserCreate,
    UserOut,
    UserUpdate,
)
from shopfloor.auth.secret import signing_key
from shopfloor.config import Settings
from shopfloor.core.errors import (
    MalformedBody,
    Unauthorized,
    ValidationFailed,
)
from shopfloor.core.idempotency import create_once
from shopfloor.core.pagination import Page, page_of
from shopfloor.storage.lookup import id_cursor

router = APIRouter()
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
FORM = "application/x-www-form-urlencoded"


# --- helpers ------------------------------------------------------------------------------


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _source(request: Request) -> str | None:
    return request.client.host if request.client else None


def _principal(request: Request) -> Principal:
    principal = getattr(request.state, "principal", None)
    if principal is None:
        raise Unauthorized("Sign in: send a bearer token or an X-API-Key header.")
    return principal


def _user_id(request: Request) -> int:
    """The signed-in user's id; the policy (``Access.USER``) keeps API keys out of these routes."""
    return _principal(request).id


def _rate_limit(request: Request) -> None:
    """Count the request against its address's sign-in rate (one limiter per app)."""
    state = request.app.state
    limiter = getattr(state, "auth_rate_limiter", None)
    if limiter is None:
        limiter = state.auth_rate_limiter = AuthRateLimiter(_settings(request).auth_rate_limit)
    limiter.hit(_source(request))


async def _token_pair(request: Request, response: Response, user: User) -> TokenResponse:
    """A fresh access token and a refresh token of a new family (a sign-in)."""
    settings = _settings(request)
    async with request.app.state.db.write() as session:
        refresh = await tokens.issue_refresh_token(
            session, user, settings.refresh_token_ttl_s, source=_source(request)
        )
    return _answer(response, settings, user, refresh)


def _answer(response: Response, settings: Settings, user: User, refresh: str) -> TokenResponse:
    response.headers.update(NO_STORE)
    return TokenResponse(
        access_token=tokens.issue_access_token(
            signing_key(settings), user, settings.access_token_ttl_s
        ),
        expires_in=settings.access_token_ttl_s,
        refresh_token=refresh,
    )


async def _refresh_body(request: Request) -> RefreshBody:
    """The refresh token from a JSON body or (OAuth 2.0 style) a form."""
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith((FORM, "multipart/form-data")):
        form = await request.form()
        data: Any = {name: form[name] for name in ("refresh_token", "grant_type") if name in form}
    else:
        try:
            data = await request.json()
        except ValueError:
            raise MalformedBody("The body must be JSON {refresh_token} or a form.") from None
    try:
        return RefreshBody.model_validate(data)
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise ValidationFailed(
            f"{len(errors)} field(s) failed validation.", errors=errors
        ) from None


REFRESH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": RefreshBody.model_json_schema()},
            FORM: {"schema": RefreshBody.model_json_schema()},
        },
    }
}


# --- sign-in ------------------------------------------------------------------------------


@router.post(
    "/auth/token",
    response_model=TokenResponse,
    tags=["auth"],
    summary="Sign in with a user name and password (OAuth 2.0 password grant)",
)
async def sign_in(
    request: Request,
    response: Response,
    username: str = Form(..., max_length=200),
    password: str = Form(..., max_length=1024),
    totp_code: str | None = Form(
        None, alias="totp", max_length=16, description="the authenticator app's code, if enrolled"
    ),
    grant_type: str | None = Form(None, pattern="^password$"),
    scope: str = Form("", description="ignored: a user's role decides what it may do"),
) -> TokenResponse:
    _rate_limit(request)
    user = await users.authenticate_password(
        request.app.state.db,
        username,
        password,
        totp_code,
        _source(request),
        _settings(request),
    )
    return await _token_pair(request, response, user)


@router.post(
    "/auth/refresh",
    response_model=TokenResponse,
    tags=["auth"],
    summary="Trade a refresh token for a new access token and a new refresh token",
    description="A refresh token works once. Presenting a spent one again revokes every token "
    "of that sign-in (someone else has a copy): both holders have to sign in again.",
    openapi_extra=REFRESH_BODY,
)
async def refresh(request: Request, response: Response) -> TokenResponse:
    _rate_limit(request)
    body = await _refresh_body(request)
    settings = _settings(request)
    reused: tokens.RefreshTokenReused | None = None
    async with request.app.state.db.write() as session:
        try:
            user, new_refresh = await tokens.rotate_refresh_token(
                session, body.refresh_token, settings.refresh_token_ttl_s, source=_source(request)
            )
        except tokens.RefreshTokenReused as exc:
            reused = exc  # raised once the revocation of the family is committed
    if reused is not None:
        raise reused
    return _answer(response, settings, user, new_refresh)


@router.post(
    "/auth/logout",
    status_code=204,
    response_class=Response,
    tags=["auth"],
    summary="Sign out: the refresh token and every token it was rotated from or into stop",
)
async def logout(request: Request, body: LogoutBody) -> Response:
    async with request.app.state.db.write() as session:
        await tokens.revoke_family(session, body.refresh_token)
    return Response(status_code=204)


# --- one's own account --------------------------------------------------------------------


@router.get("/auth/me", response_model=MeOut, tags=["auth"], summary="Who the caller is")
async def me(request: Request) -> MeOut:
    principal = _principal(request)
    if principal.kind == "api_key":
        return MeOut(
            kind="api_key", id=principal.id, name=principal.name, scopes=sorted(principal.scopes)
        )
    async with request.app.state.db.read() as session:
        user = await users.get_user(session, principal.id)
    return MeOut(
        kind="user",
        id=user.id,
        name=user.username,
        role=user.role,
        user=UserOut.model_validate(user),
    )


@router.post(
    "/auth/password",
    response_model=TokenResponse,
    tags=["auth"],
    summary="Change one's own password; answers with new tokens, as every older one ends",
)
async def change_password(
    request: Request, response: Response, body: PasswordChange
) -> TokenResponse:
    user_id = _user_id(request)
    _rate_limit(request)
    db = request.app.state.db
    async with db.read() as session:
        user = await users.get_user(session, user_id)
    async with db.write() as session:
        user = await users.change_own_password(
            session, user, body.current_password, body.new_password
        )
    return await _token_pair(request, response, user)


@router.post(
    "/auth/totp",
    response_model=TotpEnrolment,
    tags=["auth"],
    summary="Start two-factor enrolment: a new secret, on once confirmed with a code",
)
async def begin_totp(request: Request, response: Response) -> TotpEnrolment:
    user_id = _user_id(request)
    async with request.app.state.db.write() as session:
        secret, uri = totp.begin_enrolment(await users.get_user(session, user_id))
    response.headers.update(NO_STORE)
    return TotpEnrolment(secret=secret, otpauth_uri=uri)


@router.post(
    "/auth/totp/confirm",
    response_model=UserOut,
    tags=["auth"],
    summary="Confirm enrolment with the app's current code; sign-in needs a code from now on",
)
async def confirm_totp(request: Request, body: TotpCode) -> Any:
    user_id = _user_id(request)
    _rate_limit(request)
    async with request.app.state.db.write() as session:
        user = await users.get_user(session, user_id)
        totp.confirm_enrolment(user, body.code)
        return UserOut.model_validate(user)


@router.delete(
    "/auth/totp",
    status_code=204,
    response_class=Response,
    tags=["auth"],
    summary="Turn two-factor sign-in off (needs a current code)",
)
async def disable_totp(request: Request, body: TotpCode) -> Response:
    user_id = _user_id(request)
    _rate_limit(request)
    async with request.app.state.db.write() as session:
        totp.disable(await users.get_user(session, user_id), body.code)
    return Response(status_code=204)


# --- user management ----------------------------------------------------------------------


def _fingerprint(settings: Settings, body: UserCreate) -> dict[str, Any]:
    """What an Idempotency-Key is matched on: the password only as a keyed digest.

    A plain digest stored beside the key would be a fast hash of the password, an easy
    guess-and-check target; keyed with the signing key it is useless without that key.
    """
    key = signing_key(settings).encode()
    digest = hmac.new(key, body.password.encode(), hashlib.sha256).hexdigest()
    return {**body.model_dump(exclude={"password"}), "password_hmac": digest}


@router.post(
    "/users", status_code=201, response_model=UserOut, tags=["users"], summary="Create a user"
)
async def create_user(request: Request, body: UserCreate) -> Response:
    async def create(session: Any) -> dict[str, Any]:
        user = await users.create_user(
            session,
            username=body.username,
            password=body.password,
            role=body.role,
            email=body.email,
        )
        return UserOut.model_validate(user).model_dump(mode="json")

    payload = _fingerprint(_settings(request), body)
    taken = f"a user named {body.username!r} already exists"
    return await create_once(request.app.state.db, request, payload, create, taken=taken)


@router.get("/users", response_model=Page[UserOut], tags=["users"], summary="List users")
async def list_users(
    request: Request, limit: int = Query(100, ge=1, le=1000), cursor: str | None = None
) -> dict[str, Any]:
    async with request.app.state.db.read() as session:
        found = await users.list_users(session, after=id_cursor(cursor), limit=limit + 1)
    return page_of(found, limit, UserOut)


@router.get("/users/{user_id}", response_model=UserOut, tags=["users"])
async def get_user(request: Request, user_id: int) -> Any:
    async with request.app.state.db.read() as session:
        return UserOut.model_validate(await users.get_user(session, user_id))


@router.patch(
    "/users/{user_id}",
    response_model=UserOut,
    tags=["users"],
    summary="Change a user; a new role or password, or deactivation, signs them out",
)
async def update_user(request: Request, user_id: int, body: UserUpdate) -> Any:
    async with request.app.state.db.write() as session:
        return UserOut.model_validate(await users.update_user(session, user_id, body))


@router.delete(
    "/users/{user_id}",
    status_code=204,
    response_class=Response,
    tags=["users"],
    summary="Delete a user (409 for the last active admin)",
)
async def delete_user(request: Request, user_id: int) -> Response:
    async with request.app.state.db.write() as session:
        await users.delete_user(session, user_id)
    return Response(status_code=204)
