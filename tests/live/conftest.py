"""The whole app on a real uvicorn in a thread of the test process, with its lifespan (hub,
lease renewal, presence sweep) on the real clock and leases of a fraction of a second
(``tests.support.serving``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from frontdesk.security import PasswordHasher
from frontdesk.store.database import Database
from tests.support import LiveServer, live_settings, serving


@pytest.fixture
def live_server(
    database: Database, database_url: str, passwords: PasswordHasher, tmp_path: Path
) -> Iterator[LiveServer]:
    with serving(live_settings(database_url, tmp_path), database, passwords) as server:
        yield server
