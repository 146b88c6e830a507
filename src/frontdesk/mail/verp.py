"""VERP return paths: every notification e-mail goes out with an envelope sender of its own,
``<local>+<token>@<domain>`` of the bounce address, so that a delivery-status notification
that comes back names the delivery it is about — by the address it was sent to, whatever
the returned e-mail looks like. Design notes: docs/email.md (bounces).

The token is the delivery's id and a short HMAC of it, made with a key of the installation:
anybody can send mail to a return path, but only Frontdesk can make one, so nobody can mark
somebody else's e-mail bounced by guessing ids. Tokens are lower-case hex and digits because
mail systems may fold local parts to lower case on the way back. An outbox e-mail's token (a
confirmation, an address test, a test notification) is its row's id after an ``o``, with an
HMAC of its own kind, so that neither can ever be read as the other.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from email.utils import parseaddr

# 40 bits: a forger must guess online, one SMTP transaction per try, for one delivery.
MAC_LENGTH = 10
_TOKEN = re.compile(rf"^(o?)([0-9]{{1,19}})-([0-9a-f]{{{MAC_LENGTH}}})$")
_OUTBOX = "o"


def verp_token(key: bytes, delivery_id: int) -> str:
    return f"{delivery_id}-{_mac(key, delivery_id)}"


def outbox_verp_token(key: bytes, outbox_id: int) -> str:
    return f"{_OUTBOX}{outbox_id}-{_mac(key, outbox_id, kind=_OUTBOX)}"


def delivery_of_token(key: bytes, token: str) -> int | None:
    """The delivery a token names, or ``None`` when this installation did not make it."""
    return _id_of(key, token, kind="")


def outbox_of_token(key: bytes, token: str) -> int | None:
    """The outbox e-mail a token names, or ``None`` when this installation did not make it."""
    return _id_of(key, token, kind=_OUTBOX)


def _id_of(key: bytes, token: str, *, kind: str) -> int | None:
    match = _TOKEN.fullmatch(token.lower())
    if match is None or match.group(1) != kind:
        return None
    row_id = int(match.group(2))
    if not hmac.compare_digest(match.group(3), _mac(key, row_id, kind=kind)):
        return None
    return row_id


def _mac(key: bytes, row_id: int, *, kind: str = "") -> str:
    what = f"frontdesk.verp.{row_id}" if not kind else f"frontdesk.verp.outbox.{row_id}"
    digest = hmac.new(key, what.encode(), hashlib.sha256)
    return digest.hexdigest()[:MAC_LENGTH]


def bare_address(address: str) -> str:
    """``Frontdesk <bounces@example.com>`` → ``bounces@example.com``."""
    return parseaddr(address)[1] or address


def return_path_base(bounce_address: str | None, mail_from: str) -> str:
    """The address whose ``+token`` variants are the return paths: ``bounce_address``, or
    else the address of ``mail_from``."""
    return bare_address(bounce_address or mail_from)


def return_path(bounce_address: str, token: str) -> str:
    """The envelope sender of one e-mail. A bounce address without a domain cannot carry a
    token; it is then used as it is (and bounces cannot be told apart)."""
    local, at, domain = bare_address(bounce_address).rpartition("@")
    if not at or not local:
        return bare_address(bounce_address)
    return f"{local}+{token}@{domain}"


def token_of(bounce_address: str, recipient: str) -> str | None:
    """The token of ``recipient`` when it has the shape of one of our return paths (the
    bounce address's local part and domain, ignoring case, with a token after ``+``); the
    token is not checked here, see ``delivery_of_token``."""
    local, at, domain = bare_address(bounce_address).rpartition("@")
    if not at:
        return None
    token = plus_tag(local, domain, recipient)
    return token if token is not None and _TOKEN.fullmatch(token) else None


def plus_tag(local: str, domain: str, recipient: str) -> str | None:
    """What follows ``local+`` in ``recipient`` at ``domain`` (case ignored, lower case),
    or ``None`` when ``recipient`` is no such address."""
    their_local, their_at, their_domain = recipient.strip().strip("<>").rpartition("@")
    if not their_at or their_domain.lower() != domain.lower():
        return None
    prefix = f"{local.lower()}+"
    if not their_local.lower().startswith(prefix):
        return None
    return their_local[len(prefix) :].lower()
