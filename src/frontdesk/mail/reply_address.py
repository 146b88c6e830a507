"""Reply addresses: ``reply+<token>@<reply domain>``, the Reply-To of an e-mail that may be
answered by replying (docs/reply-by-email.md). The token is 130 random bits, written in
lower-case base32 because mail systems may fold a local part to lower case on the way
back; only its SHA-256 is stored, so the database alone cannot be used to post into a
conversation. Which agent or visitor and conversation a token stands for is the store's
business (``frontdesk.service.replies``)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

from frontdesk.mail.verp import plus_tag

LOCAL_PART = "reply"
_TOKEN_LENGTH = 26  # 16 random bytes in base32, without padding
_TOKEN = re.compile(rf"^[a-z2-7]{{{_TOKEN_LENGTH}}}$")


def new_reply_token() -> str:
    return base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=").lower()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.lower().encode("ascii")).hexdigest()


def reply_address(domain: str, token: str) -> str:
    return f"{LOCAL_PART}+{token}@{domain}"


def reply_token_of(domain: str, recipient: str) -> str | None:
    """The token of ``recipient`` when it has the shape of a reply address of ``domain``
    (case ignored), else ``None``; whether the token is a live one is the store's to say."""
    token = plus_tag(LOCAL_PART, domain, recipient)
    return token if token is not None and _TOKEN.fullmatch(token) else None
