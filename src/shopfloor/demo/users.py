"""The demo's sign-ins: one user per role, all with the same password, printed at start."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from shopfloor.auth.context import Acting, acting_as
from shopfloor.auth.models import User
from shopfloor.auth.passwords import hash_password, verify_password
from shopfloor.auth.roles import ROLES
from shopfloor.auth.users import create_user
from shopfloor.storage import Database

DEMO_PASSWORD = "shopfloor-demo"
DEMO_USERNAMES = {
    "viewer": "viewer",
    "operator": "operator",
    "inspector": "inspector",
    "maintenance_engineer": "maintenance",
    "quality_manager": "quality",
    "admin": "admin",
}


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str


async def ensure_demo_users(db: Database) -> list[DemoLogin]:
    """Creates the demo users that are missing and gives every one the demo password again."""
    logins = [DemoLogin(DEMO_USERNAMES[role], role) for role in ROLES]
    with acting_as(Acting(actor="system:demo", source="demo", operation="demo users")):
        async with db.write() as session:
            existing = {
                user.username: user
                for user in await session.scalars(
                    select(User).where(User.username.in_([login.username for login in logins]))
                )
            }
            for login in logins:
                user = existing.get(login.username)
                if user is None:
                    await create_user(
                        session, username=login.username, password=DEMO_PASSWORD, role=login.role
                    )
                elif not verify_password(DEMO_PASSWORD, user.password_hash):
                    user.password_hash = hash_password(DEMO_PASSWORD)
    return logins


def describe(logins: list[DemoLogin]) -> str:
    width = max(len(login.username) for login in logins)
    lines = [f"  {login.username.ljust(width)}  {login.role}" for login in logins]
    return "\n".join([f"demo sign-ins (password {DEMO_PASSWORD!r} for each):", *lines])
