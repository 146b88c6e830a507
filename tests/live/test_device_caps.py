"""An agent keeps at most ``max_devices_per_agent`` devices (a new one takes the place of the
one longest disconnected, and is refused while all are connected) and holds at most
``max_sockets_per_agent`` sockets open in a process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from websockets.exceptions import ConnectionClosed

from frontdesk.api.app import create_app
from frontdesk.clock import ManualClock
from frontdesk.security import PasswordHasher
from frontdesk.service.runtime import Runtime
from frontdesk.settings import Settings
from frontdesk.store.database import Database
from tests.support import (
    LEASE,
    LiveServer,
    SignedUp,
    assert_error,
    live_settings,
    live_sign_up,
    serving,
    sign_up,
)


def beat(agent: SignedUp, device: str) -> Any:
    return agent.post(f"/me/devices/{device}/heartbeat", {"kind": "mobile", "status": "online"})


def device_ids(agent: SignedUp) -> list[str]:
    return [d["device_id"] for d in agent.get("/me/status").json()["devices"]]


def test_a_new_device_takes_the_place_of_the_longest_gone_and_is_refused_while_all_are_here(
    settings: Settings, database: Database, clock: ManualClock, passwords: PasswordHasher
) -> None:
    capped = settings.model_copy(update={"max_devices_per_agent": 3, "agent_device_timeout": 60})
    rt = Runtime(settings=capped, database=database, clock=clock, passwords=passwords)
    agent = sign_up(TestClient(create_app(rt)))
    for device in ("phone", "tablet", "laptop"):
        assert beat(agent, device).status_code == 200
        clock.advance(1)
    assert_error(beat(agent, "fourth"), 409, "too_many_devices")
    assert device_ids(agent) == ["phone", "tablet", "laptop"]
    assert beat(agent, "phone").status_code == 200  # a device it has goes on as ever

    clock.advance(58.5)  # tablet's lease (until 61 s) has run out, laptop's (62 s) not
    assert beat(agent, "fourth").status_code == 200
    assert sorted(device_ids(agent)) == ["fourth", "laptop", "phone"]
    put = agent.put("/me/status", {"status": "online", "device_id": "fifth"})
    assert_error(put, 409, "too_many_devices")


@pytest.fixture
def capped_server(
    database: Database, database_url: str, passwords: PasswordHasher, tmp_path: Path
) -> Iterator[LiveServer]:
    settings = live_settings(
        database_url, tmp_path, max_sockets_per_agent=2, max_devices_per_agent=2
    )
    with serving(settings, database, passwords) as server:
        yield server


def test_one_socket_too_many_is_refused_and_a_closed_one_makes_room(
    capped_server: LiveServer,
) -> None:
    agent = live_sign_up(capped_server)
    with agent.socket("one") as one, agent.socket("two") as two:
        one.wait_for("hello")
        two.wait_for("hello")
        with agent.socket("three") as three, pytest.raises(ConnectionClosed) as refused:
            three.wait_for("hello")
        assert refused.value.rcvd is not None
        assert (refused.value.rcvd.code, refused.value.rcvd.reason) == (4429, "too_many_sockets")
        assert [f["error"]["code"] for f in three.seen] == ["too_many_sockets"]
    with agent.socket("three") as three:
        three.wait_for("hello")


def test_sockets_of_new_devices_take_the_places_of_gone_ones(
    capped_server: LiveServer,
) -> None:
    agent = live_sign_up(capped_server)
    for device in ("old-tab", "other-tab"):
        with agent.socket(device) as socket:
            socket.wait_for("hello")
    time.sleep(LEASE + 0.2)  # both leases out: their places are free
    with agent.socket("new-tab") as socket:
        socket.wait_for("hello")
        listed = agent.call("GET", "/me/status").json()["devices"]
    assert len(listed) == 2
    assert "new-tab" in [d["device_id"] for d in listed]
