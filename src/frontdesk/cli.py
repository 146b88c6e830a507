"""The ``frontdesk`` command: run the server, migrate the database, administer accounts."""

from __future__ import annotations

import json
import logging
import os
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import click
import uvicorn
from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import make_url

from frontdesk.api.app import API_PREFIX, create_app
from frontdesk.api.schemas import AgentIn, SignUpIn
from frontdesk.core.model import Locale, Plan, Role
from frontdesk.errors import FrontdeskError
from frontdesk.service import accounts, agents
from frontdesk.service.runtime import Runtime
from frontdesk.settings import CONFIG_FILE_VARIABLE, Settings
from frontdesk.store.database import Database
from frontdesk.store.migrate import upgrade

M = TypeVar("M", bound=BaseModel)
# No client frame of Frontdesk comes near this; the sessions refuse frames over 16 KiB.
WS_MAX_BYTES = 64 * 1024


def _load_settings() -> Settings:
    try:
        return Settings()
    except (ValidationError, ValueError) as exc:
        raise click.ClickException(f"invalid settings: {exc}") from exc


def _validated(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise click.ClickException(problems) from exc


def _values(enum: type[StrEnum]) -> list[str]:
    return [member.value for member in enum]


def _print_json(data: dict[str, Any]) -> None:
    click.echo(json.dumps(data, indent=2))


@click.group()
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=f"A TOML settings file (also {CONFIG_FILE_VARIABLE}).",
)
def main(config: Path | None) -> None:
    """Frontdesk: self-hosted live chat with e-mail notifications that are never lost."""
    if config is not None:
        os.environ[CONFIG_FILE_VARIABLE] = str(config)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--log-level", default="info", show_default=True)
def serve(host: str, port: int, log_level: str) -> None:
    """Run the whole product in this process (migrating the database first)."""
    settings = _load_settings()
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    runtime = Runtime.create(settings)
    upgrade(runtime.database)
    click.echo(f"Frontdesk on http://{host}:{port}  (API under {API_PREFIX}, docs at /docs)")
    click.echo(f"Database: {_redacted(settings.effective_database_url)}")
    uvicorn.run(
        create_app(runtime),
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        # wsproto holds an idle socket in about a fifth of the memory of uvicorn's default
        # implementation (docs/presence.md has the figures).
        ws="wsproto",
        ws_max_size=WS_MAX_BYTES,
    )


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration that has not run yet."""
    settings = _load_settings()
    database = Database(settings.effective_database_url)
    try:
        upgrade(database)
    finally:
        database.dispose()
    click.echo(f"Database {_redacted(settings.effective_database_url)} is up to date.")


@main.group()
def admin() -> None:
    """Administration without the HTTP API."""


@admin.command("create-account")
@click.option("--name", required=True, help="The company or website.")
@click.option("--plan", default="free", show_default=True, type=click.Choice(_values(Plan)))
@click.option("--owner-name", required=True)
@click.option("--owner-email", required=True)
@click.option("--owner-password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--locale", default="en", show_default=True, type=click.Choice(_values(Locale)))
def create_account(
    name: str, plan: str, owner_name: str, owner_email: str, owner_password: str, locale: str
) -> None:
    """Create an account and its owner; prints the widget key and the owner's token."""
    body = _validated(
        SignUpIn,
        {
            "name": name,
            "plan": plan,
            "owner": {
                "name": owner_name,
                "email": owner_email,
                "password": owner_password,
                "locale": locale,
            },
        },
    )
    runtime = _runtime()
    try:
        signed = accounts.sign_up(
            runtime,
            name=body.name,
            plan=body.plan,
            owner=accounts.NewAgent(
                name=body.owner.name,
                email=body.owner.email,
                password=body.owner.password,
                locale=body.owner.locale,
            ),
        )
    except FrontdeskError as exc:
        raise click.ClickException(exc.message) from exc
    _print_json(
        {
            "account_id": signed.account.id,
            "agent_id": signed.owner.id,
            "widget_key": signed.account.widget_key,
            "token": signed.token,
        }
    )


@admin.command("create-agent")
@click.option("--account-id", required=True, type=click.IntRange(1))
@click.option("--name", required=True)
@click.option("--email", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--role", default="agent", show_default=True, type=click.Choice(_values(Role)))
@click.option("--locale", default="en", show_default=True, type=click.Choice(_values(Locale)))
def create_agent(
    account_id: int, name: str, email: str, password: str, role: str, locale: str
) -> None:
    """Add an agent to an account."""
    body = _validated(
        AgentIn,
        {"name": name, "email": email, "password": password, "role": role, "locale": locale},
    )
    assert body.password is not None
    runtime = _runtime()
    try:
        agent = agents.create_agent(
            runtime,
            account_id,
            accounts.NewAgent(
                name=body.name,
                email=body.email,
                password=body.password,
                role=body.role,
                locale=body.locale,
            ),
        )
    except FrontdeskError as exc:
        raise click.ClickException(exc.message) from exc
    _print_json({"agent_id": agent.id, "account_id": agent.account_id, "email": agent.email})


def _runtime() -> Runtime:
    runtime = Runtime.create(_load_settings())
    upgrade(runtime.database)
    return runtime


def _redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
