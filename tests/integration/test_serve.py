"""``frontdesk serve`` as a real process behind real uvicorn, on a fresh SQLite file and a
fresh PostgreSQL database: it migrates on start and the first-day flow works end to end."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.support import Server, frontdesk_env, run_frontdesk, unique_email

pytestmark = pytest.mark.slow


def test_sign_up_login_and_a_visitor_message_in_unserved(serve: Server) -> None:
    with httpx.Client(base_url=f"{serve.base_url}/api/v1", timeout=10) as http:
        owner = {"name": "Olga", "email": unique_email("owner"), "password": "owner-password"}
        signed = http.post("/accounts", json={"name": "Shop", "plan": "standard", "owner": owner})
        assert signed.status_code == 201, signed.text
        widget_key = signed.json()["widget_key"]

        login = http.post(
            "/auth/login", json={"email": owner["email"], "password": "owner-password"}
        )
        assert login.status_code == 200
        agent = {"Authorization": f"Bearer {login.json()['token']}"}

        visitor = http.post(f"/widget/{widget_key}/visitors", json={"name": "Vera"}).json()
        posted = http.post(
            f"/widget/{widget_key}/messages",
            json={"text": "Is anyone there?"},
            headers={"Authorization": f"Bearer {visitor['visitor_token']}"},
        )
        assert posted.status_code == 201

        unserved = http.get("/conversations", params={"folder": "unserved"}, headers=agent).json()
        (conversation,) = unserved["conversations"]
        assert conversation["id"] == posted.json()["conversation_id"]
        assert conversation["visitor"]["name"] == "Vera"
        assert conversation["last_message"]["text"] == "Is anyone there?"


def test_concurrent_requests_through_uvicorn_do_not_fail(serve: Server) -> None:
    """Sign-ups in parallel threads against one server: all succeed, none is a 5xx."""

    def sign_up(n: int) -> int:
        owner = {"name": f"O{n}", "email": unique_email("owner"), "password": "owner-password"}
        response = httpx.post(
            f"{serve.base_url}/api/v1/accounts",
            json={"name": f"Shop {n}", "owner": owner},
            timeout=30,
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(sign_up, range(24)))
    assert statuses == [201] * 24


def test_admin_commands_create_an_account_and_an_agent_who_can_log_in(
    fresh_database_url: str, tmp_path: Path
) -> None:
    env = frontdesk_env(fresh_database_url, tmp_path / "data")
    assert run_frontdesk("db", "upgrade", env=env).returncode == 0

    owner_email = unique_email("owner")
    created = run_frontdesk(
        "admin", "create-account", "--name", "Shop", "--plan", "pro",
        "--owner-name", "Olga", "--owner-email", owner_email,
        "--owner-password", "owner-password",
        env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    account = json.loads(created.stdout)

    agent_email = unique_email("agent")
    added = run_frontdesk(
        "admin", "create-agent", "--account-id", str(account["account_id"]),
        "--name", "Adam", "--email", agent_email, "--password", "agent-password",
        "--role", "admin",
        env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr

    again = run_frontdesk(
        "admin", "create-agent", "--account-id", str(account["account_id"]),
        "--name", "Copy", "--email", agent_email.upper(), "--password", "agent-password",
        env=env,
    )  # fmt: skip
    assert again.returncode != 0
    assert "already exists" in again.stderr

    bad = run_frontdesk(
        "admin", "create-agent", "--account-id", str(account["account_id"]),
        "--name", "Eve", "--email", "not-an-address", "--password", "agent-password",
        env=env,
    )  # fmt: skip
    assert bad.returncode != 0
    assert "email" in bad.stderr

    server = Server(env, tmp_path / "serve.log")
    try:
        server.wait_until_up()
        login = httpx.post(
            f"{server.base_url}/api/v1/auth/login",
            json={"email": agent_email, "password": "agent-password"},
        )
        assert login.status_code == 200
        me = httpx.get(
            f"{server.base_url}/api/v1/me",
            headers={"Authorization": f"Bearer {login.json()['token']}"},
        ).json()
        assert (me["role"], me["account_id"]) == ("admin", account["account_id"])
    finally:
        server.stop()


def test_bad_settings_stop_the_server_with_a_clear_message(tmp_path: Path) -> None:
    env = frontdesk_env(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path)
    env["FRONTDESK_OFFLINE_EMAIL_DELAY"] = "-5"
    result = run_frontdesk("serve", "--port", "0", env=env)
    assert result.returncode != 0
    assert "offline_email_delay" in result.stderr


def test_two_processes_migrating_one_database_at_once_both_succeed(
    fresh_database_url: str, tmp_path: Path
) -> None:
    env = frontdesk_env(fresh_database_url, tmp_path / "data")
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: run_frontdesk("db", "upgrade", env=env), range(2)))
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
