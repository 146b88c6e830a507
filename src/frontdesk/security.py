"""Passwords and bearer tokens.

Passwords are hashed with Argon2id. Tokens (agent sessions, visitor tokens) are 256-bit
random strings shown once; only their SHA-256 is stored, so a copy of the database logs
nobody in. A fast hash is fine for tokens: they carry full entropy, unlike passwords.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Literal

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

AGENT_TOKEN_PREFIX = "fda_"  # noqa: S105 (a prefix, not a secret)
VISITOR_TOKEN_PREFIX = "fdv_"  # noqa: S105


class PasswordHasher:
    def __init__(self, profile: Literal["standard", "fast"] = "standard") -> None:
        parameters = (
            argon2.profiles.RFC_9106_LOW_MEMORY
            if profile == "standard"
            else argon2.profiles.CHEAPEST
        )
        self._hasher = argon2.PasswordHasher.from_parameters(parameters)
        # Checked against when the e-mail is unknown, so a login takes as long either way and
        # does not tell which addresses have accounts.
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._decoy, password) and bool(
                password_hash
            )
        except (VerificationError, InvalidHashError):
            return False


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_widget_key() -> str:
    return secrets.token_urlsafe(18)
