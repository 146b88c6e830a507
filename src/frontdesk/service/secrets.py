"""The installation's own keys, and what they sign.

A key is made at random the first time it is needed and kept in the database, so every
process of one installation signs and checks with the same one, and restarts change nothing.
Two processes that make one at the same moment agree: the first insert wins, the other reads
it back.

Signed here: the one-click unsubscribe links of notification e-mails (``unsubscribe_token``),
the invitations to sign up (``signup_invitation``) and the links that confirm an address
(``address_confirmation``).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass
from functools import lru_cache

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from frontdesk.core.notifications import NotificationKind
from frontdesk.service.runtime import Runtime
from frontdesk.store.models import InstallationSecret

SIGNING_KEY = "signing"
# Signs the tokens of VERP return paths (frontdesk.mail.verp).
VERP_KEY = "verp"

_cache: dict[tuple[int, str], bytes] = {}
_cache_lock = threading.Lock()


def installation_secret(rt: Runtime, name: str = SIGNING_KEY) -> bytes:
    """The key called ``name``, made on first use."""
    cache_key = (id(rt.database), name)
    with _cache_lock:
        cached = _cache.get(cache_key)
    if cached is not None:
        return cached
    value = _read(rt, name)
    if value is None:
        try:
            with rt.database.write() as session:
                session.add(
                    InstallationSecret(
                        name=name, value=secrets.token_hex(32), created_at=rt.clock.now()
                    )
                )
        except IntegrityError:
            pass  # another process made it first: theirs is the one
        value = _read(rt, name)
        assert value is not None
    key = bytes.fromhex(value)
    with _cache_lock:
        _cache[cache_key] = key
    return key


def _read(rt: Runtime, name: str) -> str | None:
    with rt.database.read() as session:
        return session.scalar(
            select(InstallationSecret.value).where(InstallationSecret.name == name)
        )


# --- one-click unsubscribe ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """What an unsubscribe link switches off: one kind of e-mail, for one agent."""

    agent_id: int
    kind: NotificationKind


_UNSUBSCRIBE_SALT = "frontdesk.unsubscribe"


@lru_cache(maxsize=8)
def _unsubscribe_serializer(secret: bytes) -> URLSafeSerializer:
    return URLSafeSerializer(
        secret, salt=_UNSUBSCRIBE_SALT, signer_kwargs={"digest_method": hashlib.sha256}
    )


def unsubscribe_token(rt: Runtime, agent_id: int, kind: NotificationKind) -> str:
    return _signed_unsubscribe(installation_secret(rt), agent_id, kind)


@lru_cache(maxsize=4096)
def _signed_unsubscribe(secret: bytes, agent_id: int, kind: NotificationKind) -> str:
    """The same for the same agent and kind (the signature has no time in it), so an
    agent's link is made once, not for each e-mail."""
    return str(_unsubscribe_serializer(secret).dumps([agent_id, kind.value]))


def read_unsubscribe_token(rt: Runtime, token: str) -> Unsubscribe | None:
    """What a token switches off, or ``None`` when it was not signed by this installation."""
    try:
        payload = _unsubscribe_serializer(installation_secret(rt)).loads(token)
    except BadSignature:
        return None
    match payload:
        case [int() as agent_id, str() as kind] if kind in NotificationKind._value2member_map_:
            return Unsubscribe(agent_id=agent_id, kind=NotificationKind(kind))
    return None


# --- invitations to sign up --------------------------------------------------------------

_SIGNUP_SALT = "frontdesk.signup"


def _signup_serializer(rt: Runtime) -> URLSafeSerializer:
    return URLSafeSerializer(
        installation_secret(rt),
        salt=_SIGNUP_SALT,
        signer_kwargs={"digest_method": hashlib.sha256},
    )


def signup_invitation(rt: Runtime, email: str) -> str:
    """An invitation for ``email`` to create one account, valid for
    ``signup_invitation_valid_for`` from now (on the runtime's clock)."""
    issued = int(rt.clock.now().timestamp())
    return str(_signup_serializer(rt).dumps([email.strip().casefold(), issued]))


def read_signup_invitation(rt: Runtime, token: str) -> str | None:
    """The address an invitation was made for, or ``None`` when this installation did not
    sign it or it has run out."""
    try:
        payload = _signup_serializer(rt).loads(token)
    except BadSignature:
        return None
    match payload:
        case [str() as email, int() as issued]:
            age = rt.clock.now().timestamp() - issued
            if 0 <= age <= rt.settings.signup_invitation_valid_for:
                return email
    return None


# --- address confirmations ---------------------------------------------------------------

_CONFIRM_SALT = "frontdesk.confirm-address"


def _confirm_serializer(rt: Runtime) -> URLSafeSerializer:
    return URLSafeSerializer(
        installation_secret(rt),
        salt=_CONFIRM_SALT,
        signer_kwargs={"digest_method": hashlib.sha256},
    )


@dataclass(frozen=True, slots=True)
class AddressConfirmation:
    agent_id: int
    email_key: str  # the address it was sent to, folded: a changed address is not confirmed


def address_confirmation(rt: Runtime, agent_id: int, email: str) -> str:
    """The token of a confirmation (or invitation) link: it proves that whoever follows
    it reads ``email``. Valid for ``address_confirmation_valid_for`` from now."""
    issued = int(rt.clock.now().timestamp())
    return str(_confirm_serializer(rt).dumps([agent_id, email.strip().casefold(), issued]))


def read_address_confirmation(rt: Runtime, token: str) -> AddressConfirmation | None:
    """What a confirmation link proves, or ``None`` when this installation did not sign it
    or it has run out."""
    try:
        payload = _confirm_serializer(rt).loads(token)
    except BadSignature:
        return None
    match payload:
        case [int() as agent_id, str() as email_key, int() as issued]:
            age = rt.clock.now().timestamp() - issued
            if 0 <= age <= rt.settings.address_confirmation_valid_for:
                return AddressConfirmation(agent_id=agent_id, email_key=email_key)
    return None
