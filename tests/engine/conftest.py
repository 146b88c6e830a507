"""The whole product on a real uvicorn with the engine running on the real clock, sending to
a real SMTP server on loopback, with the help article's durations scaled down to fractions of a
second: the offline e-mail is due ``DELAY`` after the message (the help article's two minutes;
``tests.support.engine_settings``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from frontdesk.security import PasswordHasher
from frontdesk.store.database import Database
from tests.mailsink import MailSink, mail_sink
from tests.support import LiveServer, engine_settings, serving


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with mail_sink() as running:
        yield running


@pytest.fixture
def engine_overrides() -> dict[str, Any]:
    """Settings of ``engine_server`` besides ``engine_settings``' own: a module that needs
    others defines this fixture again."""
    return {}


@pytest.fixture
def engine_server(
    database: Database,
    database_url: str,
    passwords: PasswordHasher,
    tmp_path: Path,
    sink: MailSink,
    engine_overrides: dict[str, Any],
) -> Iterator[LiveServer]:
    settings = engine_settings(database_url, tmp_path, sink.url, **engine_overrides)
    with serving(settings, database, passwords) as server:
        yield server
