"""Passwords and bearer tokens.

Passwords are hashed with Argon2id. Tokens (agent sessions, visitor tokens) are 256-bit
random strings shown once; only their SHA-256 is stored, so a copy of the database logs
nobody in. A fast hash is fine for tokens: they carry full entropy, unlike passwords.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import argon2

AGENT_TOKEN_PREFIX = "fda_"  # noqa: S105 (a prefix, not a secret)
VISITOR_TOKEN_PREFIX = "fdv_"  # noqa: S105


class PasswordHasher:
    def __init__(self, profile: Literal["standard", "fast"] = "standard") -> None:
        self._profile = profile

    @cached_property
    def _hasher(self) -> argon2.PasswordHasher:
        """Loaded at the first password: a process that checks none (a worker) does not
        hold argon2 and its CFFI bindings (0.5 MB)."""
        import argon2

        parameters = (
            argon2.profiles.RFC_9106_LOW_MEMORY
            if self._profile == "standard"
            else argon2.profiles.CHEAPEST
        )
        return argon2.PasswordHasher.from_parameters(parameters)

    @cached_property
    def _decoy(self) -> str:
        """Checked against when the e-mail is unknown, so a login takes as long either way
        and does not tell which addresses have accounts. Made at the process's first login
        (of any address, so that one is no slower for an unknown address), not when the
        process starts: a hash takes 64 MiB for a moment, which a process that checks no
        password (a worker) would otherwise hold as its peak memory."""
        return self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        from argon2.exceptions import InvalidHashError, VerificationError

        decoy = self._decoy
        try:
            return self._hasher.verify(password_hash or decoy, password) and bool(password_hash)
        except (VerificationError, InvalidHashError):
            return False


def password_weakness(
    password: str, *, user_inputs: Sequence[str] = (), min_guesses: int
) -> str | None:
    """Why ``password`` is too easy to guess (zxcvbn's estimate of the guesses it takes,
    against ``min_guesses``, counting the person's own name and address as known to the
    guesser), or None. Loaded on first use: zxcvbn's word lists are megabytes a serve that
    checks no password need not hold."""
    from zxcvbn import zxcvbn

    known = [i for i in user_inputs if i]
    # An address's parts are words of their own to a guesser: "jana.novak" of jana.novak@….
    known += [part for i in known if "@" in i for part in i.partition("@")[::2]]
    estimate = zxcvbn(password[:100], user_inputs=known)
    if estimate["guesses"] >= min_guesses:
        return None
    feedback = estimate.get("feedback") or {}
    said = feedback.get("warning") or "It is a common password or a simple pattern."
    hints = " ".join(feedback.get("suggestions") or [])
    return f"This password is too easy to guess. {said} {hints}".strip()


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_widget_key() -> str:
    return secrets.token_urlsafe(18)


# What a log line must never carry: a token (they all start with a prefix of ours), and any
# value of a query or form field that holds one or a password.
_TOKEN_IN_TEXT = re.compile(r"\b(fd[av]_)[A-Za-z0-9_-]{4,}")
_SECRET_FIELD = re.compile(
    r"(\b(?:token|visitor_token|password|current_password|metrics_token)=)[^&\s\"'<>]+",
    re.IGNORECASE,
)
REDACTED = "…redacted"


def redact(text: str) -> str:
    """``text`` with every token and secret field value replaced by ``…redacted``."""
    if "fd" not in text and "=" not in text:
        return text
    return _SECRET_FIELD.sub(rf"\1{REDACTED}", _TOKEN_IN_TEXT.sub(rf"\1{REDACTED}", text))


class RedactSecrets(logging.Filter):
    """On a log handler: every record it writes goes out with its tokens and secrets
    redacted (``redact``), whoever logged it (uvicorn logs a socket's URL, for one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {
                k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True


def redacting_handlers(logger: logging.Logger | None = None) -> None:
    """Put ``RedactSecrets`` on every handler of ``logger`` (the root logger)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())
