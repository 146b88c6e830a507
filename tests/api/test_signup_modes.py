"""FRONTDESK_SIGNUP: who may create an account through the API. ``open``: anybody;
``invite``: the bearer of an invitation for that address, made by the operator's CLI and
running out; ``closed``: nobody but the operator's CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from frontdesk.api.app import create_app
from frontdesk.cli import main
from frontdesk.clock import ManualClock
from frontdesk.core.model import Plan
from frontdesk.security import PasswordHasher
from frontdesk.service import accounts
from frontdesk.service.runtime import Runtime
from frontdesk.service.secrets import signup_invitation
from frontdesk.settings import Settings
from frontdesk.store.database import Database
from tests.support import assert_error, unique_email

OWNER_PASSWORD = "a-kettle-of-fish"


def app_with(
    settings: Settings,
    database: Database,
    clock: ManualClock,
    passwords: PasswordHasher,
    **values: Any,
) -> tuple[TestClient, Runtime]:
    rt = Runtime(
        settings=settings.model_copy(update=values),
        database=database,
        clock=clock,
        passwords=passwords,
    )
    return TestClient(create_app(rt)), rt


def sign_up_as(client: TestClient, email: str, invitation: str | None = None) -> Any:
    body: dict[str, Any] = {
        "name": "Teas",
        "owner": {"name": "Ivo", "email": email, "password": OWNER_PASSWORD},
    }
    if invitation is not None:
        body["invitation"] = invitation
    return client.post("/api/v1/accounts", json=body)


def cannot_log_in(client: TestClient, email: str) -> None:
    login = client.post("/api/v1/auth/login", json={"email": email, "password": OWNER_PASSWORD})
    assert_error(login, 401, "invalid_credentials")


def dashboard_config(client: TestClient) -> dict[str, Any]:
    page = client.get("/app").text
    raw = page.split('data-config="', 1)[1].split('"', 1)[0]
    config: dict[str, Any] = json.loads(raw.replace("&#34;", '"').replace("&quot;", '"'))
    return config


def test_closed_sign_up_refuses_everybody_but_the_operator(
    settings: Settings, database: Database, clock: ManualClock, passwords: PasswordHasher
) -> None:
    client, rt = app_with(settings, database, clock, passwords, signup="closed")
    email = unique_email("owner")
    assert_error(sign_up_as(client, email), 403, "signup_closed")
    invited = sign_up_as(client, email, signup_invitation(rt, email))
    assert_error(invited, 403, "signup_closed")
    cannot_log_in(client, email)
    assert dashboard_config(client)["signup"] == "closed"
    signed = accounts.sign_up(
        rt,
        name="Teas",
        plan=Plan.FREE,
        owner=accounts.NewAgent(name="Ivo", email=email, password=OWNER_PASSWORD),
        by_operator=True,
    )
    assert signed.owner.email == email


def test_invite_sign_up_takes_an_invitation_for_that_address_until_it_runs_out(
    settings: Settings, database: Database, clock: ManualClock, passwords: PasswordHasher
) -> None:
    client, rt = app_with(
        settings, database, clock, passwords, signup="invite", signup_invitation_valid_for=3600
    )
    email, other = unique_email("owner"), unique_email("owner")
    assert_error(sign_up_as(client, email), 403, "signup_invitation_required")
    for wrong in (
        signup_invitation(rt, other),
        "not-an-invitation",
        signup_invitation(rt, email)[:-2],
    ):
        assert_error(sign_up_as(client, email, wrong), 403, "signup_invitation_required")
    late = signup_invitation(rt, email)
    clock.advance(3601)
    assert_error(sign_up_as(client, email, late), 403, "signup_invitation_required")
    cannot_log_in(client, email)
    fresh = signup_invitation(rt, email.upper())  # addresses compare without case
    assert sign_up_as(client, email, fresh).status_code == 201
    assert dashboard_config(client)["signup"] == "invite"


def test_open_sign_up_needs_no_invitation(client: TestClient) -> None:
    assert sign_up_as(client, unique_email("owner")).status_code == 201
    assert dashboard_config(client)["signup"] == "open"


def test_the_cli_makes_an_invitation_with_its_link(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "FRONTDESK_DATABASE_URL": database_url,
        "FRONTDESK_DATA_DIR": str(tmp_path),
        "FRONTDESK_PUBLIC_URL": "https://chat.example.com",
        "FRONTDESK_SIGNUP": "invite",
    }
    local = unique_email("Ivo").partition("@")[0]
    made = CliRunner().invoke(
        main, ["admin", "invite-account", "--email", f"{local}@Teas.EXAMPLE"], env=env
    )
    assert made.exit_code == 0, made.output
    printed = json.loads(made.output)
    assert printed["email"] == f"{local}@teas.example"
    assert (
        printed["url"] == f"https://chat.example.com/app#/signup?invitation={printed['invitation']}"
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    rt = Runtime.create(Settings(password_hashing="fast"))
    try:
        answer = sign_up_as(
            TestClient(create_app(rt)), f"{local}@teas.example", printed["invitation"]
        )
    finally:
        rt.database.dispose()
    assert answer.status_code == 201, answer.text
    refused = CliRunner().invoke(
        main, ["admin", "invite-account", "--email", "no address"], env=env
    )
    assert refused.exit_code != 0
