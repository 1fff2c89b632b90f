"""Password hashing, the password policy, and the signing key kept in the data directory."""

from __future__ import annotations

import os
import stat

import pytest
from pwdlib.hashers.argon2 import Argon2Hasher

from shopfloor.auth.passwords import (
    DUMMY_HASH,
    check_password_policy,
    hash_password,
    needs_rehash,
    verify_password,
)
from shopfloor.auth.secret import KEY_FILE, signing_key
from shopfloor.config import Settings
from shopfloor.core.errors import ValidationFailed


def policy_messages(password: str, username: str | None = "alice") -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        check_password_policy(password, username)
    assert all(error["loc"] == ["password"] for error in caught.value.errors)
    return [error["msg"] for error in caught.value.errors]


def test_a_long_unusual_password_passes():
    check_password_policy("violet-anvil-harbour-93", "alice")


def test_a_short_password_is_refused():
    check_password_policy("Sh0rt-but-ok", "alice")  # 12 characters: long enough
    assert policy_messages("eleven-char") == ["must be at least 12 characters long"]


@pytest.mark.parametrize(
    "password", ["password1234", "PASSWORD1234", "1q2w3e4r5t6y", "Qwertyuiop123"]
)
def test_common_passwords_are_refused_whatever_their_case(password):
    assert "is one of the most common passwords; choose another" in policy_messages(password)


def test_a_password_holding_the_user_name_is_refused():
    assert policy_messages("my-name-is-ALICE-ok", "alice") == ["must not contain the user name"]


def test_every_broken_rule_is_listed():
    assert policy_messages("alice-zq81", "alice") == [
        "must be at least 12 characters long",
        "must not contain the user name",
    ]


def test_hashes_are_argon2id_salted_and_verify():
    first, second = (
        hash_password("violet-anvil-harbour-93"),
        hash_password("violet-anvil-harbour-93"),
    )
    assert first.startswith("$argon2id$") and first != second
    assert verify_password("violet-anvil-harbour-93", first)
    assert not verify_password("violet-anvil-harbour-94", first)
    assert not verify_password("violet-anvil-harbour-93", "not a hash at all")
    assert not needs_rehash(first)


def test_the_dummy_hash_costs_what_a_real_one_does():
    # Same parameters as today's hashes, so a sign-in for an unknown name takes as long.
    assert not needs_rehash(DUMMY_HASH)
    assert DUMMY_HASH.split("$")[3] == hash_password("x").split("$")[3]


def test_weaker_hashes_are_marked_for_rehash():
    weak = Argon2Hasher(time_cost=1, memory_cost=8192).hash("violet-anvil-harbour-93")
    assert verify_password("violet-anvil-harbour-93", weak)
    assert needs_rehash(weak)


def test_the_configured_secret_key_wins(tmp_path):
    settings = Settings(data_dir=tmp_path, secret_key="configured-key-0123456789-abcdefghij")
    assert signing_key(settings) == "configured-key-0123456789-abcdefghij"
    assert not (tmp_path / KEY_FILE).exists()


def test_without_one_a_key_is_made_once_readable_by_its_owner_only(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    key = signing_key(settings)
    path = tmp_path / "data" / KEY_FILE
    assert len(key) >= 64
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_text() == key
    assert signing_key(Settings(data_dir=tmp_path / "data")) == key


def test_a_key_another_process_wrote_is_used(tmp_path):
    (tmp_path / KEY_FILE).write_text("made-by-another-process\n")
    assert signing_key(Settings(data_dir=tmp_path)) == "made-by-another-process"
