"""Presence and live events over real WebSockets through a real uvicorn (docs/spec.md sections 3 and
6), with leases of 0.6 s on the real clock."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from frontdesk.realtime.hub import DEFAULT_QUEUE_FRAMES, LocalHub, agents_topic
from frontdesk.realtime.redis_hub import RedisHub
from frontdesk.security import PasswordHasher
from frontdesk.service import widget
from frontdesk.settings import Settings
from frontdesk.store.database import Database
from frontdesk.store.models import Visitor
from tests.support import LEASE, LiveServer, Socket, live_sign_up, new_live_visitor, serving


def test_an_agent_socket_says_hello_and_answers_ping(live_server: LiveServer) -> None:
    owner = live_sign_up(live_server)
    with owner.socket("laptop") as socket:
        hello = socket.next()
        assert hello == {
            "type": "hello",
            "agent_id": owner.agent_id,
            "device_id": "laptop",
            "status": "online",
        }
        socket.send({"type": "ping"})
        assert socket.wait_for("pong") == {"type": "pong"}


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"token": "fda_nope"}, "invalid_token"),
        ({"device_id": "has space"}, "invalid_device_id"),
        ({"kind": "fridge"}, "invalid_kind"),
        ({"status": "away"}, "invalid_status"),
    ],
)
def test_a_refused_agent_socket_is_told_why(
    live_server: LiveServer, query: dict[str, str], code: str
) -> None:
    owner = live_sign_up(live_server)
    query = dict(query)  # the parameter is shared by both backends' runs
    if "token" in query:
        owner.token = query.pop("token")
    device = query.pop("device_id", "tab").replace(" ", "%20")
    with owner.socket(device, **query) as socket:
        first = socket.next()
        assert first.get("error", {}).get("code") == code, first
        with pytest.raises(ConnectionClosed) as closed:
            socket.next()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code in (4400, 4401)


@pytest.mark.parametrize(
    ("query", "code", "close"),
    [
        ({"visitor_token": "fdv_nope"}, "invalid_visitor_token", 4401),
        ({"widget_key": "not!a!key"}, "widget_not_found", 4400),
        ({"group_id": "sales"}, "invalid_group_id", 4400),
        ({"group_id": "999999"}, "group_not_found", 4400),
    ],
)
def test_a_refused_visitor_socket_is_told_why(
    live_server: LiveServer, query: dict[str, str], code: str, close: int
) -> None:
    owner = live_sign_up(live_server, plan="pro")
    visitor = new_live_visitor(live_server, owner.widget_key)
    query = dict(query)  # the parameter is shared by both backends' runs
    visitor.token = query.pop("visitor_token", visitor.token)
    visitor.widget_key = query.pop("widget_key", visitor.widget_key)
    with visitor.socket(**query) as socket:
        first = socket.next()
        assert first.get("error", {}).get("code") == code, first
        with pytest.raises(ConnectionClosed) as closed:
            socket.next()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == close


def test_a_visitor_message_reaches_the_agents_of_its_account_only(live_server: LiveServer) -> None:
    owner = live_sign_up(live_server)
    stranger = live_sign_up(live_server)
    with owner.socket() as mine, stranger.socket() as theirs:
        mine.wait_for("hello")
        theirs.wait_for("hello")
        visitor = new_live_visitor(live_server, owner.widget_key, name="Vera")
        posted = visitor.say("Hello, anyone?")
        created = mine.wait_for("conversation.created")
        assert created["conversation"]["id"] == posted["conversation_id"]
        assert created["conversation"]["visitor"]["name"] == "Vera"
        message = mine.wait_for("message.created")
        assert message["message"]["text"] == "Hello, anyone?"
        assert all(f["type"] in ("presence.changed",) for f in theirs.quiet_for(0.3))


def test_an_agent_reply_reaches_the_visitor_live(live_server: LiveServer) -> None:
    owner = live_sign_up(live_server)
    visitor = new_live_visitor(live_server, owner.widget_key)
    conversation_id = visitor.say("Do you ship to Brno?")["conversation_id"]
    with visitor.socket() as widget, owner.socket() as dashboard:
        widget.wait_for("widget.status")
        dashboard.wait_for("hello")
        reply = owner.call("POST", f"/conversations/{conversation_id}/messages", {"text": "We do!"})
        assert reply.status_code == 201
        frame = widget.wait_for("message.created", timeout=5)
        if frame["message"]["author"] == "system":  # the join the reply made first
            frame = widget.wait_for("message.created")
        assert frame["message"]["text"] == "We do!"
        assert frame["message"]["author"] == "agent"
        updated = dashboard.wait_for("conversation.updated")
        assert updated["conversation"]["status"] == "served"
        assert updated["conversation"]["assignee_id"] == owner.agent_id


def test_the_widget_status_follows_the_agents_live(live_server: LiveServer) -> None:
    owner = live_sign_up(live_server)
    visitor = new_live_visitor(live_server, owner.widget_key)
    with visitor.socket() as widget:
        assert widget.wait_for("widget.status") == {
            "type": "widget.status",
            "online": False,
            "open": True,
            "back_at": None,
        }
        with owner.socket("laptop") as dashboard:
            dashboard.wait_for("hello")
            assert widget.wait_for("widget.status")["online"] is True
            dashboard.send({"type": "status", "status": "offline"})
            assert dashboard.wait_for("status") == {"type": "status", "status": "offline"}
            assert widget.wait_for("widget.status")["online"] is False
            dashboard.send({"type": "status", "status": "online"})
            assert widget.wait_for("widget.status")["online"] is True
        assert widget.wait_for("widget.status")["online"] is False  # the tab was closed


def test_web_offline_and_mobile_online_keeps_the_agent_online(live_server: LiveServer) -> None:
    owner = live_sign_up(live_server)
    colleague = owner.invite()
    with owner.socket("laptop", status="offline") as laptop, colleague.socket("watcher") as watcher:
        laptop.wait_for("hello")
        watcher.wait_for("hello")
        phone = owner.call(
            "POST", "/me/devices/phone/heartbeat", {"kind": "mobile", "status": "online"}
        )
        assert phone.json()["online"] is True
        watcher.wait_for("presence.changed", agent_id=owner.agent_id, online=True)
        # No heartbeat after that: the phone's lease lapses and the sweep notices.
        lapsed = watcher.wait_for(
            "presence.changed", agent_id=owner.agent_id, online=False, timeout=LEASE * 10
        )
        assert lapsed["online"] is False


def test_an_open_socket_outlives_many_leases(live_server: LiveServer) -> None:
    owner = live_sign_up(live_server)
    colleague = owner.invite()
    with colleague.socket("watcher") as watcher, owner.socket("laptop") as laptop:
        watcher.wait_for("presence.changed", agent_id=owner.agent_id, online=True)
        laptop.wait_for("hello")
        frames = watcher.quiet_for(LEASE * 4)
        assert not [
            f for f in frames if f.get("agent_id") == owner.agent_id and f.get("online") is False
        ]


def test_a_page_navigation_is_not_leaving_but_going_away_is(live_server: LiveServer) -> None:
    owner = live_sign_up(live_server)
    visitor = new_live_visitor(live_server, owner.widget_key)
    with owner.socket() as dashboard:
        dashboard.wait_for("hello")
        with visitor.socket() as page_one:
            page_one.wait_for("widget.status")
        with visitor.socket() as page_two:  # the next page, well within visitor_left_after
            page_two.wait_for("widget.status")
            time.sleep(LEASE * 1.5)  # reading the page: the open socket keeps the visitor here
        dashboard.quiet_for(0.1)
        arrivals_and_leaves = [
            f for f in dashboard.seen if f.get("visitor_id") == visitor.visitor_id
        ]
        assert [f["online"] for f in arrivals_and_leaves] == [True]
        left = dashboard.wait_for(
            "presence.changed", visitor_id=visitor.visitor_id, online=False, timeout=LEASE * 10
        )
        assert left["online"] is False


def test_bad_frames_get_an_error_and_the_session_goes_on(live_server: LiveServer) -> None:
    owner = live_sign_up(live_server)
    with owner.socket() as socket:
        socket.wait_for("hello")
        for bad in [
            "not json",
            "[1, 2]",
            '{"no": "type"}',
            '{"type": "dance"}',
            '{"type": "status", "status": "x"}',
        ]:
            socket.send(bad)
            assert socket.wait_for("error")["error"]["code"]
        socket.send({"type": "ping"})
        assert socket.wait_for("pong") == {"type": "pong"}


def test_an_oversized_frame_closes_the_socket(live_server: LiveServer) -> None:
    owner = live_sign_up(live_server)
    with owner.socket() as socket:
        socket.wait_for("hello")
        socket.send('{"type": "ping", "pad": "' + "x" * 20_000 + '"}')
        with pytest.raises(ConnectionClosed) as closed:
            socket.wait_for("never sent")
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009


def test_a_pro_group_widget_follows_its_members_only(live_server: LiveServer) -> None:
    owner = live_sign_up(live_server, plan="pro")
    group = owner.call("POST", "/groups", {"name": "Sales"})
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]
    seller = owner.invite(group_ids=[group_id])
    visitor = new_live_visitor(live_server, owner.widget_key)
    with visitor.socket(group_id=group_id) as widget:
        assert widget.wait_for("widget.status") == {
            "type": "widget.status",
            "online": False,
            "open": True,
            "back_at": None,
        }
        with owner.socket("owner-laptop") as outsider:
            outsider.wait_for("hello")
            # The owner is not in Sales: the Sales widget stays offline.
            assert [f for f in widget.quiet_for(LEASE) if f["type"] == "widget.status"] == []
            status = owner.call("GET", f"/widget/{owner.widget_key}/status?group_id={group_id}")
            assert status.json() == {
                "online": False,
                "open": True,
                "back_at": None,
                "nobody_to_tell": False,
                "reply_within": None,
            }
            assert owner.call("GET", f"/widget/{owner.widget_key}/status").json() == {
                "online": True,
                "open": True,
                "back_at": None,
                "nobody_to_tell": False,
                "reply_within": None,
            }
            with seller.socket("seller-laptop") as member:
                member.wait_for("hello")
                assert widget.wait_for("widget.status")["online"] is True
            assert widget.wait_for("widget.status")["online"] is False


def test_a_visitor_leaving_and_returning_is_an_event_of_its_conversation(
    live_server: LiveServer,
) -> None:
    owner = live_sign_up(live_server)
    visitor = new_live_visitor(live_server, owner.widget_key, name="Vera")
    with owner.socket() as dashboard:
        dashboard.wait_for("hello")
        # Writing is a sign of life: the visitor arrives with its first message.
        conversation_id = visitor.say("Anyone there?")["conversation_id"]
        arrived = dashboard.wait_for("presence.changed", visitor_id=visitor.visitor_id, online=True)
        assert arrived["conversation_ids"] == [conversation_id]
        seen = owner.call("GET", f"/conversations/{conversation_id}").json()
        assert seen["visitor"]["on_website"] is True
        left = dashboard.wait_for(
            "presence.changed", visitor_id=visitor.visitor_id, online=False, timeout=LEASE * 10
        )
        assert left["conversation_ids"] == [conversation_id]
        gone = owner.call("GET", f"/conversations/{conversation_id}").json()
        assert gone["visitor"]["on_website"] is False
        with visitor.socket() as page:  # back on the website
            page.wait_for("widget.status")
            back = dashboard.wait_for(
                "presence.changed", visitor_id=visitor.visitor_id, online=True
            )
            assert back["conversation_ids"] == [conversation_id]


def test_a_client_too_slow_to_read_is_closed_with_1013_and_slows_nobody(
    live_server: LiveServer,
) -> None:
    owner = live_sign_up(live_server)
    topic = agents_topic(owner.account_id)
    pad = "x" * 16_000
    with owner.socket("reader") as reader, owner.socket("stuck") as stuck:
        reader.wait_for("hello")
        stuck.wait_for("hello")
        # The stuck client reads nothing more: its WebSocket library stops taking data off
        # the TCP connection, the kernel's buffers fill, and the server's queue for it
        # overflows. The reader reads every frame, in order, the whole time.
        for batch in range(80):
            for n in range(50):
                live_server.hub.publish(topic, {"type": "tick", "n": batch * 50 + n, "pad": pad})
            for n in range(50):
                assert reader.wait_for("tick")["n"] == batch * 50 + n
        closed = read_until_closed(stuck)
    assert closed.rcvd is not None
    assert closed.rcvd.code == 1013
    ticks = [f["n"] for f in stuck.seen if f["type"] == "tick"]
    assert ticks == list(range(len(ticks)))  # what it did get came in order, up to the gap
    assert len(ticks) < 4000


def test_a_burst_of_lapses_reaches_a_dashboard_that_reads(live_server: LiveServer) -> None:
    """More transitions than a socket's queue holds, announced by one sweep in one go: a
    burst, not a slow client, so the dashboard gets them all and stays open."""
    owner = live_sign_up(live_server)
    rt = live_server.runtime
    many = DEFAULT_QUEUE_FRAMES + 44
    visitor_ids = {
        widget.create_visitor(rt, owner.widget_key, name=None, email=None, page_url=None).visitor.id
        for _ in range(many)
    }
    with owner.socket() as dashboard:
        dashboard.wait_for("hello")
        with rt.database.write() as session:  # all on the website until a moment ago
            session.execute(
                update(Visitor)
                .where(Visitor.id.in_(visitor_ids))
                .values(present=True, present_until=rt.clock.now() - timedelta(seconds=1))
            )
        left: set[int] = set()
        while left != visitor_ids:
            frame = dashboard.wait_for("presence.changed", online=False, timeout=10)
            left.add(frame["visitor_id"])
        dashboard.send({"type": "ping"})
        assert dashboard.wait_for("pong") == {"type": "pong"}


def read_until_closed(socket: Socket) -> ConnectionClosed:
    try:
        while True:
            socket.next(timeout=10)
    except ConnectionClosed as closed:
        return closed


def created_after(socket: Socket, message_id: int) -> dict[str, Any]:
    """The first message created after ``message_id``: the event of a message said before
    the socket opened may still arrive, as it is published after the message's answer."""
    while True:
        message: dict[str, Any] = socket.wait_for("message.created")["message"]
        if message["id"] > message_id:
            return message


def test_join_and_close_are_announced_as_system_messages(live_server: LiveServer) -> None:
    owner = live_sign_up(live_server)
    visitor = new_live_visitor(live_server, owner.widget_key)
    said = visitor.say("Hello?")
    conversation_id = said["conversation_id"]
    with visitor.socket() as widget, owner.socket() as dashboard:
        widget.wait_for("widget.status")
        dashboard.wait_for("hello")
        owner.call("POST", f"/conversations/{conversation_id}/join")
        joined = created_after(widget, said["message_id"])
        assert (joined["author"], joined["text"]) == ("system", "Olga joined the conversation.")
        assert created_after(dashboard, said["message_id"])["id"] == joined["id"]
        owner.call("POST", f"/conversations/{conversation_id}/close")
        closed = widget.wait_for("message.created")["message"]
        assert closed["text"] == "Olga closed the conversation."
        assert dashboard.wait_for("conversation.updated")["conversation"]["status"] == "served"
        assert dashboard.wait_for("conversation.updated")["conversation"]["status"] == "closed"


def test_a_reply_to_an_unserved_conversation_announces_the_join_first(
    live_server: LiveServer,
) -> None:
    owner = live_sign_up(live_server)
    visitor = new_live_visitor(live_server, owner.widget_key)
    conversation_id = visitor.say("Hello?")["conversation_id"]
    with visitor.socket() as widget:
        widget.wait_for("widget.status")
        owner.call("POST", f"/conversations/{conversation_id}/messages", {"text": "Hi!"})
        first = widget.wait_for("message.created")["message"]
        second = widget.wait_for("message.created")["message"]
    assert (first["author"], second["author"], second["text"]) == ("system", "agent", "Hi!")


def test_deactivating_an_agent_closes_its_sockets_and_takes_it_offline(
    live_server: LiveServer,
) -> None:
    owner = live_sign_up(live_server)
    leaver = owner.invite()
    with owner.socket("owner-tab") as watcher, leaver.socket("leaver-tab") as theirs:
        watcher.wait_for("hello")
        theirs.wait_for("hello")
        watcher.wait_for("presence.changed", agent_id=leaver.agent_id, online=True)
        done = owner.call("PATCH", f"/agents/{leaver.agent_id}", {"active": False})
        assert done.status_code == 200
        watcher.wait_for("presence.changed", agent_id=leaver.agent_id, online=False)
        assert watcher.wait_for("agent.deactivated")["agent_id"] == leaver.agent_id
        with pytest.raises(ConnectionClosed) as closed:
            theirs.wait_for("never sent")
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4401, "agent_deactivated")
        # No frame of the account reached it after the deactivation.
        assert not [f for f in theirs.seen if f.get("type") == "agent.deactivated"]


def test_a_socket_waits_for_its_turn_to_open(
    database: Database, database_url: str, passwords: PasswordHasher, tmp_path: Path
) -> None:
    """With one opening at a time, a socket whose turn is taken gets no handshake answer
    until the turn is free; a client that gave up waiting does not keep the turn, and each
    greeting frees it for the next socket."""
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        password_hashing="fast",
        socket_openings_at_once=1,
    )
    with serving(settings, database, passwords) as server:
        owner = live_sign_up(server)
        loop = server.app.state.keeper._loop
        openings = server.app.state.openings
        asyncio.run_coroutine_threadsafe(openings.acquire(), loop).result(timeout=5)
        url = owner.socket("laptop").url
        with pytest.raises(TimeoutError):
            connect(url, open_timeout=0.5)
        loop.call_soon_threadsafe(openings.release)
        with owner.socket("laptop") as first, owner.socket("phone") as second:
            assert first.next()["type"] == "hello"
            assert second.next()["type"] == "hello"
        assert asyncio.run_coroutine_threadsafe(_free_turns(openings), loop).result(5) == 1


async def _free_turns(openings: asyncio.Semaphore) -> int:
    return 0 if openings.locked() else 1


def test_the_live_server_runs_in_the_shape_of_its_database(live_server: LiveServer) -> None:
    """The suite runs in both shapes: embedded on SQLite (frames in-process), scale-out on
    PostgreSQL (frames through Redis, as between several serve processes)."""
    if live_server.runtime.database.is_postgresql:
        assert isinstance(live_server.hub, RedisHub)
    else:
        assert isinstance(live_server.hub, LocalHub)
