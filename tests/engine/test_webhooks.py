"""Webhooks (docs/webhooks.md) on a live server with the engine on the real clock, posting to
a real HTTP receiver on loopback (tests/webhookreceiver.py) that checks every signature
with the Standard Webhooks reference library."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from frontdesk.security import PasswordHasher
from frontdesk.settings import Settings
from frontdesk.store.database import Database
from tests.mailsink import MailSink
from tests.support import (
    Agent,
    LiveServer,
    assert_error,
    engine_settings,
    eventually,
    live_sign_up,
    new_live_visitor,
    run_frontdesk,
    serving,
    settled,
)
from tests.webhookreceiver import HANG, Receiver, webhook_receiver

TIMEOUT = 0.5  # webhook_timeout
RETRY_FIRST = 0.1  # webhook_retry_first: Frontdesk's five seconds
ALL_EVENTS = [
    "notification.offline_message",
    "notification.missed_conversation",
    "conversation.created",
    "message.created",
    "conversation.closed",
]
# A name and a text that would be markup in HTML, and calls, links and bold type in Slack.
HOSTILE_NAME = "<!channel> *Anna* <http://evil.example|click>"
HOSTILE_TEXT = "<script>alert(1)</script> <@U024BE7LH> &amp; _hi_ <https://evil.example>"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


@pytest.fixture
def hook_server(
    database: Database,
    database_url: str,
    passwords: PasswordHasher,
    tmp_path: Path,
    sink: MailSink,
) -> Iterator[LiveServer]:
    settings = hook_settings(database_url, tmp_path, sink, webhook_disable_after=60)
    with serving(settings, database, passwords) as server:
        yield server


def hook_settings(database_url: str, tmp_path: Path, sink: MailSink, **overrides: Any) -> Settings:
    """The engine's settings with a receiver on loopback allowed, and webhook durations in
    fractions of a second."""
    values: dict[str, Any] = {
        "webhook_local_hosts": ["127.0.0.1"],
        "webhook_timeout": TIMEOUT,
        "webhook_retry_first": RETRY_FIRST,
        "webhook_retry_for": 30,
    }
    return engine_settings(database_url, tmp_path, sink.url, **(values | overrides))


def add_endpoint(
    owner: Agent, receiver: Receiver, path: str, events: list[str], **fields: Any
) -> dict[str, Any]:
    made = owner.call("POST", "/webhooks", {"url": receiver.url + path, "events": events} | fields)
    assert made.status_code == 201, made.text
    endpoint: dict[str, Any] = made.json()
    receiver.secrets[path] = endpoint["secret"]
    return endpoint


def deliveries(owner: Agent, endpoint_id: int) -> list[dict[str, Any]]:
    response = owner.call("GET", f"/webhooks/{endpoint_id}/deliveries")
    assert response.status_code == 200, response.text
    logged: list[dict[str, Any]] = response.json()
    return logged


def finished(owner: Agent, endpoint_id: int, count: int) -> list[dict[str, Any]]:
    """The endpoint's deliveries once ``count`` exist and none is pending."""

    def done() -> list[dict[str, Any]]:
        logged = deliveries(owner, endpoint_id)
        assert len(logged) >= count, logged
        assert all(d["state"] != "pending" for d in logged), logged
        return logged

    return eventually(done, timeout=15, what=f"the deliveries of endpoint {endpoint_id}")


def test_events_reach_the_endpoints_that_want_them_signed_as_the_standard_says(
    hook_server: LiveServer, receiver: Receiver, sink: MailSink
) -> None:
    owner = live_sign_up(hook_server)
    everything = add_endpoint(owner, receiver, "/all", ALL_EVENTS, description="CRM")
    closed_only = add_endpoint(owner, receiver, "/closed", ["conversation.closed"])
    assert everything["secret"].startswith("whsec_")
    assert everything["secret"] != closed_only["secret"]
    listed = owner.call("GET", "/webhooks").json()
    assert [e["id"] for e in listed] == [everything["id"], closed_only["id"]]
    assert "secret" not in listed[0]  # shown when made, and on its own page, not in lists
    visitor = new_live_visitor(
        hook_server, owner.widget_key, name=HOSTILE_NAME, email="anna@example.com"
    )

    conversation_id = visitor.say(HOSTILE_TEXT)["conversation_id"]
    # Nobody is online: an offline message, e-mailed after DELAY, and told to the webhook.
    (decision,) = settled(owner, conversation_id)
    assert decision["state"] == "sent"
    replied = owner.call("POST", f"/conversations/{conversation_id}/messages", {"text": "Hello!"})
    assert replied.status_code == 201, replied.text
    assert owner.call("POST", f"/conversations/{conversation_id}/close").is_success
    finished(owner, everything["id"], 5)

    received = receiver.at("/all")
    assert all(r.verified for r in received)
    assert len({r.msg_id for r in received}) == len(received) == 5
    by_type = {r.json["type"]: r.json for r in received}
    assert sorted(by_type) == sorted(
        [
            "conversation.created",
            "message.created",
            "notification.offline_message",
            "conversation.closed",
        ]
    )
    created = [r.json for r in received if r.json["type"] == "message.created"]
    visitor_said, agent_said = sorted(created, key=lambda p: p["data"]["message"]["id"])
    # Whatever the visitor typed arrives as it was typed, as JSON text.
    assert visitor_said["data"]["message"]["text"] == HOSTILE_TEXT
    assert visitor_said["data"]["message"]["author"] == "visitor"
    assert visitor_said["data"]["visitor"]["name"] == HOSTILE_NAME
    assert visitor_said["data"]["visitor"]["email"] == "anna@example.com"
    assert visitor_said["data"]["conversation"]["url"].endswith(
        f"/dashboard/conversations/{conversation_id}"
    )
    assert visitor_said["data"]["account"] == {"id": owner.account_id, "name": "Shop"}
    assert agent_said["data"]["message"]["author"] == "agent"
    assert agent_said["data"]["message"]["agent"] == {"id": owner.agent_id, "name": "Olga"}
    offline = by_type["notification.offline_message"]["data"]
    assert offline["notification"]["state"] == "sent"
    assert offline["notification"]["emailed"] == [{"id": owner.agent_id, "name": "Olga"}]
    assert [m["text"] for m in offline["messages"]] == [HOSTILE_TEXT]
    assert by_type["conversation.closed"]["data"]["closed_by"]["id"] == owner.agent_id
    # "Who was told, and how": the notification lists the webhook beside the e-mail.
    (explained,) = settled(owner, conversation_id)
    assert [(w["endpoint_id"], w["state"], w["last_status"]) for w in explained["webhooks"]] == [
        (everything["id"], "delivered", 200)
    ]
    database_url = hook_server.runtime.settings.effective_database_url
    printed = run_frontdesk(
        "explain", str(conversation_id), env={"FRONTDESK_DATABASE_URL": database_url}
    ).stdout
    assert (
        f"webhook {everything['id']} (standard) {receiver.url}/all: delivered after 1 "
        "attempt(s), last answer 200"
    ) in printed
    # The other endpoint got only what it wants, signed with its own secret.
    (closing,) = receiver.at("/closed")
    assert closing.verified
    assert closing.json["type"] == "conversation.closed"
    with pytest.raises(Exception, match="signature"):
        Webhook(everything["secret"]).verify(closing.body, closing.headers)
    assert closing.headers["content-type"] == "application/json"
    assert closing.headers["user-agent"].startswith("Frontdesk-Webhooks/")


def test_a_failed_delivery_is_tried_again_with_the_same_id_until_it_is_answered(
    hook_server: LiveServer, receiver: Receiver
) -> None:
    owner = live_sign_up(hook_server)
    endpoint = add_endpoint(owner, receiver, "/flaky", ["message.created"])
    receiver.script = [500, HANG, 503]
    receiver.hang_for = TIMEOUT + 1

    new_live_visitor(hook_server, owner.widget_key).say("Anyone there?")
    (delivery,) = finished(owner, endpoint["id"], 1)

    tries = receiver.at("/flaky")
    assert [t.answered for t in tries] == [500, HANG, 503, 200]
    assert {t.msg_id for t in tries} == {delivery["msg_id"]}
    assert all(t.verified for t in tries)
    # Each attempt signed anew: its own timestamp, the same body.
    assert len({t.body for t in tries}) == 1
    # Backoff: 0.1 s, then 0.4 s after the timeout (0.5 s), then 1.6 s.
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(tries)]
    assert gaps[0] >= RETRY_FIRST
    # The receiver stamps the hanging try once it has read it, a moment after the sender's
    # timeout began: the gap after it may be that moment short (it was 0.8992 s once).
    assert gaps[1] >= TIMEOUT + 4 * RETRY_FIRST - 0.02
    assert gaps[2] >= 16 * RETRY_FIRST
    assert delivery["state"] == "delivered"
    assert delivery["attempts"] == 4
    log = list(reversed(delivery["log"]))
    assert [(a["delivered"], a["status"]) for a in log] == [
        (False, 500),
        (False, None),
        (False, 503),
        (True, 200),
    ]
    assert "not now" in log[0]["answer"]
    assert log[1]["duration_ms"] >= TIMEOUT * 1000 * 0.9
    assert owner.call("GET", f"/webhooks/{endpoint['id']}").json()["failures"] == 0


def test_an_endpoint_that_keeps_failing_is_switched_off_and_its_owners_are_told(
    database: Database,
    database_url: str,
    passwords: PasswordHasher,
    tmp_path: Path,
    sink: MailSink,
    receiver: Receiver,
) -> None:
    settings = hook_settings(database_url, tmp_path, sink, webhook_disable_after=0.6)
    receiver.status = 503
    with serving(settings, database, passwords) as server:
        owner = live_sign_up(server)
        admin = owner.invite(role="admin")
        endpoint = add_endpoint(
            owner, receiver, "/down", ["message.created"], description="Status board"
        )
        visitor = new_live_visitor(server, owner.widget_key)
        visitor.say("First")
        visitor.say("Second")

        def switched_off() -> dict[str, Any]:
            found: dict[str, Any] = owner.call("GET", f"/webhooks/{endpoint['id']}").json()
            assert not found["enabled"], found
            return found

        off = eventually(switched_off, timeout=15, what="the endpoint switched off")
        assert off["disabled_reason"].endswith("the last: HTTP 503")
        assert off["failures"] >= 2
        logged = deliveries(owner, endpoint["id"])
        assert [d["state"] for d in logged] == ["failed", "failed"]
        # The owner is e-mailed (the admin is not an owner), once.
        subject = "A webhook of Shop was switched off"

        def told_of_it() -> list[Any]:
            return [c for c in sink.to(owner.email) if c.message["Subject"] == subject]

        (told,) = eventually(told_of_it, what="the e-mail to the owner")
        # The endpoint by its origin only: a Slack endpoint's path is its secret.
        assert f"{receiver.url}/… (Status board)" in told.text
        assert "/down" not in told.text
        assert "/dashboard/settings" in told.text
        assert [c for c in sink.to(admin.email) if c.message["Subject"] == subject] == []
        # Switched off, it gets no new events; on again, it does.
        tried = len(receiver.at("/down"))
        visitor.say("Third")
        assert len(deliveries(owner, endpoint["id"])) == 2
        receiver.status = 200
        again = owner.call("PATCH", f"/webhooks/{endpoint['id']}", {"enabled": True}).json()
        assert (again["enabled"], again["failures"], again["disabled_at"]) == (True, 0, None)
        visitor.say("Fourth")
        newest = finished(owner, endpoint["id"], 3)[0]
        assert newest["state"] == "delivered"
        assert json.loads(newest["payload"])["data"]["message"]["text"] == "Fourth"
        assert len(receiver.at("/down")) == tried + 1
        assert len(told_of_it()) == 1


def test_a_slack_endpoint_gets_slacks_format_with_nothing_typed_read_as_mrkdwn(
    hook_server: LiveServer, receiver: Receiver
) -> None:
    owner = live_sign_up(hook_server)
    endpoint = add_endpoint(
        owner, receiver, "/slack", ["conversation.created"], kind="slack", description="#support"
    )
    visitor = new_live_visitor(hook_server, owner.widget_key, name=HOSTILE_NAME)

    conversation_id = visitor.say(HOSTILE_TEXT)["conversation_id"]
    finished(owner, endpoint["id"], 1)

    (posted,) = receiver.at("/slack")
    message = posted.json
    assert set(message) == {"text", "blocks"}
    assert message["text"] == f"New conversation in conversation #{conversation_id}"
    kinds = [b["type"] for b in message["blocks"]]
    assert kinds == ["section", "context", "section", "actions"]
    headline, who, what, actions = message["blocks"]
    assert headline["text"]["type"] == "mrkdwn"
    public_url = hook_server.runtime.settings.public_url.rstrip("/")
    url = f"{public_url}/dashboard/conversations/{conversation_id}"
    assert headline["text"]["text"] == (
        f"*New conversation* in <{url}|conversation #{conversation_id}>"
    )
    # What was typed is plain text, never mrkdwn, with Slack's three characters escaped:
    # no <!channel>, no link, no mention reaches Slack as one.
    assert who["elements"] == [
        {
            "type": "plain_text",
            "text": "&lt;!channel&gt; *Anna* &lt;http://evil.example|click&gt; on Shop",
            "emoji": False,
        }
    ]
    assert what["text"] == {
        "type": "plain_text",
        "text": (
            "&lt;script&gt;alert(1)&lt;/script&gt; &lt;@U024BE7LH&gt; &amp;amp; _hi_ "
            "&lt;https://evil.example&gt;"
        ),
        "emoji": False,
    }
    (button,) = actions["elements"]
    assert button["url"] == url
    mrkdwn = [value for block in message["blocks"] for value in _texts(block, "mrkdwn")] + [
        message["text"]
    ]
    for text in mrkdwn:
        for typed in ("<!channel>", "evil.example", "U024BE7LH", "Anna", "script"):
            assert typed not in text


def _texts(node: Any, kind: str) -> Iterator[str]:
    if isinstance(node, dict):
        if node.get("type") == kind and isinstance(node.get("text"), str):
            yield node["text"]
        for value in node.values():
            yield from _texts(value, kind)
    elif isinstance(node, list):
        for item in node:
            yield from _texts(item, kind)


def test_a_test_event_is_sent_once_and_shows_in_the_delivery_log(
    hook_server: LiveServer, receiver: Receiver
) -> None:
    owner = live_sign_up(hook_server)
    endpoint = add_endpoint(owner, receiver, "/test", ["conversation.closed"])
    receiver.script = [404]

    sent = owner.call("POST", f"/webhooks/{endpoint['id']}/test")
    assert sent.status_code == 202, sent.text
    (failed,) = finished(owner, endpoint["id"], 1)
    assert failed["event"] == "webhook.test"
    assert (failed["state"], failed["attempts"], failed["last_status"]) == ("failed", 1, 404)
    assert owner.call("POST", f"/webhooks/{endpoint['id']}/test").status_code == 202
    delivered = finished(owner, endpoint["id"], 2)[0]
    assert delivered["state"] == "delivered"
    tests = receiver.at("/test")
    assert [t.answered for t in tests] == [404, 200]
    assert all(t.verified for t in tests)
    assert tests[1].json["type"] == "webhook.test"
    assert tests[1].json["data"]["endpoint"] == {"id": endpoint["id"]}


def test_a_new_secret_signs_from_then_on(hook_server: LiveServer, receiver: Receiver) -> None:
    owner = live_sign_up(hook_server)
    endpoint = add_endpoint(owner, receiver, "/rotated", ["message.created"])
    changed = owner.call("PATCH", f"/webhooks/{endpoint['id']}", {"new_secret": True}).json()
    assert changed["secret"] != endpoint["secret"]
    receiver.secrets["/rotated"] = changed["secret"]

    new_live_visitor(hook_server, owner.widget_key).say("Hi")
    finished(owner, endpoint["id"], 1)

    (got,) = receiver.at("/rotated")
    assert got.verified


def test_bad_endpoints_are_refused_and_only_managers_of_the_account_see_them(
    hook_server: LiveServer, receiver: Receiver
) -> None:
    owner = live_sign_up(hook_server)
    agent = owner.invite()
    stranger = live_sign_up(hook_server)
    endpoint = add_endpoint(owner, receiver, "/mine", ["message.created"])
    refused = {
        "http://hooks.example.com/x": "invalid_webhook_url",
        "https://10.0.0.7/hook": "invalid_webhook_url",
        "https://[::1]:8443/hook": "invalid_webhook_url",
        "https://localhost/hook": "invalid_webhook_url",
        "https://user:pw@hooks.example.com/": "invalid_webhook_url",
        "ftp://hooks.example.com/": "invalid_webhook_url",
    }
    for url, code in refused.items():
        made = owner.call("POST", "/webhooks", {"url": url, "events": ["message.created"]})
        assert_error(made, 422, code)
    for events in ([], ["message.deleted"], ["webhook.test"]):
        made = owner.call("POST", "/webhooks", {"url": receiver.url, "events": events})
        assert made.status_code == 422, made.text
    assert_error(owner.call("POST", "/webhooks", {"url": receiver.url}), 422, "invalid_input")
    assert_error(agent.call("GET", "/webhooks"), 403, "not_a_manager")
    assert_error(agent.call("POST", f"/webhooks/{endpoint['id']}/test"), 403, "not_a_manager")
    for call in (
        ("GET", f"/webhooks/{endpoint['id']}"),
        ("GET", f"/webhooks/{endpoint['id']}/deliveries"),
        ("DELETE", f"/webhooks/{endpoint['id']}"),
        ("POST", f"/webhooks/{endpoint['id']}/test"),
    ):
        assert_error(stranger.call(*call), 404, "webhook_not_found")
    # Nothing of it changed: one endpoint, untouched, and nothing sent.
    assert [e["id"] for e in owner.call("GET", "/webhooks").json()] == [endpoint["id"]]
    assert deliveries(owner, endpoint["id"]) == []
    assert owner.call("DELETE", f"/webhooks/{endpoint['id']}").status_code == 204
    assert owner.call("GET", "/webhooks").json() == []
    new_live_visitor(hook_server, owner.widget_key).say("Deleted: nobody is told")
    assert owner.call("GET", "/webhooks").json() == []
    assert receiver.at("/mine") == []


def test_an_account_without_webhooks_writes_no_events(
    hook_server: LiveServer, receiver: Receiver, database: Database
) -> None:
    from sqlalchemy import func, select

    from frontdesk.store.models import Account, WebhookMessage

    owner = live_sign_up(hook_server)
    other = live_sign_up(hook_server)
    add_endpoint(other, receiver, "/other", ["message.created"])
    new_live_visitor(hook_server, owner.widget_key).say("Hello")
    with database.read() as session:
        mask = session.scalar(select(Account.webhook_events).where(Account.id == owner.account_id))
        written = session.scalar(
            select(func.count())
            .select_from(WebhookMessage)
            .where(WebhookMessage.account_id == owner.account_id)
        )
    assert (mask, written) == (0, 0)
