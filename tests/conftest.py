"""Fixtures shared by every test.

Each database test runs twice: on a real SQLite file and on a real PostgreSQL database made
for this test session (``FRONTDESK_TEST_POSTGRES_URL``, by default the local server). With
``CI=true`` an unreachable PostgreSQL fails the run instead of skipping those tests.

Tests share one migrated database per backend and stay apart the way tenants do: every test
signs up its own accounts with fresh e-mail addresses.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from frontdesk.api.app import create_app
from frontdesk.clock import ManualClock
from frontdesk.security import PasswordHasher
from frontdesk.service.runtime import Runtime
from frontdesk.settings import Settings
from frontdesk.store.database import Database
from frontdesk.store.migrate import upgrade
from tests.support import (
    REDIS_URL,
    SignedUp,
    loop_guard,
    manual_clock,
    postgres_unreachable_reason,
    routes_once,
    servers,
    sign_up,
)

IN_CI = os.environ.get("CI", "").lower() == "true"
# Tests make hundreds of visitors and logins from one address: every Settings here and every
# server a test starts runs without rate limits, unless the test turns them on
# (tests/api/test_rate_limits.py does, with each limit).
os.environ["FRONTDESK_RATE_LIMITS"] = "false"
# Nor do they follow a confirmation link for each agent they make: every address counts as
# proven, unless the test asks for proof (tests/engine/test_addresses_proven.py does).
os.environ["FRONTDESK_CONFIRM_ADDRESSES"] = "false"


loop_guard.watch()
# Each test's app reuses the routes FastAPI prepared for the first one (3-5 minutes of a
# CI run otherwise; tests/support/routes_once.py).
routes_once.prepare_routes_once()


@pytest.fixture(autouse=True)
def no_synchronous_database_on_the_loop(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails a test in which the product took a synchronous PostgreSQL connection on an
    event loop's thread (``tests/support/loop_guard.py``), unless it is marked
    ``loop_may_block``."""
    loop_guard.taken_on_loop()
    yield
    taken = loop_guard.taken_on_loop()
    if taken and request.node.get_closest_marker("loop_may_block") is None:
        pytest.fail(
            "a synchronous PostgreSQL connection was taken on an event loop's thread, "
            f"which holds every request of that loop ({len(taken)}x); the first from:\n" + taken[0]
        )


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis server the multi-process tests use (channels get a per-test prefix)."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        reason = f"Redis at {REDIS_URL} is not reachable: {exc}"
        if IN_CI:
            pytest.fail(f"CI must run the Redis tests. {reason}")
        pytest.skip(reason)
    return REDIS_URL


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    reason = postgres_unreachable_reason()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"CI must run the PostgreSQL tests. {reason}")
        pytest.skip(reason)
    with servers.postgres_database("frontdesk_test") as url:
        yield url


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[Database]:
    """A ``Database`` of its own on the session's PostgreSQL database, for tests that play
    two processes on it or watch its pool and caches from a fresh start."""
    database = Database(Settings(database_url=postgres_url).effective_database_url)
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "frontdesk.sqlite3"
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(scope="session")
def database(database_url: str) -> Iterator[Database]:
    db = Database(Settings(database_url=database_url).effective_database_url)
    upgrade(db)
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def passwords() -> PasswordHasher:
    return PasswordHasher("fast")


@pytest.fixture
def clock() -> ManualClock:
    return manual_clock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Without the engine: a test that runs the app's lifespan on the session's shared
    database must not send the other tests' e-mails (the shutdown then waits for them).
    Tests of the engine turn it on with their own mail server."""
    return Settings(
        database_url=database_url, password_hashing="fast", data_dir=tmp_path, run_worker=False
    )


@pytest.fixture
def runtime(
    settings: Settings, database: Database, clock: ManualClock, passwords: PasswordHasher
) -> Runtime:
    return Runtime(settings=settings, database=database, clock=clock, passwords=passwords)


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    """The API in-process, without its lifespan: nothing runs in the background, so tests
    on a manual clock decide when presence is swept. Live tests use ``live_server``."""
    return TestClient(create_app(runtime))


@pytest.fixture
def account(client: TestClient) -> SignedUp:
    return sign_up(client)


@pytest.fixture
def pro_account(client: TestClient) -> SignedUp:
    return sign_up(client, plan="pro")
