"""Password hashing (Argon2id) and the password policy.

Hashes use pwdlib's Argon2 hasher with its default cost (64 MiB, 3 passes): slow on purpose, so
a stolen table of hashes takes years to guess through. Verifying costs about as much as hashing,
so callers on the event loop run these in a thread (``asyncio.to_thread``).

The policy follows NIST SP 800-63B: length and a list of known-breached passwords, no rules
about character classes, which only make people write passwords down.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher

from shopfloor.core.errors import ValidationFailed

MIN_LENGTH = 12
# Argon2 reads any length; the cap only keeps a request from buying minutes of CPU.
MAX_LENGTH = 1024

_hasher = Argon2Hasher()
_password_hash = PasswordHash((_hasher,))

# Verified against when the user name is unknown or the user inactive, so that the answer takes
# as long as for a real user and its timing does not tell which names exist. It has the
# hasher's default parameters (a test checks it needs no rehash), hence the same cost.
DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$cl09Np4sYGlnDaWauGI/0w$"
    "G57YWNzgdeCCra3nyoPIoN7YrxVXIZ4O2CneOUOCIwc"
)


def hash_password(password: str) -> str:
    """The Argon2id hash of ``password`` (salted; PHC string format)."""
    return _password_hash.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    """True when ``password`` matches; False too for a hash this hasher cannot read."""
    try:
        return _password_hash.verify(password, password_hash)
    except UnknownHashError:
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than today's (rehash on sign-in)."""
    return not _hasher.identify(password_hash) or _hasher.check_needs_rehash(password_hash)


@cache
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords (zxcvbn's list), lower-case; loaded on first use."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


def password_problems(password: str, username: str | None = None) -> list[str]:
    """What is wrong with ``password`` for the user ``username``; empty when it is fine."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters long")
    if password.lower() in common_passwords():
        problems.append("is one of the most common passwords; choose another")
    if username and username.lower() in password.lower():
        problems.append("must not contain the user name")
    return problems


def check_password_policy(password: str, username: str | None, field: str = "password") -> None:
    """Raise ValidationFailed listing every rule ``password`` breaks (``field`` names it)."""
    problems = password_problems(password, username)
    if problems:
        errors: list[dict[str, Any]] = [
            {"loc": [field], "msg": problem, "type": "password_policy"} for problem in problems
        ]
        raise ValidationFailed(f"the {field.replace('_', ' ')} is not allowed", errors=errors)
