"""Passwords are hashed and checked outside every transaction, a bounded number at once, so
a flood of logins neither holds the database nor takes the threads other requests need."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.pool import QueuePool

from frontdesk.api.app import create_app
from frontdesk.clock import ManualClock
from frontdesk.security import PasswordHasher
from frontdesk.service import accounts, agents
from frontdesk.service.accounts import NewAgent
from frontdesk.service.runtime import Runtime
from frontdesk.settings import Settings
from frontdesk.store.database import Database
from tests.support import LiveServer, assert_error, serving, sign_up, unique_email


class WatchedHasher(PasswordHasher):
    """Notes, at each hash and check, how many more database connections were checked out
    than when it was made (a connection the session's earlier tests keep, such as the group
    commit's, is not this test's)."""

    def __init__(self, database: Database) -> None:
        super().__init__("fast")
        self.database = database
        self.before = cast(QueuePool, database.engine.pool).checkedout()
        self.held: list[tuple[str, int]] = []

    def hash(self, password: str) -> str:
        self._note("hash")
        return super().hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        self._note("verify")
        return super().verify(password_hash, password)

    def _note(self, what: str) -> None:
        checked_out = cast(QueuePool, self.database.engine.pool).checkedout()
        self.held.append((what, checked_out - self.before))


@pytest.fixture
def watched(database: Database) -> WatchedHasher:
    return WatchedHasher(database)


@pytest.fixture
def watched_client(
    settings: Settings, database: Database, clock: ManualClock, watched: WatchedHasher
) -> TestClient:
    rt = Runtime(settings=settings, database=database, clock=clock, passwords=watched)
    return TestClient(create_app(rt))


def test_no_connection_is_held_while_a_password_is_hashed_or_checked(
    watched_client: TestClient, watched: WatchedHasher
) -> None:
    owner = sign_up(watched_client)
    colleague = owner.invite()
    assert owner.post("/agents", {"name": "N", "email": unique_email()}).status_code == 201
    wrong = watched_client.post(
        "/api/v1/auth/login", json={"email": owner.email, "password": "not-the-password"}
    )
    assert_error(wrong, 401, "invalid_credentials")
    unknown = watched_client.post(
        "/api/v1/auth/login", json={"email": unique_email(), "password": "whatever-it-is"}
    )
    assert_error(unknown, 401, "invalid_credentials")
    changed = colleague.patch(
        "/me", {"password": "a-new-password", "current_password": colleague.password}
    )
    assert changed.status_code == 200, changed.text
    moved = colleague.patch("/me", {"email": unique_email(), "current_password": "a-new-password"})
    assert moved.status_code == 200, moved.text
    kinds = [kind for kind, _ in watched.held]
    # sign-up, two invitations, four logins (the invitee's, the wrong, the unknown and none
    # more), the password change (check + hash) and the e-mail change (check).
    assert kinds.count("hash") == 4, watched.held
    assert kinds.count("verify") == 5, watched.held
    assert all(held == 0 for _, held in watched.held), watched.held


def test_the_admin_cli_hashes_outside_its_transaction(
    settings: Settings, database: Database, clock: ManualClock, watched: WatchedHasher
) -> None:
    rt = Runtime(settings=settings, database=database, clock=clock, passwords=watched)
    owner = sign_up(TestClient(create_app(rt)))
    agents.create_agent(
        rt, owner.account_id, NewAgent(name="CLI", email=unique_email(), password="pw-of-cli")
    )
    assert watched.held[-1] == ("hash", 0)


def test_a_password_changed_while_a_login_checked_the_old_one_issues_no_token(
    client: TestClient, runtime: Runtime
) -> None:
    owner = sign_up(client)
    caller = accounts.authenticate_agent(runtime, owner.token)
    real_verify = runtime.passwords.verify

    def verify_then_change(password_hash: str | None, password: str) -> bool:
        right = real_verify(password_hash, password)
        runtime.passwords.verify = real_verify  # type: ignore[method-assign]
        agents.update_me(
            runtime, caller, password="changed-meanwhile", current_password=owner.password
        )
        return right

    runtime.passwords.verify = verify_then_change  # type: ignore[method-assign]
    try:
        late = client.post(
            "/api/v1/auth/login", json={"email": owner.email, "password": owner.password}
        )
    finally:
        del runtime.passwords.verify
    assert_error(late, 401, "invalid_credentials")
    fresh = client.post(
        "/api/v1/auth/login", json={"email": owner.email, "password": "changed-meanwhile"}
    )
    assert fresh.status_code == 200, fresh.text


# --- a flood of logins on a real server, with the standard (slow) hashing --------------------


@pytest.fixture
def slow_hashing_server(
    database: Database, database_url: str, tmp_path: Path
) -> Iterator[LiveServer]:
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        password_hashing="standard",
        password_checks_at_once=1,
        password_checks_waiting=4,
    )
    with serving(settings, database, PasswordHasher("standard")) as server:
        yield server


def test_a_login_flood_leaves_other_accounts_answered(
    slow_hashing_server: LiveServer,
) -> None:
    base = f"{slow_hashing_server.base_url}/api/v1"
    with httpx.Client(base_url=base, timeout=30) as http:
        victim = http.post(
            "/accounts",
            json={
                "name": "Victim",
                "owner": {"name": "V", "email": unique_email(), "password": "victim-password"},
            },
        ).json()
        bystander = http.post(
            "/accounts",
            json={
                "name": "Bystander",
                "owner": {"name": "B", "email": unique_email(), "password": "bystander-pw"},
            },
        ).json()
        visitor = http.post(f"/widget/{bystander['widget_key']}/visitors", json={}).json()
        victim_email = http.get(
            "/me", headers={"Authorization": f"Bearer {victim['token']}"}
        ).json()["email"]

    flood_statuses: list[int] = []
    retry_afters: set[str] = set()
    stop = threading.Event()

    def flood() -> None:
        with httpx.Client(base_url=base, timeout=60) as http:
            while not stop.is_set():
                answer = http.post(
                    "/auth/login", json={"email": victim_email, "password": "a-wrong-guess"}
                )
                flood_statuses.append(answer.status_code)
                if answer.status_code == 429:
                    retry_afters.add(answer.headers.get("retry-after", ""))

    flooders = [threading.Thread(target=flood) for _ in range(12)]
    for thread in flooders:
        thread.start()
    other_statuses: list[int] = []
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            agent = {"Authorization": f"Bearer {bystander['token']}"}
            writer = {"Authorization": f"Bearer {visitor['visitor_token']}"}
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                other_statuses.append(http.get("/conversations", headers=agent).status_code)
                other_statuses.append(
                    http.post(
                        f"/widget/{bystander['widget_key']}/messages",
                        json={"text": "still there?"},
                        headers=writer,
                    ).status_code
                )
                other_statuses.append(
                    http.patch("/me", json={"name": "B"}, headers=agent).status_code
                )
    finally:
        stop.set()
        for thread in flooders:
            thread.join(timeout=60)
    assert other_statuses
    assert set(other_statuses) <= {200, 201}, other_statuses
    # The flood was answered, wrongly or "too many at once", never with a 5xx.
    assert set(flood_statuses) == {401, 429}, set(flood_statuses)
    assert retry_afters == {"1"}
    with httpx.Client(base_url=base, timeout=30) as http:
        right = http.post(
            "/auth/login", json={"email": victim_email, "password": "victim-password"}
        )
    assert right.status_code == 200, right.text
