"""The ``frontdesk`` command: run the server, migrate the database, administer accounts.

What only one command needs is imported in that command's body: a ``frontdesk worker``
then holds the engine without FastAPI, uvicorn, the routes and the admin's schemas
(79 MB instead of 105 MB when it starts).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import signal
import socket
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import make_url

from frontdesk import metrics
from frontdesk.clock import SystemClock
from frontdesk.core.model import Locale, Plan, Role
from frontdesk.core.notifications import describe_bounce, smtp_reply
from frontdesk.engine.mailer import Mailer
from frontdesk.engine.worker import NotificationWorker
from frontdesk.errors import FrontdeskError
from frontdesk.mail.transport import SmtpTarget, SmtpTransport
from frontdesk.memory import one_malloc_arena
from frontdesk.security import redacting_handlers
from frontdesk.service import notifications
from frontdesk.service.runtime import Runtime
from frontdesk.settings import CONFIG_FILE_VARIABLE, Settings
from frontdesk.store.database import Database
from frontdesk.store.migrate import upgrade

if TYPE_CHECKING:
    from frontdesk.api.schemas.notifications import PushStageOut

M = TypeVar("M", bound=BaseModel)


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
    # The HTTP side is imported by the commands that serve it only: a `frontdesk worker`
    # or an admin command then holds ~30 MB less (FastAPI, uvicorn and the routes).
    import uvicorn

    from frontdesk.api.app import API_PREFIX, create_app
    from frontdesk.realtime.transport import UVICORN_WEBSOCKET_OPTIONS

    settings = _load_settings()
    if "public_url" not in settings.model_fields_set:
        # Without FRONTDESK_PUBLIC_URL, the links in e-mails lead to where this serves.
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 (a comparison)
        settings = settings.model_copy(update={"public_url": f"http://{shown}:{port}"})
    _configure_logging(log_level)
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
        log_config=_uvicorn_log_config(),
        # Who the client is, is frontdesk.api.clients' to say, from trusted_proxies only.
        proxy_headers=False,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_timeout)),
        ws_ping_interval=settings.ws_ping_interval,
        ws_ping_timeout=settings.ws_ping_timeout,
        **UVICORN_WEBSOCKET_OPTIONS,
    )


@main.command()
@click.option("--log-level", default="info", show_default=True)
def worker(log_level: str) -> None:
    """Run only the notification engine: decide due notifications and send their e-mails.

    Any number of workers and `serve` processes can share one PostgreSQL database; set
    FRONTDESK_RUN_WORKER=false on the `serve` processes to leave the e-mail to the workers.
    """
    one_malloc_arena()  # before any thread: frontdesk/memory.py
    settings = _load_settings()
    _configure_logging(log_level)
    runtime = Runtime.create(settings)
    upgrade(runtime.database)
    click.echo(f"Frontdesk notification worker on {_redacted(settings.effective_database_url)}")
    asyncio.run(_run_worker(runtime))


def _configure_logging(log_level: str) -> None:
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    redacting_handlers()


def _uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging, each of its handlers redacting tokens and secrets (it logs
    the URL of every socket it accepts)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact": {"()": "frontdesk.security.RedactSecrets"}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact"]
    return config


async def _run_worker(runtime: Runtime) -> None:
    settings = runtime.settings
    mailer = Mailer(settings)
    await mailer.start()
    engine = NotificationWorker(runtime, mailer)
    await engine.start()
    served = None
    if settings.worker_metrics_port is not None:
        token = settings.metrics_token
        served = metrics.serve_metrics(
            settings.worker_metrics_host,
            settings.worker_metrics_port,
            None if token is None else token.get_secret_value(),
        )
        click.echo(f"Metrics at http://{settings.worker_metrics_host}:{served.port}/metrics")
    try:
        await _until_signalled()
    finally:
        if served is not None:
            served.stop()
        await engine.stop()
        await mailer.stop()


async def _until_signalled() -> None:
    """Return once SIGTERM or SIGINT arrives."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stopping.set)
    await stopping.wait()


@main.command()
@click.option(
    "--url",
    default=None,
    help="A running serve's address (http://127.0.0.1:8000): its own /readyz, with its "
    "SMTP transport's last outcome.",
)
def doctor(url: str | None) -> None:
    """Check what this installation needs: the database, its schema, Redis where
    configured, and where e-mail goes. Exits 1 when something is wrong."""
    from frontdesk.health import readiness

    settings = _load_settings()
    if url is not None:
        import urllib.error
        import urllib.request

        if not url.startswith(("http://", "https://")):
            raise click.BadParameter("an http:// or https:// address", param_hint="--url")
        try:
            with urllib.request.urlopen(f"{url.rstrip('/')}/readyz", timeout=10) as answer:  # noqa: S310 (http(s) only, checked above)
                found = json.loads(answer.read())
        except urllib.error.HTTPError as error:  # 503: not ready, and why
            found = json.loads(error.read())
        except (OSError, ValueError) as error:
            raise click.ClickException(f"{url} did not answer: {type(error).__name__}") from None
    else:
        database = Database(settings.effective_database_url)
        try:
            found = asyncio.run(readiness(settings, database, smtp_last=None, sending=False))
        finally:
            database.dispose()
        found = found.as_json()
        found["smtp"] = (
            f"sends to {_redacted(settings.smtp_url)} (`frontdesk mail check` tests it)"
            if settings.smtp_url
            else "the built-in catcher (no FRONTDESK_SMTP_URL)"
        )
    click.echo(f"Database: {_redacted(settings.effective_database_url)}")
    for name, check in found["checks"].items():
        click.echo(f"{'ok  ' if check['ok'] else 'FAIL'} {name}: {check['detail']}")
    click.echo(f"     smtp: {found['smtp']}")
    click.echo("ready" if found["status"] == "ready" else "NOT READY")
    if found["status"] != "ready":
        raise SystemExit(1)


@main.command()
@click.option("--host", default=None, help="Default: FRONTDESK_INBOUND_HOST (127.0.0.1).")
@click.option(
    "--port",
    default=None,
    type=click.IntRange(0, 65535),
    help="Default: FRONTDESK_INBOUND_PORT; 0 picks a free port.",
)
@click.option("--log-level", default="info", show_default=True)
def inbound(host: str | None, port: int | None, log_level: str) -> None:
    """Run only the inbound endpoint: an SMTP server that takes the delivery-status
    notifications sent back to notification e-mails and records their bounces and, with
    reply by e-mail on, the replies to reply addresses (docs/reply-by-email.md).

    The MX of the bounce address's domain (FRONTDESK_BOUNCE_ADDRESS, or FRONTDESK_MAIL_FROM)
    and of the reply domain (FRONTDESK_REPLY_DOMAIN) must lead here, directly or through a
    mail server that relays their `+` addresses.
    """
    settings = _load_settings()
    if port is None and settings.inbound_port is None:
        raise click.ClickException(
            "the inbound endpoint needs a port: set FRONTDESK_INBOUND_PORT or give --port "
            "(0 picks a free one)"
        )
    _configure_logging(log_level)
    runtime = Runtime.create(settings)
    upgrade(runtime.database)
    asyncio.run(_run_inbound(runtime, host, port))


async def _run_inbound(runtime: Runtime, host: str | None, port: int | None) -> None:
    from frontdesk.engine.inbound import InboundReceiver

    receiver = InboundReceiver(runtime, host=host, port=port)
    await receiver.start()
    click.echo(
        f"Frontdesk inbound endpoint on {receiver.host}:{receiver.port} (SMTP, {receiver.what})"
    )
    try:
        await _until_signalled()
    finally:
        await receiver.stop()


@main.command()
@click.argument("conversation_id", type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True, help="The API's JSON instead of text.")
def explain(conversation_id: int, as_json: bool) -> None:
    """Why e-mails for a conversation were (not) sent: every decision of the engine."""
    from frontdesk.api.explained import notification_out

    runtime = _runtime()
    try:
        conversation, views = notifications.explain_conversation(runtime, conversation_id)
    except FrontdeskError as exc:
        raise click.ClickException(exc.message) from exc
    outs = [notification_out(view) for view in views]
    if as_json:
        _print_json({"notifications": [out.model_dump(mode="json") for out in outs]})
        return
    visitor = conversation.visitor.name or conversation.visitor.email or "anonymous"
    click.echo(
        f"Conversation {conversation.id} of account {conversation.account_id}: "
        f"{conversation.status.value}, visitor {visitor!r}"
    )
    if not outs:
        click.echo(
            "No notification was ever opened for it: every visitor message found an agent of "
            "its scope online, and the visitor never left unanswered while one was."
        )
    for out in outs:
        click.echo("")
        verdict = out.state.value + (f" ({out.reason.value})" if out.reason else "")
        click.echo(f"#{out.id} {out.kind.value}: {verdict}")
        click.echo(f"  {out.reason_text}")
        decided = out.decided_at.isoformat() if out.decided_at else "not yet"
        click.echo(
            f"  opened {out.opened_at.isoformat()}, due {out.due_at.isoformat()}, decided {decided}"
        )
        messages = ", ".join(map(str, out.message_ids))
        if out.recipients:
            messages += f" (the e-mail lists: {', '.join(map(str, out.listed_message_ids))})"
        click.echo(f"  messages: {messages}")
        for recipient in out.recipients:
            said = smtp_reply(recipient.smtp_code, recipient.smtp_text)
            reply = f" — {said}" if said else ""
            retry = (
                f", next attempt {recipient.next_attempt_at.isoformat()}"
                if recipient.next_attempt_at
                else ""
            )
            bounce = ""
            if recipient.bounced_at is not None:
                told = describe_bounce(
                    recipient.bounced_at, recipient.bounce_status, recipient.bounce_text
                )
                bounce = f", then {told}"
            click.echo(
                f"  to agent {recipient.agent_id} <{recipient.email}>: {recipient.state.value} "
                f"after {recipient.attempts} attempt(s){retry}{reply}{bounce}"
            )
        for left_out in out.not_recipients:
            click.echo(f"  not to agent {left_out.agent_id}: {left_out.reason.value}")
        if out.push is not None:
            _echo_push(out.push)
        for hook in out.webhooks:
            answer = f", last answer {hook.last_status}" if hook.last_status is not None else ""
            click.echo(
                f"  webhook {hook.endpoint_id} ({hook.kind}) {hook.url}: {hook.state} after "
                f"{hook.attempts} attempt(s){answer}"
            )


def _echo_push(push: PushStageOut) -> None:
    """The push before the e-mail: when, or why nobody, and each push's answer."""
    if push.due_at is not None:
        click.echo(f"  push: due {push.due_at.isoformat()}")
    elif push.reason is not None:
        click.echo(f"  push: none ({push.reason.value})")
    for made in push.pushes:
        answer = f" {made.status}" if made.status is not None else ""
        said = f" ({made.answer})" if made.answer else ""
        click.echo(
            f"  pushed to agent {made.agent_id} on {made.device_name!r} via "
            f"{made.push_service}: {made.state.value}{answer}{said}"
        )
    for left_out in push.not_pushed:
        click.echo(f"  not pushed to agent {left_out.agent_id}: {left_out.reason.value}")


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
def push() -> None:
    """Web Push (docs/push.md)."""


@push.command("vapid-key")
def push_vapid_key() -> None:
    """Print the installation's VAPID public key (made on first use), the
    applicationServerKey browsers subscribe with."""
    from frontdesk.service.push import vapid_key

    runtime = _runtime()
    try:
        click.echo(vapid_key(runtime).public_key)
    finally:
        runtime.database.dispose()


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
    from frontdesk.api.schemas.accounts import SignUpIn
    from frontdesk.service import accounts

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
            by_operator=True,
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


@admin.command("invite-account")
@click.option("--email", required=True, help="The address of the account's future owner.")
def invite_account(email: str) -> None:
    """An invitation to sign up (FRONTDESK_SIGNUP=invite): prints it and the link to the
    dashboard's sign-up that carries it, valid for FRONTDESK_SIGNUP_INVITATION_VALID_FOR."""
    from frontdesk.api.schemas.accounts import OwnerIn
    from frontdesk.mail.identifiers import invitation_link
    from frontdesk.service.secrets import signup_invitation

    address = _validated(OwnerIn, {"name": "-", "email": email, "password": "-" * 8}).email
    runtime = _runtime()
    invitation = signup_invitation(runtime, address)
    until = runtime.clock.now() + timedelta(seconds=runtime.settings.signup_invitation_valid_for)
    _print_json(
        {
            "email": address,
            "invitation": invitation,
            "url": invitation_link(runtime.settings.public_url, invitation),
            "valid_until": until.isoformat(),
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
    from frontdesk.api.schemas.agents import AgentIn
    from frontdesk.service import accounts, agents

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


@admin.command("confirm-address")
@click.option("--email", required=True, help="The agent's present address.")
def confirm_address(email: str) -> None:
    """Take an agent's address as proven without the link (the operator vouches for it):
    notifications go to it from now on."""
    from frontdesk.service import agents

    runtime = _runtime()
    try:
        agent = agents.vouch_for_address(runtime, email)
    except FrontdeskError as exc:
        raise click.ClickException(exc.message) from exc
    _print_json({"agent_id": agent.id, "email": agent.email, "email_confirmed": True})


@main.group()
def mail() -> None:
    """Whether receivers will trust Frontdesk's e-mail: DNS records and DKIM keys."""


@mail.command("check")
@click.option("--to", "recipient", metavar="ADDRESS", help="Send a test e-mail here.")
@click.option(
    "--nameserver",
    metavar="HOST[:PORT]",
    help="Ask this DNS server (default: this machine's resolver).",
)
@click.option(
    "--dns-timeout",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds one DNS lookup may take.",
)
@click.option("--json", "as_json", is_flag=True, help="The findings as JSON.")
def mail_check_command(
    recipient: str | None, nameserver: str | None, dns_timeout: float, as_json: bool
) -> None:
    """Look up the sender domain's SPF, DKIM, DMARC and MX records, send a test e-mail
    (with --to), and say what is missing and what to publish. Exits with 1 when something
    must be fixed."""
    from frontdesk.mail import check as mail_check  # dnspython and dkimpy: only here

    settings = _load_settings()
    try:
        target = SmtpTarget.parse(settings.smtp_url) if settings.smtp_url else None
    except ValueError as exc:
        raise click.ClickException(f"FRONTDESK_SMTP_URL: {exc}") from exc
    setup = mail_check.MailSetup(
        mail_from=settings.mail_from,
        bounce_address=settings.bounce_address,
        relay_host=target.host if target else None,
        dkim_domain=settings.dkim_domain,
        dkim_selector=settings.dkim_selector,
        dkim_private_key_file=settings.dkim_private_key_file,
        public_url=settings.public_url,
        reply_domain=settings.effective_reply_domain if settings.replies_enabled else None,
    )
    try:
        resolver = mail_check.make_resolver(nameserver, timeout=dns_timeout)
    except (ValueError, OSError) as exc:
        where = f"--nameserver {nameserver}: " if nameserver else ""
        raise click.ClickException(f"{where}{exc}") from exc
    findings = mail_check.check_dns(setup, resolver)
    if target is not None and recipient:
        transport = SmtpTransport(
            target, timeout=settings.smtp_timeout, ca_file=settings.smtp_ca_file
        )
        sent = mail_check.send_test_email(
            transport,
            setup=setup,
            recipient=recipient,
            now=SystemClock().now(),
            host=socket.getfqdn(),
        )
        findings.append(asyncio.run(sent))
    else:
        findings.append(mail_check.unsent_test_email(relay_configured=target is not None))
    if as_json:
        ok = not any(finding.status.needs_fixing for finding in findings)
        _print_json({"ok": ok, "findings": [finding.as_json() for finding in findings]})
    else:
        relay = f"{target.host}:{target.port}" if target else None
        header = mail_check.setup_lines(setup, relay=relay, nameserver=nameserver)
        click.echo(mail_check.render_text(findings, header=header))
    if any(finding.status.needs_fixing for finding in findings):
        raise SystemExit(1)


@mail.command("dkim-key")
@click.option("--selector", required=True, help="Names the key in DNS, e.g. frontdesk.")
@click.option("--domain", required=True, help="The domain that signs: FRONTDESK_MAIL_FROM's.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def mail_dkim_key(selector: str, domain: str, out: Path) -> None:
    """Make a 2048-bit RSA key for DKIM signing (readable only by its owner) and print the
    DNS record that publishes its public half."""
    from frontdesk.mail import check as mail_check

    pem = mail_check.new_dkim_private_key()
    try:
        record = mail_check.dkim_record(selector, domain, mail_check.dkim_public_key(pem))
        # O_EXCL: a key that exists may be the one a published record belongs to.
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{out} exists; it is not overwritten") from None
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    with os.fdopen(descriptor, "wb") as key_file:
        key_file.write(pem)
    click.echo(f"Wrote a {mail_check.DKIM_KEY_BITS}-bit RSA private key to {out} (mode 0600).")
    click.echo("\nPublish this TXT record in DNS:")
    click.echo(f"  name:  {record.name}\n  value: {record.value}")
    click.echo(f"In a zone file:\n  {record.zone_line()}")
    click.echo("\nThen set, and check with `frontdesk mail check`:")
    click.echo(f"  FRONTDESK_DKIM_DOMAIN={domain}\n  FRONTDESK_DKIM_SELECTOR={selector}")
    click.echo(f"  FRONTDESK_DKIM_PRIVATE_KEY_FILE={out.resolve()}")


def _runtime() -> Runtime:
    runtime = Runtime.create(_load_settings())
    upgrade(runtime.database)
    return runtime


def _redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
