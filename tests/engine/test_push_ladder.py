"""The push before the e-mail (docs/push.md), on a live server with the engine on the real
clock: an offline message pushes every subscribed agent of the scope who wants pushes,
``PUSH_DELAY`` after it, through a real push service on loopback (tests/pushservice.py),
and the e-mail follows at ``DELAY`` unless the push made someone come online or read it."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from frontdesk.security import PasswordHasher
from frontdesk.store.database import Database
from frontdesk.store.models import Notification, PushDelivery, PushSubscription
from tests.mailsink import MailSink
from tests.pushservice import Browser, PushService, push_service
from tests.support import (
    DELAY,
    Agent,
    LiveServer,
    decisions,
    engine_settings,
    eventually,
    live_sign_up,
    new_live_visitor,
    serving,
    settled,
)

PUSH_DELAY = 0.25  # offline_push_delay: Frontdesk's ten seconds before the two minutes


@pytest.fixture
def pushes() -> Iterator[PushService]:
    with push_service(lambda: datetime.now(UTC)) as service:
        yield service


@pytest.fixture
def serve_pushes(
    database: Database,
    database_url: str,
    passwords: PasswordHasher,
    tmp_path: Path,
    sink: MailSink,
) -> Callable[[float], AbstractContextManager[LiveServer]]:
    """A live server pushing through the push service on loopback, its reminder of an
    unserved conversation ``unserved_push_after`` seconds after it opened (0: none)."""

    def serve(unserved_push_after: float) -> AbstractContextManager[LiveServer]:
        settings = engine_settings(
            database_url,
            tmp_path,
            sink.url,
            offline_push_delay=PUSH_DELAY,
            push_http_hosts=["127.0.0.1"],
            unserved_push_after=unserved_push_after,
        )
        return serving(settings, database, passwords)

    return serve


@pytest.fixture
def push_server(
    serve_pushes: Callable[[float], AbstractContextManager[LiveServer]],
) -> Iterator[LiveServer]:
    with serve_pushes(0) as server:  # the reminder has its own server below
        yield server


def subscribe(agent: Agent, pushes: PushService, name: str) -> Browser:
    browser = pushes.subscribe()
    made = agent.call(
        "POST", "/me/push-subscriptions", browser.subscription_json() | {"device_name": name}
    )
    assert made.status_code == 201, made.text
    return browser


def push_stage(database: Database, conversation_id: int) -> tuple[Notification, list[PushDelivery]]:
    """The conversation's offline notification once its push stage has run, and its
    pushes once each has its answer."""

    def done() -> tuple[Notification, list[PushDelivery]] | None:
        with database.read() as session:
            notification = session.scalars(
                select(Notification).where(Notification.conversation_id == conversation_id)
            ).one()
            pushed = list(
                session.scalars(
                    select(PushDelivery)
                    .where(PushDelivery.notification_id == notification.id)
                    .order_by(PushDelivery.id)
                )
            )
        if notification.push_due_at is not None or any(p.state == "sending" for p in pushed):
            return None
        return notification, pushed

    return eventually(done, what="the push stage")


def test_an_offline_message_is_pushed_to_every_subscribed_agent_then_e_mailed(
    push_server: LiveServer, pushes: PushService, database: Database, sink: MailSink
) -> None:
    owner = live_sign_up(push_server)
    pushes.vapid_public_key = owner.call("GET", "/push/vapid-key").json()["public_key"]
    colleague, unsubscribed, opted_out = owner.invite(), owner.invite(), owner.invite()
    phone, laptop = subscribe(owner, pushes, "Phone"), subscribe(owner, pushes, "Laptop")
    colleagues_browser = subscribe(colleague, pushes, "Firefox")
    opted_outs_browser = subscribe(opted_out, pushes, "Chrome")
    assert opted_out.call("PATCH", "/me/notifications", {"offline_message_push": False}).is_success
    visitor = new_live_visitor(push_server, owner.widget_key, name="Anna")

    started = time.monotonic()
    conversation_id = visitor.say("Is the <b>teapot</b> still in stock?")["conversation_id"]
    for browser in (phone, laptop, colleagues_browser):
        eventually(lambda b=browser: pushes.received_by(b), what="the push")  # type: ignore[misc]
    pushed_after = time.monotonic() - started

    assert PUSH_DELAY <= pushed_after < DELAY + 0.5
    assert pushes.refused == []
    received = pushes.received_by(phone)[0].payload
    assert received["kind"] == "offline_message"
    assert received["conversation_id"] == conversation_id
    assert received["body"] == "Is the <b>teapot</b> still in stock?"  # as text, not markup
    assert received["title"] == 'New message from "Anna" on Shop'
    assert received["url"].endswith(f"/dashboard/conversations/{conversation_id}")
    assert pushes.received_by(phone)[0].headers["topic"] == f"c{conversation_id}"
    notification, pushed = push_stage(database, conversation_id)
    assert notification.push_reason is None
    assert sorted((p.agent_id, p.device_name, p.state, p.status) for p in pushed) == sorted(
        [
            (owner.agent_id, "Phone", "sent", 201),
            (owner.agent_id, "Laptop", "sent", 201),
            (colleague.agent_id, "Firefox", "sent", 201),
        ]
    )
    # Nothing for the agent who opted out, and why, for each agent not pushed.
    assert pushes.received_by(opted_outs_browser) == []
    assert sorted(map(tuple, notification.push_not_recipients or [])) == sorted(
        [(unsubscribed.agent_id, "no_subscription"), (opted_out.agent_id, "opted_out")]
    )
    # Nobody came online nor read it: the e-mail follows, to everyone, as before.
    (decision,) = settled(owner, conversation_id)
    assert decision["state"] == "sent"
    assert len(sink.to(owner.email)) == 1
    # The API tells who was pushed, on which device, what the push service said, and why
    # the others were not.
    push = decision["push"]
    assert (push["due_at"], push["reason"]) == (None, None)
    assert sorted((p["device_name"], p["state"], p["status"]) for p in push["pushes"]) == [
        ("Firefox", "sent", 201),
        ("Laptop", "sent", 201),
        ("Phone", "sent", 201),
    ]
    assert {p["push_service"] for p in push["pushes"]} == {"127.0.0.1"}
    assert sorted((n["agent_id"], n["reason"]) for n in push["not_pushed"]) == sorted(
        [(unsubscribed.agent_id, "no_subscription"), (opted_out.agent_id, "opted_out")]
    )
    # And so does the administrator's CLI.
    explained = subprocess.run(
        [sys.executable, "-m", "frontdesk", "explain", str(conversation_id)],
        env={"FRONTDESK_DATABASE_URL": push_server.runtime.settings.effective_database_url},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"pushed to agent {owner.agent_id} on 'Phone' via 127.0.0.1: sent 201" in explained
    assert f"not pushed to agent {opted_out.agent_id}: opted_out" in explained


def test_reading_the_pushed_message_in_the_dashboard_means_no_e_mail(
    push_server: LiveServer, pushes: PushService, database: Database
) -> None:
    owner = live_sign_up(push_server)
    phone = subscribe(owner, pushes, "Phone")
    visitor = new_live_visitor(push_server, owner.widget_key)
    conversation_id = visitor.say("Hello?")["conversation_id"]

    eventually(lambda: pushes.received_by(phone), what="the push")
    read = owner.call("POST", f"/conversations/{conversation_id}/read")

    assert read.is_success, read.text
    (decision,) = settled(owner, conversation_id)
    assert (decision["state"], decision["reason"]) == ("suppressed", "read_in_dashboard")


def test_an_agent_online_before_the_push_delay_means_no_push(
    push_server: LiveServer, pushes: PushService, database: Database
) -> None:
    owner = live_sign_up(push_server)
    colleague = owner.invite()
    subscribe(owner, pushes, "Phone")
    visitor = new_live_visitor(push_server, owner.widget_key)
    conversation_id = visitor.say("Hello?")["conversation_id"]

    came = colleague.call("PUT", "/me/status", {"status": "online", "device_id": "tab"})

    assert came.is_success, came.text
    (decision,) = settled(owner, conversation_id)
    assert (decision["state"], decision["reason"]) == ("suppressed", "agent_came_online")
    notification, pushed = push_stage(database, conversation_id)
    assert (notification.push_reason, pushed) == ("agent_came_online", [])
    assert decision["push"] == {
        "due_at": None,
        "reason": "agent_came_online",
        "pushes": [],
        "not_pushed": [],
    }


def test_a_subscription_its_push_service_says_is_gone_is_forgotten(
    push_server: LiveServer, pushes: PushService, database: Database
) -> None:
    owner = live_sign_up(push_server)
    gone, kept = subscribe(owner, pushes, "Old phone"), subscribe(owner, pushes, "Laptop")
    pushes.answer[gone.id] = 410
    visitor = new_live_visitor(push_server, owner.widget_key)
    conversation_id = visitor.say("Hello?")["conversation_id"]

    _, pushed = push_stage(database, conversation_id)

    assert sorted((p.device_name, p.state, p.status) for p in pushed) == [
        ("Laptop", "sent", 201),
        ("Old phone", "gone", 410),
    ]
    with database.read() as session:
        left = session.scalars(
            select(PushSubscription.endpoint).where(PushSubscription.agent_id == owner.agent_id)
        ).all()
    assert left == [kept.endpoint]


def test_an_account_nobody_of_which_is_subscribed_pushes_nobody_and_says_so(
    push_server: LiveServer, pushes: PushService, database: Database
) -> None:
    owner = live_sign_up(push_server)
    visitor = new_live_visitor(push_server, owner.widget_key)
    conversation_id = visitor.say("Hello?")["conversation_id"]

    notification, pushed = push_stage(database, conversation_id)

    assert (notification.push_reason, notification.push_not_recipients, pushed) == (
        "no_recipients",
        [],
        [],
    )
    (decision,) = settled(owner, conversation_id)
    assert decision["state"] == "sent"  # the e-mail, as ever
    assert decision["push"]["reason"] == "no_recipients"


REMINDER = 0.4  # unserved_push_after: Frontdesk's minute


@pytest.fixture
def reminder_server(
    serve_pushes: Callable[[float], AbstractContextManager[LiveServer]],
) -> Iterator[LiveServer]:
    with serve_pushes(REMINDER) as server:
        yield server


def online(agent: Agent, stack: ExitStack, *, visible: bool) -> None:
    """The agent's dashboard tab, connected, in view or hidden."""
    tab = stack.enter_context(agent.socket("tab"))
    tab.wait_for("hello")
    tab.send({"type": "visibility", "visible": visible})
    assert tab.wait_for("visibility") == {"type": "visibility", "visible": visible}


def test_a_conversation_left_unserved_reminds_the_online_agents_away_from_it(
    reminder_server: LiveServer, pushes: PushService, sink: MailSink
) -> None:
    owner = live_sign_up(reminder_server)
    looking, offline, opted_out, unsubscribed = (owner.invite() for _ in range(4))
    browsers = {
        agent.agent_id: subscribe(agent, pushes, "Laptop")
        for agent in (owner, looking, offline, opted_out)
    }
    assert opted_out.call(
        "PATCH", "/me/notifications", {"unserved_conversation_push": False}
    ).is_success
    with ExitStack() as tabs:
        online(owner, tabs, visible=False)  # online, the dashboard in another tab
        online(looking, tabs, visible=True)
        online(opted_out, tabs, visible=False)
        online(unsubscribed, tabs, visible=False)
        visitor = new_live_visitor(reminder_server, owner.widget_key, name="Anna")
        # On the website all along (its widget's socket): a visitor who left while the
        # reminder waited would make a missed conversation beside it.
        tabs.enter_context(visitor.socket()).wait_for("widget.status")

        started = time.monotonic()
        conversation_id = visitor.say("Is anybody <i>there</i>?")["conversation_id"]
        # Written with the message: the reminder, due REMINDER later.
        (opened,) = decisions(owner, conversation_id)
        assert opened["kind"] == "unserved_conversation"
        (pushed,) = eventually(lambda: pushes.received_by(browsers[owner.agent_id]))
        waited = time.monotonic() - started

        (decision,) = settled(owner, conversation_id)
    assert waited >= REMINDER
    assert pushed.payload["kind"] == "unserved_conversation"
    assert pushed.payload["conversation_id"] == conversation_id
    assert pushed.payload["title"] == '"Anna" is waiting for an answer on Shop'
    assert pushed.payload["body"] == "Is anybody <i>there</i>?"
    for agent in (looking, offline, opted_out):
        assert pushes.received_by(browsers[agent.agent_id]) == []
    assert (decision["kind"], decision["state"], decision["reason"]) == (
        "unserved_conversation",
        "sent",
        None,
    )
    push = decision["push"]
    assert [(p["agent_id"], p["state"], p["status"]) for p in push["pushes"]] == [
        (owner.agent_id, "sent", 201)
    ]
    assert sorted((n["agent_id"], n["reason"]) for n in push["not_pushed"]) == sorted(
        [
            (looking.agent_id, "looking"),
            (offline.agent_id, "not_online"),
            (opted_out.agent_id, "opted_out"),
            (unsubscribed.agent_id, "no_subscription"),
        ]
    )
    assert "went to the online agents" in decision["reason_text"]
    # A push only: no e-mail is ever decided for it. (Only this account's: the engine also
    # sends what earlier tests on the shared database left queued, such as their alerts.)
    ours = {a.email.lower() for a in (owner, looking, offline, opted_out, unsubscribed)}
    assert [c for c in sink.caught if c.rcpt_to.lower() in ours] == []


def test_a_conversation_joined_in_time_reminds_nobody(
    reminder_server: LiveServer, pushes: PushService
) -> None:
    owner = live_sign_up(reminder_server)
    colleague = owner.invite()
    browser = subscribe(colleague, pushes, "Phone")
    with ExitStack() as tabs:
        online(owner, tabs, visible=True)
        online(colleague, tabs, visible=False)
        visitor = new_live_visitor(reminder_server, owner.widget_key)
        conversation_id = visitor.say("Hello?")["conversation_id"]
        assert owner.call("POST", f"/conversations/{conversation_id}/join").is_success

        (decision,) = settled(owner, conversation_id)
    assert (decision["state"], decision["reason"]) == ("suppressed", "conversation_served")
    assert decision["push"]["reason"] == "conversation_served"
    assert pushes.received_by(browser) == []


def test_an_account_nobody_of_which_ever_subscribed_keeps_no_reminders(
    reminder_server: LiveServer,
) -> None:
    owner = live_sign_up(reminder_server)
    with ExitStack() as tabs:
        online(owner, tabs, visible=False)
        visitor = new_live_visitor(reminder_server, owner.widget_key)
        conversation_id = visitor.say("Hello?")["conversation_id"]

        # A reminder is written with the message that opens the conversation, or never.
        assert decisions(owner, conversation_id) == []


def test_a_missed_conversation_is_pushed_with_its_e_mail(
    push_server: LiveServer, pushes: PushService, sink: MailSink
) -> None:
    owner = live_sign_up(push_server)
    assert owner.call(
        "PATCH", "/settings/notifications", {"missed_conversation_email": True}
    ).is_success
    opted_out = owner.invite()
    phone = subscribe(owner, pushes, "Phone")
    opted_outs_phone = subscribe(opted_out, pushes, "Phone")
    assert opted_out.call(
        "PATCH", "/me/notifications", {"missed_conversation_push": False}
    ).is_success
    visitor = new_live_visitor(push_server, owner.widget_key, name="Vera")
    with owner.socket("laptop") as laptop:  # online, in view: no reminder
        laptop.wait_for("hello")
        conversation_id = visitor.say("Anyone?")["conversation_id"]
        laptop.wait_for("presence.changed", visitor_id=visitor.visitor_id, online=False)

        (pushed,) = eventually(lambda: pushes.received_by(phone), what="the missed push")
        missed = [d for d in settled(owner, conversation_id) if d["kind"] == "missed_conversation"]
    assert pushed.payload["kind"] == "missed_conversation"
    assert pushed.payload["title"] == 'Missed conversation: "Vera" left Shop without an answer'
    assert pushed.payload["body"] == "Anyone?"
    assert pushes.received_by(opted_outs_phone) == []
    (decision,) = missed
    assert decision["state"] == "sent"  # the e-mail, and its push beside it
    assert len(sink.to(owner.email)) == 1
    assert [(p["agent_id"], p["state"]) for p in decision["push"]["pushes"]] == [
        (owner.agent_id, "sent")
    ]
    assert decision["push"]["not_pushed"] == [
        {"agent_id": opted_out.agent_id, "reason": "opted_out"}
    ]
