"""Sign-up, login/logout, the account, and Settings → Notifications."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request, status

from frontdesk.api.deps import AgentDep, PasswordChecksDep, RuntimeDep
from frontdesk.api.ratelimits import RateLimits, too_many
from frontdesk.api.schemas.accounts import (
    AccountOut,
    AccountPatch,
    AgentChoices,
    ConfirmAddressIn,
    ConfirmedAddressOut,
    LoginIn,
    NotificationSettingsOut,
    NotificationSettingsPatch,
    SignUpIn,
    SignUpOut,
    TokenOut,
)
from frontdesk.core.plans import has_missed_conversation_emails
from frontdesk.errors import NotAuthenticated
from frontdesk.service import accounts, outbox
from frontdesk.service.runtime import Runtime
from frontdesk.store.models import Account

router = APIRouter(tags=["accounts"])


@router.post("/accounts", status_code=status.HTTP_201_CREATED)
async def sign_up(body: SignUpIn, rt: RuntimeDep, checks: PasswordChecksDep) -> SignUpOut:
    """Create an account and its owner; answers with the owner's first token. Who may is
    ``FRONTDESK_SIGNUP``'s to say: anybody, the bearer of an invitation, or nobody."""
    owner = body.owner
    signed = await checks.run(
        partial(
            accounts.sign_up,
            rt,
            name=body.name,
            plan=body.plan,
            owner=accounts.NewAgent(
                name=owner.name, email=owner.email, password=owner.password, locale=owner.locale
            ),
            invitation=body.invitation,
        )
    )
    return SignUpOut(
        account_id=signed.account.id,
        agent_id=signed.owner.id,
        widget_key=signed.account.widget_key,
        token=signed.token,
    )


@router.post("/auth/login")
async def log_in(
    body: LoginIn, request: Request, rt: RuntimeDep, checks: PasswordChecksDep
) -> TokenOut:
    """A token for the agent. Failed logins are limited per address and per e-mail address
    (429 with ``Retry-After``, whether or not the address has an agent)."""
    limits: RateLimits = request.app.state.rate_limits
    address = request.client.host if request.client else ""
    login = accounts.email_key(body.email)
    for limit, key in (
        (limits.login_failures_per_ip, address),
        (limits.login_failures_per_email, login),
    ):
        retry_after = await limits.exhausted(limit, key)
        if retry_after is not None:
            raise too_many("failed logins", retry_after)

    def logging_in() -> TokenOut:
        token = accounts.log_in(rt, email=body.email, password=body.password)
        caller = accounts.authenticate_agent(rt, token)
        return TokenOut(token=token, agent_id=caller.agent_id, account_id=caller.account_id)

    try:
        return await checks.run(logging_in)
    except NotAuthenticated:
        await limits.hit(limits.login_failures_per_ip, address)
        await limits.hit(limits.login_failures_per_email, login)
        raise


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def log_out(caller: AgentDep, rt: RuntimeDep) -> None:
    """Revoke the token this request was made with; its open sockets close (4401)."""
    accounts.log_out(rt, caller)


@router.post("/auth/logout-everywhere", status_code=status.HTTP_204_NO_CONTENT)
def log_out_everywhere(caller: AgentDep, rt: RuntimeDep) -> None:
    """Revoke every token of the calling agent, this one too: every browser and app of the
    agent is logged out, and every socket of it closes (4401 ``session_ended``)."""
    accounts.log_out_everywhere(rt, caller)


@router.post("/auth/confirm-address")
def confirm_address(body: ConfirmAddressIn, rt: RuntimeDep) -> ConfirmedAddressOut:
    """Follow the link of a confirmation or invitation e-mail: the address is proven, and
    notifications go to it from now on. Needs no login: the link is the proof."""
    agent = outbox.confirm_address(rt, body.token)
    return ConfirmedAddressOut(email=agent.email, email_confirmed=True)


@router.get("/account")
def get_account(caller: AgentDep, rt: RuntimeDep) -> AccountOut:
    return AccountOut.model_validate(accounts.get_account(rt, caller))


@router.patch("/account")
def patch_account(body: AccountPatch, caller: AgentDep, rt: RuntimeDep) -> AccountOut:
    return AccountOut.model_validate(accounts.update_account(rt, caller, **body.sent()))


@router.get("/settings/notifications")
def get_notification_settings(caller: AgentDep, rt: RuntimeDep) -> NotificationSettingsOut:
    return _settings_out(rt, accounts.get_account(rt, caller))


@router.patch("/settings/notifications")
def patch_notification_settings(
    body: NotificationSettingsPatch, caller: AgentDep, rt: RuntimeDep
) -> NotificationSettingsOut:
    sent = body.sent()
    if body.agent_defaults is not None:
        sent["agent_defaults"] = body.agent_defaults.sent()
    account = accounts.update_notification_settings(rt, caller, **sent)
    return _settings_out(rt, account)


def _settings_out(rt: Runtime, account: Account) -> NotificationSettingsOut:
    return NotificationSettingsOut(
        offline_message_email=account.offline_message_email,
        missed_conversation_email=account.missed_conversation_email,
        missed_conversation_email_available=has_missed_conversation_emails(account.plan),
        offline_email_delay=account.offline_email_delay,
        default_offline_email_delay=rt.settings.offline_email_delay,
        offline_push_delay=account.offline_push_delay,
        default_offline_push_delay=rt.settings.offline_push_delay,
        agent_defaults=AgentChoices(**accounts.agent_defaults_of(account)),
        visitor_transcript=account.visitor_transcript,
        agent_idle_after=account.agent_idle_after,
        alert_nobody_online_after=account.alert_nobody_online_after,
        expected_reply_time=account.expected_reply_time,
    )
