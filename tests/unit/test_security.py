"""Passwords and tokens."""

from __future__ import annotations

from frontdesk.security import AGENT_TOKEN_PREFIX, PasswordHasher, new_token, token_digest


def test_a_password_verifies_only_against_its_own_hash() -> None:
    hasher = PasswordHasher("fast")
    stored = hasher.hash("correct horse")
    assert stored.startswith("$argon2id$")
    assert hasher.verify(stored, "correct horse")
    assert not hasher.verify(stored, "correct horsE")


def test_an_unknown_user_never_verifies() -> None:
    hasher = PasswordHasher("fast")
    assert not hasher.verify(None, "anything")
    assert not hasher.verify("not-a-hash", "anything")


def test_tokens_are_random_and_stored_only_as_digests() -> None:
    a, b = new_token(AGENT_TOKEN_PREFIX), new_token(AGENT_TOKEN_PREFIX)
    assert a != b
    assert a.startswith(AGENT_TOKEN_PREFIX)
    assert len(token_digest(a)) == 64
    assert a not in token_digest(a)
