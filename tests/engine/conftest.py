"""The whole product on a real uvicorn with the engine running on the real clock, sending to
a real SMTP server on loopback, with the help article's durations scaled down to fractions of a
second: the offline e-mail is due ``DELAY`` after the message (the help article's two minutes)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from frontdesk.security import PasswordHasher
from frontdesk.settings import Settings
from frontdesk.store.database import Database
from tests.live.conftest import Agent, LiveServer, live_settings, serving
from tests.mailsink import MailSink, mail_sink

DELAY = 0.8  # offline_email_delay
LEASE = 0.6  # agent_device_timeout and visitor_left_after
RETRY_BASE = 0.3


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with mail_sink() as running:
        yield running


def engine_settings(database_url: str, data_dir: Path, smtp_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "offline_email_delay": DELAY,
        "smtp_url": smtp_url,
        "smtp_retry_base": RETRY_BASE,
        "smtp_retry_for": 60,
        "smtp_timeout": 2,
        "delivery_lease": 5,
        # As in production: the doorbell, not a short nap, must wake the worker in time.
        "worker_max_sleep": 60,
    }
    return live_settings(database_url, data_dir, **(values | overrides))


@pytest.fixture
def engine_server(
    database: Database,
    database_url: str,
    passwords: PasswordHasher,
    tmp_path: Path,
    sink: MailSink,
) -> Iterator[LiveServer]:
    settings = engine_settings(database_url, tmp_path, sink.url)
    with serving(settings, database, passwords) as server:
        yield server


def decisions(agent: Agent, conversation_id: int, **params: Any) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in ({"conversation_id": conversation_id} | params).items())
    response = agent.call("GET", f"/notifications?{query}")
    assert response.status_code == 200, response.text
    notifications: list[dict[str, Any]] = response.json()["notifications"]
    return notifications


def settled(
    agent: Agent, conversation_id: int, *, count: int = 1, timeout: float = 10, **params: Any
) -> list[dict[str, Any]]:
    """The conversation's decisions once ``count`` of them exist and none is scheduled and
    no delivery is pending or deferred: nothing more will happen to them."""
    deadline = time.monotonic() + timeout
    while True:
        found = decisions(agent, conversation_id, **params)
        busy = [
            n
            for n in found
            if n["state"] == "scheduled"
            or any(r["state"] in ("pending", "deferred") for r in n["recipients"])
        ]
        if len(found) >= count and not busy:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"not settled within {timeout}s: {found}")
        time.sleep(0.05)
