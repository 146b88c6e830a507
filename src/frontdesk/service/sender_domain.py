"""The sender domain's SPF, DKIM and DMARC as ``frontdesk mail check`` sees them, for the
reachability checklist (docs/reachability.md): looked up in the background, at most once per
``mail_check_cache_for`` in each process, each DNS lookup bounded by ``mail_check_timeout``.

A checklist request never runs DNS itself: it finds the answer cached, or starts the one
look-up of this process and waits for it at most ``mail_check_timeout``; a look-up that takes
longer (a name server that does not answer) answers ``checking`` now and its findings later.
An answer past its time is still shown while the next look-up runs.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from frontdesk.core.reachability import SenderDomainState
from frontdesk.mail.transport import SmtpTarget
from frontdesk.mail.verp import bare_address
from frontdesk.service.runtime import Runtime
from frontdesk.settings import Settings

if TYPE_CHECKING:  # dnspython and dkimpy are loaded with the first look-up only
    from frontdesk.mail import check as mail_check
    from frontdesk.mail.check import Finding

log = logging.getLogger("frontdesk.reachability")

# What the checklist shows of ``frontdesk mail check``: whether receivers trust the sender.
_SHOWN = ("sender", "SPF", "DKIM", "DMARC", "alignment")


@dataclass(frozen=True, slots=True)
class DomainFinding:
    check: str
    status: str
    summary: str


@dataclass(frozen=True, slots=True)
class SenderDomain:
    state: SenderDomainState
    domain: str
    checked_at: datetime | None
    findings: tuple[DomainFinding, ...] = ()


@dataclass(frozen=True, slots=True)
class _Key:
    setup: mail_check.MailSetup
    nameserver: str | None
    timeout: float


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answers: dict[_Key, SenderDomain] = {}
        self.running: dict[_Key, threading.Event] = {}


_cache = _Cache()


def mail_setup(settings: Settings) -> mail_check.MailSetup:
    """What Frontdesk sends with, as ``frontdesk mail check`` builds it."""
    from frontdesk.mail import check as mail_check

    target = _relay(settings)
    return mail_check.MailSetup(
        mail_from=settings.mail_from,
        bounce_address=settings.bounce_address,
        relay_host=target.host if target else None,
        dkim_domain=settings.dkim_domain,
        dkim_selector=settings.dkim_selector,
        dkim_private_key_file=settings.dkim_private_key_file,
        public_url=settings.public_url,
        reply_domain=settings.effective_reply_domain if settings.replies_enabled else None,
    )


def _relay(settings: Settings) -> SmtpTarget | None:
    if not settings.smtp_url:
        return None
    try:
        return SmtpTarget.parse(settings.smtp_url)
    except ValueError:
        return None


def sender_domain(rt: Runtime) -> SenderDomain:
    """The latest answer of this process, looked up again when it is older than
    ``mail_check_cache_for``."""
    settings = rt.settings
    if not settings.smtp_url:
        domain = bare_address(settings.mail_from).rpartition("@")[2].lower()
        return SenderDomain(SenderDomainState.NOT_APPLICABLE, domain, None)
    setup = mail_setup(settings)
    key = _Key(setup, settings.mail_check_nameserver, settings.mail_check_timeout)
    now = rt.clock.now()
    fresh_for = timedelta(seconds=settings.mail_check_cache_for)
    with _cache.lock:
        answer = _cache.answers.get(key)
        if answer is not None and answer.checked_at and now - answer.checked_at < fresh_for:
            return answer
        done = _cache.running.get(key)
        if done is None:
            done = _cache.running[key] = threading.Event()
            threading.Thread(
                target=_look_up, args=(rt, key, done), name="frontdesk-mail-check", daemon=True
            ).start()
    done.wait(settings.mail_check_timeout)
    with _cache.lock:
        answer = _cache.answers.get(key)
    if answer is not None:
        return answer
    return SenderDomain(SenderDomainState.CHECKING, setup.from_domain, None)


def _look_up(rt: Runtime, key: _Key, done: threading.Event) -> None:
    try:
        answer = _checked(rt, key)
    except Exception:  # a finding, never a crash: the checks turn DNS failures into findings
        log.exception("the sender domain check failed")
        answer = SenderDomain(
            SenderDomainState.UNCHECKED, key.setup.from_domain, rt.clock.now(), ()
        )
    with _cache.lock:
        _cache.answers[key] = answer
        _cache.running.pop(key, None)
    done.set()


def _checked(rt: Runtime, key: _Key) -> SenderDomain:
    from frontdesk.mail import check as mail_check

    resolver = mail_check.make_resolver(key.nameserver, timeout=key.timeout)
    findings = [f for f in mail_check.check_dns(key.setup, resolver) if f.check.value in _SHOWN]
    return SenderDomain(
        _state(findings),
        key.setup.from_domain,
        rt.clock.now(),
        tuple(DomainFinding(f.check.value, f.status.value, f.summary) for f in findings),
    )


def _state(findings: list[Finding]) -> SenderDomainState:
    from frontdesk.mail.check import Status

    to_fix = [f for f in findings if f.status.needs_fixing]
    if not to_fix:
        return SenderDomainState.OK
    if all(f.status is Status.UNCHECKED for f in to_fix):
        return SenderDomainState.UNCHECKED
    return SenderDomainState.FAILING
