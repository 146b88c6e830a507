"""Real processes: ``frontdesk`` started as a user would start it, on a fresh database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Server, frontdesk_env, postgres_database
from tests.support.pgcluster import PrivateCluster, private_cluster


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: nothing migrated yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    request.getfixturevalue("postgres_url")  # fails in CI / skips locally when unreachable
    with postgres_database("frontdesk_fresh") as url:
        yield url


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """An empty PostgreSQL database (the multi-process deployment)."""
    with postgres_database("frontdesk_fresh") as url:
        yield url


@pytest.fixture
def serve(fresh_database_url: str, tmp_path: Path) -> Iterator[Server]:
    server = Server(frontdesk_env(fresh_database_url, tmp_path / "data"), tmp_path / "serve.log")
    try:
        server.wait_until_up()
        yield server
    finally:
        server.stop()


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    """A PostgreSQL cluster of the test's own, which it may stop and start again."""
    with private_cluster() as started:
        yield started
