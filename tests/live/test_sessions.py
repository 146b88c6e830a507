"""Sessions end where they should: a logout ends that token and its sockets, a new password
or e-mail address ends every other session of the agent, and "log out everywhere" ends all
of them; over REST and on open sockets, and nobody else's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest
from websockets.exceptions import ConnectionClosed

from tests.support import Agent, LiveServer, Socket, live_sign_up, new_live_visitor

OWNER_PASSWORD = "owner-password"


def second_session(agent: Agent) -> Agent:
    with agent.server.http() as http:
        login = http.post("/auth/login", json={"email": agent.email, "password": OWNER_PASSWORD})
    assert login.status_code == 200, login.text
    return Agent(
        agent.server,
        login.json()["token"],
        agent.agent_id,
        agent.account_id,
        agent.widget_key,
        agent.email,
    )


@contextmanager
def greeted(*agents: Agent) -> Iterator[list[Socket]]:
    """A socket of each agent's session, each greeted."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(a.socket(f"device-{i}")) for i, a in enumerate(agents)]
        for socket in sockets:
            socket.wait_for("hello")
        yield sockets


def assert_ended(socket: Socket) -> None:
    with pytest.raises(ConnectionClosed) as closed:
        socket.wait_for("never sent")
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4401, "session_ended")


def assert_still_live(socket: Socket, server: LiveServer, agent: Agent) -> None:
    """The socket still gets the account's frames: a new visitor's conversation."""
    new_live_visitor(server, agent.widget_key).say("still there?")
    socket.wait_for("conversation.created")


def no_session_frames(*sockets: Socket) -> None:
    for socket in sockets:
        assert not [f for f in socket.seen if f.get("type") == "sessions.ended"]


def test_a_logout_ends_that_token_and_its_sockets_only(live_server: LiveServer) -> None:
    laptop = live_sign_up(live_server)
    phone = second_session(laptop)
    with laptop.socket("laptop") as on_laptop, phone.socket("phone") as on_phone:
        on_laptop.wait_for("hello")
        on_phone.wait_for("hello")
        assert laptop.call("POST", "/auth/logout").status_code == 204
        assert_ended(on_laptop)
        assert_still_live(on_phone, live_server, phone)
        no_session_frames(on_phone)
    assert laptop.call("GET", "/me").status_code == 401
    assert phone.call("GET", "/me").status_code == 200


@pytest.mark.parametrize("change", ["password", "email"])
def test_a_new_login_ends_every_other_session_of_the_agent(
    live_server: LiveServer, change: str
) -> None:
    owner = live_sign_up(live_server)
    colleague = owner.invite()
    here, elsewhere = second_session(owner), second_session(owner)
    with greeted(here, elsewhere, colleague) as (on_here, on_elsewhere, on_colleague):
        new_value = "a-new-password" if change == "password" else f"moved-{owner.email}"
        changed = here.call("PATCH", "/me", {change: new_value, "current_password": OWNER_PASSWORD})
        assert changed.status_code == 200, changed.text
        assert_ended(on_elsewhere)
        assert_still_live(on_here, live_server, here)
        on_colleague.wait_for("conversation.created")
        no_session_frames(on_here, on_colleague)
    assert here.call("GET", "/me").status_code == 200
    for ended in (owner, elsewhere):
        assert ended.call("GET", "/me").status_code == 401
    assert colleague.call("GET", "/me").status_code == 200


def test_logging_out_everywhere_ends_every_session_of_the_agent(
    live_server: LiveServer,
) -> None:
    owner = live_sign_up(live_server)
    colleague = owner.invite()
    other = second_session(owner)
    with greeted(owner, other, colleague) as (on_one, on_two, on_colleague):
        assert owner.call("POST", "/auth/logout-everywhere").status_code == 204
        assert_ended(on_one)
        assert_ended(on_two)
        assert_still_live(on_colleague, live_server, colleague)
        no_session_frames(on_colleague)
    assert owner.call("GET", "/me").status_code == 401
    assert other.call("GET", "/me").status_code == 401
    assert colleague.call("GET", "/me").status_code == 200
    assert second_session(owner).call("GET", "/me").status_code == 200
