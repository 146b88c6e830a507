"""Two processes on one PostgreSQL database: a token one of them remembers stops working
there once the other logs it out (the change is told on ``ACCESS_CHANNEL``)."""

from __future__ import annotations

from pathlib import Path

from frontdesk.security import PasswordHasher
from frontdesk.settings import Settings
from frontdesk.store.database import Database
from tests.support import LiveServer, eventually, live_sign_up, serving


def me(server: LiveServer, token: str) -> int:
    with server.http() as http:
        status: int = http.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code
    return status


def test_a_logout_in_one_process_ends_the_remembered_token_in_another(
    postgres_database: Database, postgres_url: str, passwords: PasswordHasher, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path, database_url=postgres_url, password_hashing="fast", run_worker=False
    )
    with (
        serving(settings, postgres_database, passwords) as one,
        serving(settings, postgres_database, passwords) as other,
    ):
        owner = live_sign_up(one)
        callers = other.runtime.agent_callers
        eventually(lambda: callers.trusted or None, what="the other process listening")
        assert me(other, owner.token) == 200
        assert len(callers) == 1  # remembered there
        assert owner.call("POST", "/auth/logout").status_code == 204
        eventually(
            lambda: me(other, owner.token) == 401 or None,
            timeout=5,
            what="the logout heard in the other process",
        )
