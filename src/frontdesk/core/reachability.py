"""Can an agent be reached? The verdicts of the reachability checklist (docs/reachability.md,
"Can I be reached? The checklist"), pure: facts in, for each item whether it is fine and, if
not, a ``Problem`` code that names what to do.

The items answer the help article's "why did no e-mail arrive?" one by one: the e-mails are
switched on (by the account and by the agent), the address is confirmed and does not bounce,
a browser or phone takes pushes, which devices are online now (an online agent gets no
offline e-mail), the sender domain's DNS, the last e-mail to the address, and the last test
notification. ``ok`` is ``None`` where there is nothing to judge: a fact for information,
or no e-mail or test yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from frontdesk.core.notifications import DeliveryState


class ItemKey(StrEnum):
    EMAILS_ON = "emails_on"
    ADDRESS_CONFIRMED = "address_confirmed"
    ADDRESS_NOT_BOUNCING = "address_not_bouncing"
    PUSH_SUBSCRIBED = "push_subscribed"
    DEVICES_ONLINE = "devices_online"
    SENDER_DOMAIN = "sender_domain"
    LAST_EMAIL = "last_email"
    TEST_NOTIFICATION = "test_notification"


# The order the checklist shows them in: the agent's own settings first, then the address,
# the other channels, the installation, and what actually happened.
ITEM_ORDER = tuple(ItemKey)


class Problem(StrEnum):
    """What is wrong with an item; each has its sentence saying what to do (the dashboard's
    ``reachability.problem.*`` strings, docs/reachability.md)."""

    ACCOUNT_EMAILS_OFF = "account_emails_off"  # Settings → Notifications has them off
    OWN_EMAILS_OFF = "own_emails_off"  # the agent switched a kind off for themselves
    ADDRESS_UNCONFIRMED = "address_unconfirmed"
    ADDRESS_BOUNCING = "address_bouncing"
    NO_PUSH_SUBSCRIPTION = "no_push_subscription"
    SENDER_DOMAIN_FAILING = "sender_domain_failing"  # SPF, DKIM or DMARC to fix
    SENDER_DOMAIN_UNCHECKED = "sender_domain_unchecked"  # DNS did not answer
    LAST_EMAIL_REJECTED = "last_email_rejected"  # 5xx, or 4xx for too long
    LAST_EMAIL_BOUNCED = "last_email_bounced"
    LAST_EMAIL_DEFERRED = "last_email_deferred"  # 4xx: tried again later
    TEST_EMAIL_FAILED = "test_email_failed"
    TEST_EMAIL_SKIPPED = "test_email_skipped"  # the address is not confirmed
    TEST_PUSH_FAILED = "test_push_failed"


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool | None
    problem: Problem | None = None


FINE = Verdict(True)
UNKNOWN = Verdict(None)


def emails_on(
    *,
    account_offline: bool,
    account_missed: bool,
    missed_in_plan: bool,
    own_offline: bool,
    own_missed: bool,
) -> Verdict:
    """The offline-message e-mail must be on for the account and for the agent; the
    missed-conversation e-mail is optional (off by default, as in the help article), but
    one the account sends and the agent switched off is a gap all the same."""
    if not account_offline:
        return Verdict(False, Problem.ACCOUNT_EMAILS_OFF)
    if not own_offline or (account_missed and missed_in_plan and not own_missed):
        return Verdict(False, Problem.OWN_EMAILS_OFF)
    return FINE


def address_confirmed(confirmed: bool) -> Verdict:
    return FINE if confirmed else Verdict(False, Problem.ADDRESS_UNCONFIRMED)


def address_not_bouncing(bouncing: bool) -> Verdict:
    return Verdict(False, Problem.ADDRESS_BOUNCING) if bouncing else FINE


def push_subscribed(subscriptions: int) -> Verdict:
    return FINE if subscriptions else Verdict(False, Problem.NO_PUSH_SUBSCRIPTION)


def devices_online() -> Verdict:
    """For information: online is neither right nor wrong, but an online agent gets no
    offline-message e-mail (the help article: check every device, the mobile app too)."""
    return UNKNOWN


class SenderDomainState(StrEnum):
    OK = "ok"  # nothing of SPF, DKIM, DMARC to fix (warnings may remain)
    FAILING = "failing"  # something to publish or correct
    UNCHECKED = "unchecked"  # DNS did not answer
    CHECKING = "checking"  # the first look-up is still under way
    NOT_APPLICABLE = "not_applicable"  # the built-in catcher: no mail leaves this machine


def sender_domain(state: SenderDomainState) -> Verdict:
    match state:
        case SenderDomainState.OK:
            return FINE
        case SenderDomainState.FAILING:
            return Verdict(False, Problem.SENDER_DOMAIN_FAILING)
        case SenderDomainState.UNCHECKED:
            return Verdict(False, Problem.SENDER_DOMAIN_UNCHECKED)
        case SenderDomainState.CHECKING | SenderDomainState.NOT_APPLICABLE:
            return UNKNOWN


def last_email(state: DeliveryState | None) -> Verdict:
    """The latest e-mail to the agent's present address, whatever it was about."""
    match state:
        case DeliveryState.REJECTED:
            return Verdict(False, Problem.LAST_EMAIL_REJECTED)
        case DeliveryState.BOUNCED:
            return Verdict(False, Problem.LAST_EMAIL_BOUNCED)
        case DeliveryState.DEFERRED:
            return Verdict(False, Problem.LAST_EMAIL_DEFERRED)
        case DeliveryState.SENT | DeliveryState.IN_DIGEST:
            return FINE
        case _:  # none yet, waiting to be sent, held for a digest
            return UNKNOWN


def last_test(
    *,
    requested: bool,
    email_state: DeliveryState | None,
    email_skipped: bool,
    push_results: Sequence[str] | None,
) -> Verdict:
    """The last test: fine when the mail server accepted the e-mail and every push service
    took its push; ``None`` while an answer is still to come (or there was no test)."""
    if not requested:
        return UNKNOWN
    if email_skipped:
        return Verdict(False, Problem.TEST_EMAIL_SKIPPED)
    if email_state in (DeliveryState.REJECTED, DeliveryState.BOUNCED, DeliveryState.DEFERRED):
        return Verdict(False, Problem.TEST_EMAIL_FAILED)
    if push_results is not None and any(result != "sent" for result in push_results):
        return Verdict(False, Problem.TEST_PUSH_FAILED)
    if email_state is DeliveryState.SENT and push_results is not None:
        return FINE
    return UNKNOWN
