"""Every case of the help article (docs/spec.md section 1), end to end: a visitor writes over
HTTP, agents are online or not over WebSockets and REST heartbeats, and the e-mails arrive
(or do not) at a real SMTP server, with the reasons in the notification log (docs/spec.md
section 3)."""

from __future__ import annotations

import time

import pytest

from tests.mailsink import MailSink
from tests.support import (
    DELAY,
    LEASE,
    Agent,
    LiveServer,
    decisions,
    eventually,
    live_sign_up,
    new_live_visitor,
    settled,
)


def test_an_offline_message_is_e_mailed_to_every_active_agent_after_the_delay(
    engine_server: LiveServer, sink: MailSink
) -> None:
    owner = live_sign_up(engine_server)
    colleague = owner.invite(name="Adam")
    visitor = new_live_visitor(
        engine_server,
        owner.widget_key,
        name="Vera",
        email="vera@example.com",
        page_url="https://shop.example.com/cart",
    )
    written_at = time.monotonic()
    conversation_id = visitor.say("Do you ship to Brno?")["conversation_id"]

    (scheduled,) = decisions(owner, conversation_id)
    assert scheduled["kind"] == "offline_message"
    assert scheduled["state"] == "scheduled"

    (to_owner,) = sink.wait_for(1, to=owner.email)
    (to_colleague,) = sink.wait_for(1, to=colleague.email)
    assert to_owner.received_at - written_at >= DELAY
    assert "Vera" in to_owner.message["Subject"]
    assert "Do you ship to Brno?" in to_owner.text
    assert "https://shop.example.com/cart" in to_owner.text
    assert f"/conversations/{conversation_id}" in to_owner.text
    assert to_owner.message["Auto-Submitted"] == "auto-generated"
    assert to_owner.message["Message-ID"] != to_colleague.message["Message-ID"]

    (sent,) = settled(owner, conversation_id)
    assert sent["state"] == "sent"
    assert sent["reason"] is None
    assert {(r["agent_id"], r["state"], r["smtp_code"]) for r in sent["recipients"]} == {
        (owner.agent_id, "sent", 250),
        (colleague.agent_id, "sent", 250),
    }
    assert sent["not_recipients"] == []


def test_setting_off_sends_nothing_and_says_why(engine_server: LiveServer, sink: MailSink) -> None:
    owner = live_sign_up(engine_server)
    switched = owner.call("PATCH", "/settings/notifications", {"offline_message_email": False})
    assert switched.status_code == 200, switched.text
    visitor = new_live_visitor(engine_server, owner.widget_key)
    conversation_id = visitor.say("Hello?")["conversation_id"]

    (decision,) = decisions(owner, conversation_id)  # suppressed at once, and recorded
    assert decision["state"] == "suppressed"
    assert decision["reason"] == "setting_off"
    assert "Settings → Notifications" in decision["reason_text"]
    # Decided for good: a suppressed notification has no delivery, so no e-mail can follow.
    assert decision["decided_at"] is not None
    assert decision["recipients"] == []
    assert sink.to(owner.email) == []


def test_not_really_offline_the_mobile_app_keeps_the_agent_online(
    engine_server: LiveServer, sink: MailSink
) -> None:
    owner = live_sign_up(engine_server)
    with owner.socket("laptop", status="offline") as laptop:
        laptop.wait_for("hello")
        phone = owner.call(
            "POST", "/me/devices/phone/heartbeat", {"kind": "mobile", "status": "online"}
        )
        assert phone.json()["online"] is True
        visitor = new_live_visitor(engine_server, owner.widget_key)
        conversation_id = visitor.say("Is anyone there?")["conversation_id"]
        # The widget was online through the phone: not an offline message at all.
        assert decisions(owner, conversation_id) == []
        # The app heartbeats again, as it does within every lease (LEASE here: the requests
        # above may take longer than that on a busy machine).
        assert owner.call(
            "POST", "/me/devices/phone/heartbeat", {"kind": "mobile", "status": "online"}
        ).json()["online"]
        agents = owner.call("GET", "/agents").json()
        (me,) = [a for a in agents if a["id"] == owner.agent_id]
        assert me["online"] is True
        assert {d["device_id"]: d["status"] for d in me["devices"]} == {
            "laptop": "offline",
            "phone": "online",
        }
    # No offline notification was opened (rule 1 decides when the message is stored), so
    # there is nothing the engine could ever send for it: the recorded absence is the proof,
    # not a wait. (The visitor, without a socket, leaves LEASE after writing: a missed
    # conversation, suppressed, as missed-conversation e-mails start switched off.)
    found = decisions(owner, conversation_id)
    assert [n for n in found if n["kind"] == "offline_message"] == []
    assert all(n["state"] == "suppressed" for n in found), found
    assert sink.to(owner.email) == []


def test_back_online_within_the_window_calls_the_e_mail_off(
    engine_server: LiveServer, sink: MailSink
) -> None:
    owner = live_sign_up(engine_server)
    visitor = new_live_visitor(engine_server, owner.widget_key)
    conversation_id = visitor.say("Hello?")["conversation_id"]
    with owner.socket("laptop") as laptop:  # back well within DELAY
        laptop.wait_for("hello")
        (decision,) = decisions(owner, conversation_id)
        assert decision["state"] == "suppressed"
        assert decision["reason"] == "agent_came_online"
        assert decision["decided_at"] < decision["due_at"]
        assert decision["recipients"] == []  # decided for good: nothing to send
    assert sink.to(owner.email) == []
    # Gone again (the laptop's lease ran out): a new offline message opens a new
    # notification, which is sent.
    eventually(lambda: not is_online(owner), timeout=LEASE * 10)
    visitor.say("Still there?")
    sink.wait_for(1, to=owner.email)
    found = settled(owner, conversation_id, count=2)
    first, second = [n for n in found if n["kind"] == "offline_message"]
    assert (first["reason"], second["state"]) == ("agent_came_online", "sent")
    # The visitor also left unanswered after the agent had been online: a missed
    # conversation, which this account has not switched on.
    assert [(n["kind"], n["reason"]) for n in found if n["kind"] != "offline_message"] in (
        [],
        [("missed_conversation", "setting_off")],
    )


def test_opened_in_the_dashboard_right_after_it_arrived_sends_nothing(
    engine_server: LiveServer, sink: MailSink
) -> None:
    owner = live_sign_up(engine_server)
    visitor = new_live_visitor(engine_server, owner.widget_key)
    conversation_id = visitor.say("Hello?")["conversation_id"]
    read = owner.call("POST", f"/conversations/{conversation_id}/read")
    assert read.status_code == 200
    (decision,) = settled(owner, conversation_id)
    assert decision["reason"] == "read_in_dashboard"
    assert sink.to(owner.email) == []


def test_messages_opened_in_the_dashboard_are_left_out_of_the_e_mail(
    engine_server: LiveServer, sink: MailSink
) -> None:
    owner = live_sign_up(engine_server)
    visitor = new_live_visitor(engine_server, owner.widget_key)
    first = visitor.say("First question")
    owner.call("POST", f"/conversations/{first['conversation_id']}/read")
    second = visitor.say("Second question")
    (caught,) = sink.wait_for(1, to=owner.email)
    assert "Second question" in caught.text
    assert "First question" not in caught.text
    (decision,) = settled(owner, first["conversation_id"])
    assert decision["message_ids"] == [first["message_id"], second["message_id"]]
    assert decision["listed_message_ids"] == [second["message_id"]]


def test_several_messages_make_one_e_mail_listing_them_all(
    engine_server: LiveServer, sink: MailSink
) -> None:
    owner = live_sign_up(engine_server)
    colleague = owner.invite()
    visitor = new_live_visitor(engine_server, owner.widget_key)
    texts = ["Hi", "Do you ship to Brno?", "And to Vienna?"]
    conversation_id = 0
    for text in texts:
        conversation_id = visitor.say(text)["conversation_id"]
        time.sleep(DELAY / 5)
    (caught,) = sink.wait_for(1, to=owner.email)
    assert all(text in caught.text for text in texts)
    assert caught.message["Subject"].startswith("3 new messages from")
    (decision,) = settled(owner, conversation_id)
    assert len(decision["message_ids"]) == 3
    # One decision, one delivery each, all final (settled): no second e-mail can come.
    assert sorted(r["agent_id"] for r in decision["recipients"]) == sorted(
        [owner.agent_id, colleague.agent_id]
    )
    assert {r["state"] for r in decision["recipients"]} == {"sent"}
    assert len(sink.to(owner.email)) == 1
    assert len(sink.to(colleague.email)) == 1


def is_online(agent: Agent) -> bool:
    (me,) = [a for a in agent.call("GET", "/agents").json() if a["id"] == agent.agent_id]
    return bool(me["online"])


def shop_with_sales_group(server: LiveServer) -> tuple[Agent, int, Agent]:
    """A PRO account whose owner is not in its one group, Sales, and a seller who is."""
    owner = live_sign_up(server, plan="pro")
    group_id = owner.call("POST", "/groups", {"name": "Sales"}).json()["id"]
    return owner, group_id, owner.invite(group_ids=[group_id])


def test_another_agent_of_the_pro_group_online_means_no_offline_message(
    engine_server: LiveServer, sink: MailSink
) -> None:
    owner, group_id, seller = shop_with_sales_group(engine_server)
    with seller.socket("seller-laptop") as laptop:
        laptop.wait_for("hello")
        visitor = new_live_visitor(engine_server, owner.widget_key)
        conversation_id = visitor.say("A quote, please", group_id=group_id)["conversation_id"]
        assert decisions(owner, conversation_id) == []
    # No notification was opened while the seller was online: nothing can be sent later.
    assert decisions(owner, conversation_id) == []
    assert sink.to(owner.email) == []


def test_a_group_conversation_is_e_mailed_to_its_group_only(
    engine_server: LiveServer, sink: MailSink
) -> None:
    owner, group_id, seller = shop_with_sales_group(engine_server)
    # The owner is online but not in Sales: the Sales widget is offline.
    with owner.socket("owner-laptop") as laptop:
        laptop.wait_for("hello")
        visitor = new_live_visitor(engine_server, owner.widget_key)
        conversation_id = visitor.say("A quote, please", group_id=group_id)["conversation_id"]
        sink.wait_for(1, to=seller.email)
        (decision,) = settled(owner, conversation_id)
    assert [r["agent_id"] for r in decision["recipients"]] == [seller.agent_id]
    assert decision["not_recipients"] == [{"agent_id": owner.agent_id, "reason": "not_in_group"}]
    assert sink.to(owner.email) == []
    mine = decisions(owner, conversation_id, agent_id=owner.agent_id)
    assert "not a member" in mine[0]["for_agent"]["text"]


def unanswered_while_online(
    server: LiveServer, *, plan: str, missed_on: bool | None, join: bool = False
) -> tuple[Agent, int]:
    """An agent online in the dashboard, a visitor who writes (over REST: the message is its
    last sign of life), maybe a join, and the visitor gone after visitor_left_after."""
    owner = live_sign_up(server, plan=plan)
    if missed_on is not None:  # None: the account's default
        owner.call("PATCH", "/settings/notifications", {"missed_conversation_email": missed_on})
    visitor = new_live_visitor(server, owner.widget_key, name="Vera")
    with owner.socket("laptop") as laptop:
        laptop.wait_for("hello")
        conversation_id = visitor.say("Anyone?")["conversation_id"]
        if join:
            joined = owner.call("POST", f"/conversations/{conversation_id}/join")
            assert joined.status_code == 200, joined.text  # the answer, if it is an error
            assert joined.json()["folder"] == "mine"
        laptop.wait_for("presence.changed", visitor_id=visitor.visitor_id, online=False)
    return owner, conversation_id


@pytest.mark.parametrize("plan", ["standard", "pro"])
def test_a_missed_conversation_is_e_mailed_on_standard_and_pro(
    engine_server: LiveServer, sink: MailSink, plan: str
) -> None:
    owner, conversation_id = unanswered_while_online(engine_server, plan=plan, missed_on=True)
    (caught,) = sink.wait_for(1, to=owner.email)
    assert caught.message["Subject"].startswith('Missed conversation: "Vera"')
    assert "Anyone?" in caught.text
    (decision,) = settled(owner, conversation_id)
    assert decision["kind"] == "missed_conversation"
    assert decision["state"] == "sent"
    assert decision["visitor_left_at"] is not None


def test_no_missed_conversation_e_mail_on_free(engine_server: LiveServer, sink: MailSink) -> None:
    owner, conversation_id = unanswered_while_online(engine_server, plan="free", missed_on=True)
    (decision,) = settled(owner, conversation_id)
    assert decision["reason"] == "plan_lacks_feature"
    assert "STANDARD and PRO" in decision["reason_text"]
    assert sink.to(owner.email) == []


def test_missed_conversation_e_mails_are_off_until_switched_on(
    engine_server: LiveServer, sink: MailSink
) -> None:
    owner, conversation_id = unanswered_while_online(engine_server, plan="standard", missed_on=None)
    (decision,) = settled(owner, conversation_id)
    assert decision["reason"] == "setting_off"
    assert sink.to(owner.email) == []


def test_joining_makes_it_served_and_not_missed(engine_server: LiveServer, sink: MailSink) -> None:
    owner, conversation_id = unanswered_while_online(
        engine_server, plan="pro", missed_on=True, join=True
    )
    # The leaving was announced, so it is recorded, and the missed-conversation rule ran in
    # the transaction that recorded it: no notification now means none ever.
    assert decisions(owner, conversation_id) == []
    assert sink.to(owner.email) == []


def test_not_really_online_means_no_missed_conversation_but_an_offline_message(
    engine_server: LiveServer, sink: MailSink
) -> None:
    owner = live_sign_up(engine_server, plan="pro")
    owner.call("PATCH", "/settings/notifications", {"missed_conversation_email": True})
    visitor = new_live_visitor(engine_server, owner.widget_key)
    conversation_id = visitor.say("Anyone?")["conversation_id"]
    (caught,) = sink.wait_for(1, to=owner.email)
    assert caught.message["Subject"].startswith("New message from")
    # Once the leaving is recorded, the missed-conversation rule has run (in the same
    # transaction): the offline message stays the only notification.
    eventually(
        lambda: (
            not owner.call("GET", f"/conversations/{conversation_id}").json()["visitor"][
                "on_website"
            ]
        ),
        timeout=LEASE * 10,
    )
    (decision,) = settled(owner, conversation_id)
    assert decision["kind"] == "offline_message"


def test_deactivated_agents_get_nothing_and_a_changed_address_gets_it(
    engine_server: LiveServer, sink: MailSink
) -> None:
    owner = live_sign_up(engine_server)
    leaver = owner.invite(name="Leaver")
    mover = owner.invite(name="Mover")
    deactivated = owner.call("PATCH", f"/agents/{leaver.agent_id}", {"active": False})
    assert deactivated.status_code == 200, deactivated.text
    new_address = f"shared-inbox-{mover.agent_id}@example.com"
    moved = mover.call("PATCH", "/me", {"email": new_address, "current_password": "agent-password"})
    assert moved.status_code == 200, moved.text

    visitor = new_live_visitor(engine_server, owner.widget_key)
    conversation_id = visitor.say("Hello?")["conversation_id"]
    sink.wait_for(1, to=new_address)
    (decision,) = settled(owner, conversation_id)
    assert {r["email"] for r in decision["recipients"]} == {owner.email, new_address}
    assert decision["not_recipients"] == [{"agent_id": leaver.agent_id, "reason": "inactive"}]
    assert sink.to(leaver.email) == []
    # The old address was told of the change, and got nothing more.
    (told,) = sink.wait_for(1, to=mover.email)
    assert told.message["Subject"] == "The e-mail address of your Frontdesk login was changed"


def test_an_agent_who_opted_out_is_left_out_and_told_so(
    engine_server: LiveServer, sink: MailSink
) -> None:
    owner = live_sign_up(engine_server)
    quiet = owner.invite()
    opted = quiet.call("PATCH", "/me/notifications", {"offline_message_email": False})
    assert opted.json()["offline_message_email"] is False
    visitor = new_live_visitor(engine_server, owner.widget_key)
    conversation_id = visitor.say("Hello?")["conversation_id"]
    sink.wait_for(1, to=owner.email)
    (decision,) = settled(owner, conversation_id, agent_id=quiet.agent_id)
    assert decision["not_recipients"] == [{"agent_id": quiet.agent_id, "reason": "opted_out"}]
    assert "switched this kind of e-mail off" in decision["for_agent"]["text"]
    assert sink.to(quiet.email) == []


def test_everyone_opted_out_is_recorded_as_such(engine_server: LiveServer, sink: MailSink) -> None:
    owner = live_sign_up(engine_server)
    owner.call("PATCH", "/me/notifications", {"offline_message_email": False})
    visitor = new_live_visitor(engine_server, owner.widget_key)
    conversation_id = visitor.say("Hello?")["conversation_id"]
    (decision,) = settled(owner, conversation_id)
    assert (decision["state"], decision["reason"]) == ("suppressed", "opted_out")
    # No notification; the owner is alerted instead that a visitor reached nobody
    # (docs/reachability.md), once.
    (alerted,) = sink.wait_for(1, to=owner.email)
    assert alerted.message["Subject"] == "A visitor of Shop reached nobody"
    assert "Hello?" not in alerted.text


def test_the_account_delay_overrides_the_server_default(
    engine_server: LiveServer, sink: MailSink
) -> None:
    owner = live_sign_up(engine_server)
    owner.call("PATCH", "/settings/notifications", {"offline_email_delay": 0.2})
    visitor = new_live_visitor(engine_server, owner.widget_key)
    conversation_id = visitor.say("Hello?")["conversation_id"]
    (scheduled,) = decisions(owner, conversation_id)
    opened, due = scheduled["opened_at"], scheduled["due_at"]
    from datetime import datetime

    delay = (datetime.fromisoformat(due) - datetime.fromisoformat(opened)).total_seconds()
    assert delay == pytest.approx(0.2)
    sink.wait_for(1, to=owner.email, timeout=DELAY * 3)
