"""The one settings object of Frontdesk.

Values come, highest priority first, from keyword arguments, ``FRONTDESK_*`` environment
variables, and an optional TOML config file named by ``FRONTDESK_CONFIG_FILE`` (keys are the
field names below, without the prefix). Every duration is in seconds and accepts fractions, so
tests can run the real rules in well under a second.
"""

from __future__ import annotations

import ipaddress
import os
import re
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from frontdesk.mail.transport import SmtpTarget

if TYPE_CHECKING:
    from limits import RateLimitItem

CONFIG_FILE_VARIABLE = "FRONTDESK_CONFIG_FILE"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FRONTDESK_", extra="forbid", frozen=True)

    data_dir: Path = Field(
        default=Path("var"),
        description="Where the embedded defaults keep their files (the SQLite database).",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; postgresql://… is served by psycopg 3. "
        "Default: an SQLite file in data_dir.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Optional: live events travel through Redis pub/sub, so several "
        "processes serve one set of agents and visitors.",
    )
    redis_prefix: str = Field(
        default="frontdesk",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Prefix of Frontdesk's Redis channels, so installations can share a Redis.",
    )
    smtp_url: str | None = Field(
        default=None, description="smtp:// or smtps:// URL. Default: the built-in mail catcher."
    )
    mail_from: str = "Frontdesk <frontdesk@localhost>"
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where people reach this server; links in e-mails point here.",
    )

    # The help article (docs/spec.md section 1): an offline-message e-mail arrives about two
    # minutes after the message, and none is sent if an agent came back online within those
    # two minutes.
    offline_email_delay: PositiveFloat = 120.0
    # Before that e-mail, the agents with a browser or phone subscribed are pushed this long
    # after the message (docs/push.md), unless an agent came online meanwhile; a delay not
    # shorter than the e-mail's means no push.
    offline_push_delay: PositiveFloat = 10.0
    # The push stage, having run, sleeps at least this long before it runs again for pushes
    # due meanwhile, so that a busy moment's pushes (one due every few milliseconds) are
    # decided together rather than one wake-up each; a push due at once (a missed
    # conversation's, a new subscription's) still wakes it at once (docs/push.md).
    push_gather_for: NonNegativeFloat = 0.25
    # While agents are online, a conversation opened and still unserved this long after
    # reminds the online agents of its scope who are away from the dashboard (its tab
    # hidden), by push (docs/push.md); 0 switches the reminder off.
    unserved_push_after: NonNegativeFloat = 60.0
    # Long enough that a page navigation (the widget reconnects within a second or two on the
    # next page) never counts as leaving; short enough that "missed" e-mails are timely.
    visitor_left_after: PositiveFloat = 30.0
    # A visitor message renews the visitor's lease this much beyond visitor_left_after, so
    # that a visitor writing several messages in a moment writes its lease once: a leaving
    # is recorded at most this late, never early (docs/presence.md).
    visitor_seen_coalesce: NonNegativeFloat = 0.5
    # A mobile app in the background heartbeats over REST; twice a 30 s heartbeat interval
    # tolerates one lost heartbeat before the device counts as gone.
    agent_device_timeout: PositiveFloat = 60.0
    # Every socket is pinged this often and closed when the pong has not come within
    # ws_ping_timeout: a laptop closed without a goodbye (a "hard disconnect") is offline
    # at most ws_ping_interval + ws_ping_timeout after its last sign (docs/reachability.md).
    ws_ping_interval: PositiveFloat = 20.0
    ws_ping_timeout: PositiveFloat = 20.0
    # The mail server taking no e-mail for this long alerts the owners and admins of the
    # accounts with e-mail waiting (docs/reachability.md).
    alert_after: PositiveFloat = 600.0
    # How often the engine looks for accounts with nobody online within business hours.
    alert_check_every: PositiveFloat = 10.0
    smtp_retry_base: PositiveFloat = 30.0
    smtp_retry_for: PositiveFloat = 172_800.0
    # PostgreSQL: the connections each process keeps open, and how many more it may open
    # for a moment; a process needs at most pool + overflow, plus one or two that listen
    # (docs/deployment.md sizes max_connections from them).
    database_pool_size: PositiveInt = 5
    database_max_overflow: NonNegativeInt = 10
    # On SIGTERM `serve` stops taking connections, closes its sockets with 1012 (the
    # dashboard and widget reconnect, spread over a few seconds), and waits this long at most
    # for requests in flight before it stops (docs/deployment.md).
    shutdown_timeout: PositiveFloat = 10.0
    # While the database is unavailable (down, restarting) requests are answered 503 with
    # this in Retry-After (rounded up to whole seconds).
    unavailable_retry_after: PositiveFloat = 1.0
    # One SMTP command (connect, RCPT, DATA …) may take this long before the attempt counts
    # as a temporary failure.
    smtp_timeout: PositiveFloat = 30.0
    # A worker holds a delivery this long while it sends; a worker that dies holding it
    # leaves it to be sent again by another once the lease has run out. It must cover one
    # whole send with room to spare (checked below), and it is how long a crash delays the
    # e-mails it interrupted.
    delivery_lease: PositiveFloat = 120.0
    # The engine sleeps until its next due time and is woken by new work (in-process, and
    # through PostgreSQL's NOTIFY across processes); this is the longest it sleeps without
    # a wake-up, a safety net against a wake-up that never came.
    worker_max_sleep: PositiveFloat = 60.0
    # ``frontdesk serve`` runs the notification engine in-process unless this is false (for
    # installations that run it as separate ``frontdesk worker`` processes).
    run_worker: bool = True
    # A ``frontdesk worker`` has no HTTP side: with this set it answers GET /metrics on this
    # port of ``worker_metrics_host`` (the serve's rule: with metrics_token for its bearer,
    # without one for this machine only). Off by default: two workers on one machine need
    # a port each (deploy/systemd/frontdesk-worker@.service gives 9101, 9102, …).
    worker_metrics_port: int | None = Field(default=None, ge=0, le=65535)
    worker_metrics_host: str = "127.0.0.1"
    # Sockets a process takes from their handshake to their greeting at once; the others
    # wait for a turn. When every dashboard and widget of a restarted proxy comes back at
    # once, the event loop works through a hundred or so at a time, and requests in between
    # wait for those only.
    socket_openings_at_once: int = Field(default=128, ge=1, le=100_000)
    # Devices an agent keeps: a new one beyond this takes the place of the one longest
    # disconnected, and is refused (409 too_many_devices) while all are connected.
    max_devices_per_agent: int = Field(default=20, ge=1, le=10_000)
    # Sockets one agent holds open in one process; one more is refused (4429).
    max_sockets_per_agent: int = Field(default=20, ge=1, le=10_000)
    # On SQLite, a thread of each process copies the write-ahead log into the database file
    # this often (a passive checkpoint, beside the writers), so that the request whose
    # commit filled the log does not do it (docs/performance.md).
    sqlite_checkpoint_every: PositiveFloat = 0.25
    # The built-in mail catcher (used when smtp_url is not set) listens on loopback here;
    # 0 picks a free port.
    mail_catcher_port: int = Field(default=0, ge=0, le=65535)

    # SMTP over TLS (smtps://, or STARTTLS on smtp://) checks the server's certificate
    # against the system's trust store, or against this CA bundle (PEM) when it is set.
    smtp_ca_file: Path | None = None
    # The engine sends over at most this many SMTP connections at once, each reused for
    # many e-mails.
    smtp_max_connections: int = Field(default=4, ge=1, le=64)

    dkim_domain: str | None = None
    dkim_selector: str | None = None
    dkim_private_key_file: Path | None = None

    # Asynchronous bounces: every e-mail's envelope sender is ``<local>+<token>@<domain>`` of
    # this address (VERP), so a delivery-status notification sent back to it names the
    # delivery it is about. Default: the address of mail_from. The inbound SMTP endpoint that
    # reads them listens on inbound_host:inbound_port (``frontdesk inbound``, or inside
    # ``frontdesk serve`` when inbound_port is set); the domain's MX must lead there.
    bounce_address: str | None = None
    inbound_host: str = "127.0.0.1"
    inbound_port: int | None = Field(default=None, ge=0, le=65535)
    # Reply by e-mail (docs/reply-by-email.md). Agents answer a notification, and visitors
    # the answers e-mailed to them, by replying: every such e-mail carries
    # ``Reply-To: reply+<token>@<reply_domain>``, and what comes back to that address (by
    # SMTP to the inbound endpoint, or posted by a mail provider to /api/v1/inbound/mime
    # with inbound_secret) goes into the conversation. Default: on when an inbound port or
    # an inbound secret is set (something can receive the replies); the domain defaults to
    # the bounce address's.
    reply_by_email: bool | None = None
    reply_domain: str | None = None
    # The shared secret a mail provider's inbound webhook proves itself with (HTTP Basic
    # password, or a Bearer token); unset, the webhook answers 404.
    inbound_secret: SecretStr | None = None
    # The authserv-id of the mail server whose Authentication-Results a reply's SPF, DKIM
    # and DMARC are read from: the provider's, or the MTA in front of the inbound endpoint.
    # Unset: the topmost header of a provider's post; the endpoint's own DKIM check.
    inbound_authserv_id: str | None = None
    # A reply whose From is not the address its Reply-To was made for: refused, or posted
    # with a note that says who sent it ("mark").
    reply_foreign_sender: Literal["refuse", "mark"] = "refuse"
    # Replies taken per reply address, and per sender, in any hour; beyond, refused.
    replies_per_address_per_hour: int = Field(default=30, ge=1, le=100_000)
    replies_per_sender_per_hour: int = Field(default=120, ge=1, le=100_000)
    # The largest reply e-mail taken, raw (attachments included; larger: 552).
    reply_max_bytes: PositiveInt = 10 * 1024 * 1024
    # Conversation continuity: an agent's answer to a visitor who has left and gave an
    # address is e-mailed to them this long after it (one e-mail for what was written in
    # that time), unless they saw it in the widget first.
    visitor_email_delay: NonNegativeFloat = 120.0

    # Who may create an account with POST /api/v1/accounts: anybody ("open"), the bearer
    # of an invitation for that e-mail address made with `frontdesk admin invite-account`
    # ("invite"), or nobody ("closed": `frontdesk admin create-account` only).
    signup: Literal["open", "invite", "closed"] = "open"
    signup_invitation_valid_for: PositiveFloat = 7 * 86_400.0
    # An agent token ends token_idle_timeout after it was last used (a request, a socket
    # opening) and token_lifetime after it was issued, however much it is used; the
    # dashboard then asks to log in again. Zulip's sessions last two weeks.
    token_idle_timeout: PositiveFloat = 14 * 86_400.0
    token_lifetime: PositiveFloat = 90 * 86_400.0
    # A new owner's address, an invited agent's, and a changed one get no notification
    # until a link sent to it is followed (docs/security.md). ``false``: every address is
    # taken as proven (an installation whose operator vouches for every agent).
    confirm_addresses: bool = True
    address_confirmation_valid_for: PositiveFloat = 7 * 86_400.0
    # An account whose every owner is unconfirmed may make this many confirmation and
    # invitation e-mails in all, so an anonymous sign-up cannot mail strangers in bulk.
    unconfirmed_account_emails: int = Field(default=5, ge=0, le=10_000)
    # The least time between two confirmation e-mails to one agent ("send it again").
    confirmation_resend_after: NonNegativeFloat = 60.0
    # The least time between two "send me a test notification" of one agent: each is an
    # e-mail and a push to every browser and phone of theirs (docs/reachability.md).
    test_notification_every: NonNegativeFloat = 30.0
    # The reachability checklist shows the sender domain's SPF, DKIM and DMARC as
    # ``frontdesk mail check`` sees them: looked up at most once per mail_check_cache_for
    # in each process, each lookup given mail_check_timeout, asking mail_check_nameserver
    # (HOST[:PORT]; unset: this machine's resolver).
    mail_check_cache_for: PositiveFloat = 3600.0
    mail_check_timeout: PositiveFloat = 3.0
    mail_check_nameserver: str | None = None
    # Notification e-mails per agent and per account in any email_cap_window; beyond
    # either cap the agent's e-mails are held and go out as one digest when the window
    # that filled the cap has passed. 0: no cap.
    emails_per_agent_per_hour: int = Field(default=20, ge=0, le=1_000_000)
    emails_per_account_per_hour: int = Field(default=200, ge=0, le=1_000_000)
    email_cap_window: PositiveFloat = 3600.0
    # Argon2id with RFC 9106's low-memory profile in production. ``fast`` exists so a test
    # suite that signs up hundreds of agents does not spend minutes hashing; never use it
    # for real accounts.
    password_hashing: Literal["standard", "fast"] = "standard"  # noqa: S105
    # Passwords hashed or checked at once (a sign-up, a login, a password change), each on
    # a thread of its own outside any transaction; the others wait for a turn without a
    # thread, and beyond password_checks_waiting of them a request is answered 429. Half
    # the cores by default, so that a flood of logins leaves the rest to everybody else.
    password_checks_at_once: int = Field(
        default_factory=lambda: max(1, (os.cpu_count() or 2) // 2), ge=1, le=256
    )
    password_checks_waiting: int = Field(default=64, ge=0, le=100_000)
    # A new password is refused when zxcvbn estimates fewer guesses to find it than this
    # (Zulip's PASSWORD_MIN_GUESSES): "password", "12345678" and "aaaaaaaa" are.
    password_min_guesses: int = Field(default=10_000, ge=1)
    max_request_body_bytes: PositiveInt = 64 * 1024
    # The proxies whose Forwarded / X-Forwarded-For headers say who the client is
    # (addresses or networks, comma-separated in the environment); a request from anywhere
    # else is its connection's peer, whatever its headers claim (frontdesk.api.clients).
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"]
    )
    # Rate limits (docs/security.md), in the notation of the ``limits`` library
    # ("3000/minute", "5 per 5 minutes", or "off"); the defaults are the peers': Chatwoot's
    # per address and for logins and sign-ups, Zulip's per user for a visitor's messages.
    # Counted in this process, or in Redis with redis_url set. rate_limits=false turns
    # every one off.
    rate_limits: bool = True
    rate_limit_per_ip: str = "3000/minute"
    rate_limit_login_failures_per_ip: str = "5 per 5 minutes"
    rate_limit_login_failures_per_email: str = "10 per 15 minutes"
    rate_limit_signups_per_ip: str = "5 per 30 minutes"
    # A visitor is made with its first message: Chatwoot's 6 widget conversations per 12 h
    # for each address.
    rate_limit_visitors_per_ip: str = "6 per 12 hours"
    rate_limit_messages_per_ip: str = "300/minute"
    rate_limit_messages_per_visitor: str = "200/minute"
    # Web Push (docs/push.md). The contact the push services are given with every push
    # (VAPID's ``sub``): a mailto: or https: URL of the operator. Default: mailto: the
    # address of mail_from.
    push_contact: str | None = None
    # Hosts a push endpoint may name over plain http (a push service on this machine, as
    # the tests run one); every other endpoint must be https.
    push_http_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # How long a push service may take to answer one push.
    push_timeout: PositiveFloat = 10.0
    # Webhooks (docs/webhooks.md). How long an endpoint may take to answer; a delivery
    # that failed is tried again webhook_retry_first seconds later, four times as long
    # after each next failure (at most webhook_retry_longest), until webhook_retry_for
    # seconds after its event; an endpoint that has answered no attempt well for
    # webhook_disable_after seconds is switched off and its account's owners e-mailed.
    webhook_timeout: PositiveFloat = 10.0
    webhook_retry_first: PositiveFloat = 5.0
    webhook_retry_longest: PositiveFloat = 6 * 3600.0
    webhook_retry_for: PositiveFloat = 24 * 3600.0
    webhook_disable_after: PositiveFloat = 24 * 3600.0
    # Hosts a webhook endpoint may name over plain http and on a loopback or private
    # network (a receiver on this machine or in the LAN); every other endpoint must be an
    # https URL of a public address.
    webhook_local_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # /metrics answers a request with "Authorization: Bearer <metrics_token>"; without a
    # token set, only requests from this machine (docs/security.md).
    metrics_token: SecretStr | None = None

    @field_validator("smtp_url")
    @classmethod
    def _check_smtp_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("smtp_url must look like smtp://[user:password@]host[:port]")
        try:
            parts.port  # noqa: B018  (a port out of range raises)
            SmtpTarget.parse(url)  # its query (?starttls=…) too, at start, not at first send
        except ValueError as exc:
            raise ValueError(f"smtp_url: {exc}") from None
        return url

    @field_validator(
        "rate_limit_per_ip",
        "rate_limit_login_failures_per_ip",
        "rate_limit_login_failures_per_email",
        "rate_limit_signups_per_ip",
        "rate_limit_visitors_per_ip",
        "rate_limit_messages_per_ip",
        "rate_limit_messages_per_visitor",
    )
    @classmethod
    def _check_limit(cls, value: str, info: ValidationInfo) -> str:
        # The defaults are known to parse: a process that counts no requests (a worker)
        # then never imports the ``limits`` library (1.7 MB of its memory).
        if info.field_name is None or value != cls.model_fields[info.field_name].default:
            parse_limit(value)
        return value

    @field_validator("push_contact")
    @classmethod
    def _check_push_contact(cls, contact: str | None) -> str | None:
        if contact is not None and not re.match(r"^(mailto:[^@\s]+@[^@\s]+|https://\S+)$", contact):
            raise ValueError("push_contact must be a mailto: or https: URL")
        return contact

    @field_validator("trusted_proxies", "push_http_hosts", "webhook_local_hosts", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [entry.strip() for entry in value.split(",") if entry.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted_proxies: {entry!r} is not an address or a network"
                ) from None
        return entries

    @model_validator(mode="after")
    def _check_relations(self) -> Settings:
        if self.visitor_seen_coalesce > self.visitor_left_after:
            raise ValueError("visitor_seen_coalesce must be at most visitor_left_after")
        if self.smtp_retry_for < self.smtp_retry_base:
            raise ValueError("smtp_retry_for must be at least smtp_retry_base")
        if self.delivery_lease < 2 * self.smtp_timeout:
            raise ValueError("delivery_lease must be at least twice smtp_timeout")
        if (self.dkim_selector is None) != (self.dkim_domain is None) or (
            self.dkim_selector is not None and self.dkim_private_key_file is None
        ):
            raise ValueError(
                "DKIM needs all three of dkim_domain, dkim_selector and dkim_private_key_file"
            )
        return self

    @property
    def mail_dir(self) -> Path:
        """Where the built-in mail catcher keeps what it receives (a Maildir)."""
        return self.data_dir / "mail"

    @property
    def replies_enabled(self) -> bool:
        """Whether e-mails carry a reply address (docs/reply-by-email.md)."""
        if self.reply_by_email is not None:
            return self.reply_by_email
        return self.inbound_port is not None or self.inbound_secret is not None

    @property
    def effective_reply_domain(self) -> str:
        """The domain of the reply addresses: reply_domain, or the bounce address's."""
        if self.reply_domain:
            return self.reply_domain.strip().lower()
        address = parseaddr(self.bounce_address or self.mail_from)[1] or self.mail_from
        return address.rpartition("@")[2].strip().lower() or "localhost"

    @property
    def effective_push_contact(self) -> str:
        if self.push_contact is not None:
            return self.push_contact
        return f"mailto:{parseaddr(self.mail_from)[1] or self.mail_from}"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{self.data_dir / 'frontdesk.sqlite3'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_VARIABLE)
        if config_file:
            if not Path(config_file).is_file():
                raise ValueError(f"{CONFIG_FILE_VARIABLE}={config_file}: no such file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)


def parse_limit(value: str) -> RateLimitItem | None:
    """A rate limit setting's limit; ``off`` (or an empty value) is none. Raises ValueError."""
    if value.strip().lower() in ("", "off", "none"):
        return None
    from limits import parse

    try:
        return parse(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a rate limit; write it like '3000/minute' or "
            "'5 per 5 minutes', or 'off'"
        ) from None


def normalize_database_url(url: str) -> str:
    """Let people write ``postgresql://`` and get the driver Frontdesk ships with."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
