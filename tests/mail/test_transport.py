"""The SMTP transport against real aiosmtpd servers on loopback: TLS (implicit and
STARTTLS) with a certificate from a CA the test makes, AUTH, reused and bounded connections,
servers that drop connections, timeouts — and the engine sending over TLS and AUTH.

Nothing here measures time: where a test needs a connection to have gone, it waits until
the server has seen it go."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from frontdesk.core.notifications import is_temporary_smtp_code
from frontdesk.mail.transport import SendOutcome, SmtpTarget, SmtpTransport, StartTls
from frontdesk.security import PasswordHasher
from frontdesk.store.database import Database
from tests.mail.servers import PASSWORD, USER, Behaviour, TestAuthority, smtp_server
from tests.mailsink import mail_sink
from tests.support import (
    engine_settings,
    eventually,
    free_port,
    live_sign_up,
    new_live_visitor,
    serving,
)

SENDER = "frontdesk@shop.example.com"


def message(number: int = 0) -> bytes:
    return (
        f"From: {SENDER}\r\nTo: olga@shop.example.com\r\nSubject: test {number}\r\n"
        f"Message-ID: <test-{number}@shop.example.com>\r\n\r\nHello number {number}.\r\n"
    ).encode()


@pytest.fixture
def ca(tmp_path: Path) -> TestAuthority:
    return TestAuthority(trustme.CA(), tmp_path)


def transport(
    url: str,
    *,
    ca_file: Path | None = None,
    timeout: float = 10,
    max_connections: int = 1,
    idle_close_after: float = 30,
) -> SmtpTransport:
    return SmtpTransport(
        SmtpTarget.parse(url),
        timeout=timeout,
        max_connections=max_connections,
        ca_file=ca_file,
        idle_close_after=idle_close_after,
    )


def send(smtp: SmtpTransport, count: int = 1, *, at_once: bool = False) -> list[SendOutcome]:
    """``count`` e-mails, one after another or all at once, on one event loop; the
    transport is closed afterwards."""

    async def run() -> list[SendOutcome]:
        try:
            if at_once:
                return list(
                    await asyncio.gather(
                        *(smtp.send(SENDER, f"a{n}@example.com", message(n)) for n in range(count))
                    )
                )
            return [await smtp.send(SENDER, f"a{n}@example.com", message(n)) for n in range(count)]
        finally:
            await smtp.close()

    return asyncio.run(run())


# --- URLs ----------------------------------------------------------------------------------


def test_urls_name_tls_and_the_login() -> None:
    target = SmtpTarget.parse("smtps://me%40shop:p%2Fw%20d@mail.example.com")
    assert (target.host, target.port, target.implicit_tls) == ("mail.example.com", 465, True)
    assert (target.username, target.password) == ("me@shop", "p/w d")
    assert "p/w d" not in repr(target)
    plain = SmtpTarget.parse("smtp://relay.example.com")
    assert (plain.port, plain.implicit_tls, plain.starttls) == (25, False, StartTls.OPPORTUNISTIC)
    assert SmtpTarget.parse("smtp://h:587?starttls=require").starttls is StartTls.REQUIRE
    assert SmtpTarget.parse("smtp://h?starttls=off").starttls is StartTls.OFF


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://mail.example.com", "an SMTP URL looks like"),
        ("smtp://h?tls=off", "unknown SMTP URL parameter(s): tls"),
        ("smtp://h?starttls=maybe", "choose one of opportunistic, require, off"),
        ("smtps://h?starttls=require", "smtps:// is TLS from the start"),
    ],
)
def test_a_wrong_url_says_what_is_wrong(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=re.escape(complaint)):
        SmtpTarget.parse(url)


# --- TLS -----------------------------------------------------------------------------------


def test_smtps_verifies_the_server_against_the_ca_file(ca: TestAuthority) -> None:
    with smtp_server(tls="implicit", ca=ca) as server:
        (outcome,) = send(transport(server.url(), ca_file=ca.ca_file))
        assert outcome == SendOutcome(accepted=True, code=250, text="2.0.0 OK: queued")
        (received,) = server.received
    assert received.tls
    assert received.raw.rstrip(b"\r\n") == message(0).rstrip(b"\r\n")


def test_smtp_upgrades_with_starttls_when_offered(ca: TestAuthority) -> None:
    with smtp_server(tls="starttls", ca=ca) as server:
        (outcome,) = send(transport(server.url(), ca_file=ca.ca_file))
        assert outcome.accepted
        assert [r.tls for r in server.received] == [True]


def test_starttls_off_sends_in_the_clear(ca: TestAuthority) -> None:
    with smtp_server(tls="starttls", ca=ca) as server:
        (outcome,) = send(transport(server.url(query="?starttls=off"), ca_file=ca.ca_file))
        assert outcome.accepted
        assert [r.tls for r in server.received] == [False]


def test_required_starttls_sends_nothing_to_a_server_without_it() -> None:
    with smtp_server(tls="none") as server:
        (outcome,) = send(transport(server.url(query="?starttls=require")))
        assert server.received == []
    assert not outcome.accepted
    assert outcome.code is None  # tried again later: the deployer may fix the server
    assert "does not offer STARTTLS" in outcome.text


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_a_certificate_from_an_untrusted_ca_is_a_clear_failure(
    ca: TestAuthority, tmp_path: Path, tls: str
) -> None:
    other = TestAuthority(trustme.CA(), tmp_path / "other")
    other.directory.mkdir()
    with smtp_server(tls=tls, ca=ca) as server:  # type: ignore[arg-type]
        (outcome,) = send(transport(server.url(), ca_file=other.ca_file))
        assert server.received == []
    assert not outcome.accepted
    assert outcome.code is None
    assert "TLS certificate verification failed for 127.0.0.1" in outcome.text


def test_the_system_trust_store_does_not_know_a_private_ca(ca: TestAuthority) -> None:
    with smtp_server(tls="implicit", ca=ca) as server:
        (outcome,) = send(transport(server.url()))
    assert outcome.code is None
    assert "certificate verification failed" in outcome.text


def test_the_system_trust_store_is_loaded_only_for_a_secured_connection(
    ca: TestAuthority,
) -> None:
    with smtp_server(tls="none") as server:
        plain = transport(server.url())
        (outcome,) = send(plain)
        assert outcome.accepted
    assert not plain._tls.made  # ~2.5 MB a process sending in the clear never needs
    with smtp_server(tls="starttls", ca=ca) as server:
        secured = transport(server.url())
        (outcome,) = send(secured)
    assert secured._tls.made
    assert "certificate verification failed" in outcome.text  # the system's store, used


def test_a_ca_file_that_cannot_be_read_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        transport("smtp://127.0.0.1:25", ca_file=tmp_path / "missing.pem")


# --- AUTH ----------------------------------------------------------------------------------


def test_the_url_login_is_used_after_starttls(ca: TestAuthority) -> None:
    with smtp_server(tls="starttls", ca=ca, auth=True) as server:
        url = server.url(login=(USER, PASSWORD))
        outcomes = send(transport(url, ca_file=ca.ca_file), 3)
        assert [o.accepted for o in outcomes] == [True, True, True]
        assert {(r.tls, r.login) for r in server.received} == {(True, USER)}
        assert server.log.connections == 1  # logged in once


def test_a_wrong_password_is_kept_for_a_later_try(ca: TestAuthority) -> None:
    with smtp_server(tls="implicit", ca=ca, auth=True) as server:
        url = server.url(login=(USER, "not the password"))
        (outcome,) = send(transport(url, ca_file=ca.ca_file))
        assert server.received == []
    assert not outcome.accepted
    # The deployer's mistake, not the recipient's: deferred and retried, never rejected.
    assert is_temporary_smtp_code(outcome.code)
    assert "refused the login" in outcome.text
    assert "535" in outcome.text


def test_a_server_that_wants_a_login_gets_none_and_the_e_mail_is_kept(ca: TestAuthority) -> None:
    with smtp_server(tls="implicit", ca=ca, auth=True) as server:
        (outcome,) = send(transport(server.url(), ca_file=ca.ca_file))
    assert outcome.code is None
    assert "requires a login (530" in outcome.text


def _outward_address() -> str | None:
    """This machine's address on its network (not loopback), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.123", 9))  # no packet is sent for a UDP connect
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def test_the_password_never_crosses_a_network_unencrypted() -> None:
    address = _outward_address()
    if address is None:
        pytest.skip("this machine has no network address besides loopback")
    with smtp_server(tls="none", auth=True, auth_over_plaintext=True, bind=address) as server:
        (outcome,) = send(transport(server.url(login=(USER, PASSWORD))))
        assert server.received == []
    assert outcome.code is None
    assert "refusing to send the SMTP password over an unencrypted connection" in outcome.text


def test_a_server_on_loopback_may_take_the_password_unencrypted() -> None:
    with smtp_server(tls="none", auth=True, auth_over_plaintext=True) as server:
        (outcome,) = send(transport(server.url(login=(USER, PASSWORD))))
        assert outcome.accepted
        assert [(r.tls, r.login) for r in server.received] == [(False, USER)]


# --- the pool ------------------------------------------------------------------------------


def test_one_connection_carries_many_e_mails(ca: TestAuthority) -> None:
    with smtp_server(tls="implicit", ca=ca) as server:
        outcomes = send(transport(server.url(), ca_file=ca.ca_file, max_connections=4), 25)
        assert all(o.accepted for o in outcomes)
        assert len(server.received) == 25
        assert server.log.connections == 1


def test_e_mails_at_once_go_over_at_most_max_connections(ca: TestAuthority) -> None:
    with smtp_server(tls="starttls", ca=ca) as server:
        smtp = transport(server.url(), ca_file=ca.ca_file, max_connections=3)
        outcomes = send(smtp, 40, at_once=True)
        assert all(o.accepted for o in outcomes)
        assert len(server.received) == 40
        # Three sends start at once, find no idle connection and open one each; the other
        # 37 wait for one of those three.
        assert server.log.most_open == 3
        assert server.log.connections == 3


def test_a_refusal_resets_the_transaction_and_the_connection_goes_on() -> None:
    with mail_sink() as sink:
        sink.script("a1@example.com", "550 5.1.1 No such user")
        outcomes = send(transport(sink.url), 3)
        assert [(o.accepted, o.code) for o in outcomes] == [(True, 250), (False, 550), (True, 250)]
        assert outcomes[1].text == "5.1.1 No such user"
        assert [c.rcpt_to for c in sink.caught] == ["a0@example.com", "a2@example.com"]


def test_an_idle_connection_is_closed_by_the_pool() -> None:
    with smtp_server() as server:
        smtp = transport(server.url(), idle_close_after=0.1)

        async def run() -> list[SendOutcome]:
            first = await smtp.send(SENDER, "a@example.com", message(1))
            await asyncio.to_thread(eventually, lambda: server.log.open_now == 0, interval=0.01)
            second = await smtp.send(SENDER, "b@example.com", message(2))
            await smtp.close()
            return [first, second]

        outcomes = asyncio.run(run())
        assert all(o.accepted for o in outcomes)
        assert server.log.connections == 2


def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    with smtp_server(idle_timeout=0.2) as server:
        smtp = transport(server.url())

        async def run() -> list[SendOutcome]:
            first = await smtp.send(SENDER, "a@example.com", message(1))
            await asyncio.to_thread(eventually, lambda: server.log.open_now == 0, interval=0.01)
            second = await smtp.send(SENDER, "b@example.com", message(2))
            await smtp.close()
            return [first, second]

        outcomes = asyncio.run(run())
        assert all(o.accepted for o in outcomes)
        assert [r.rcpt_to for r in server.received] == ["a@example.com", "b@example.com"]
        assert len(server.log.data_arrivals) == 2


@pytest.mark.parametrize("mail_on_reuse", ["close", "421"])
def test_a_reused_connection_dropped_at_mail_is_retried_once_on_a_fresh_one(
    mail_on_reuse: str,
) -> None:
    behaviour = Behaviour(mail_on_reuse=mail_on_reuse)  # type: ignore[arg-type]
    with smtp_server(behaviour=behaviour) as server:
        outcomes = send(transport(server.url()), 3)
        assert [o.accepted for o in outcomes] == [True, True, True]
        # Every second transaction on a connection is dropped: 1st on connection 1, 2nd
        # dropped there and sent on connection 2, 3rd dropped there and sent on 3.
        assert [r.rcpt_to for r in server.received] == [f"a{n}@example.com" for n in range(3)]
        assert server.log.connections == 3


def test_nothing_is_sent_again_once_its_data_went_out() -> None:
    with smtp_server(behaviour=Behaviour(close_after_data_on_reuse=True)) as server:
        outcomes = send(transport(server.url()), 2)
        assert outcomes[0].accepted
        # The server has the content and may have taken it: no reply, tried again only
        # after the engine's retry delay (the duplicate window of docs/notifications.md).
        assert not outcomes[1].accepted
        assert outcomes[1].code is None
        assert len(server.log.data_arrivals) == 2
        assert server.log.connections == 1


# --- timeouts ------------------------------------------------------------------------------


def test_a_server_that_takes_too_long_times_the_attempt_out() -> None:
    with smtp_server(behaviour=Behaviour(data_delay=30)) as server:
        (outcome,) = send(transport(server.url(), timeout=0.5))
    assert not outcome.accepted
    assert outcome.code is None
    assert "timed out" in outcome.text.lower()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) and never greets."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", free_port()))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_a_server_that_never_greets_times_the_attempt_out(silent_port: int) -> None:
    (outcome,) = send(transport(f"smtp://127.0.0.1:{silent_port}", timeout=0.5))
    assert outcome.code is None
    assert "timed out" in outcome.text.lower()


# --- the engine ----------------------------------------------------------------------------


def test_the_engine_sends_over_tls_with_a_login(
    database: Database,
    database_url: str,
    passwords: PasswordHasher,
    tmp_path: Path,
    ca: TestAuthority,
) -> None:
    with smtp_server(tls="implicit", ca=ca, auth=True) as mail:
        settings = engine_settings(
            database_url,
            tmp_path,
            mail.url(login=(USER, PASSWORD)),
            smtp_ca_file=ca.ca_file,
            smtp_max_connections=2,
        )
        with serving(settings, database, passwords) as server:
            owner = live_sign_up(server)
            agents = [owner, *(owner.invite() for _ in range(4))]
            visitor = new_live_visitor(server, owner.widget_key)
            visitor.say("Hello?")
            # Only this account's: the session's database may hold other tests' notifications,
            # which this engine decides and e-mails through the same server.
            ours = {a.email for a in agents}

            def to_ours() -> list[str]:
                return sorted(r.rcpt_to for r in mail.received if r.rcpt_to in ours)

            eventually(
                lambda: len(to_ours()) >= len(agents),
                interval=0.01,
                what="an e-mail to every agent",
            )
        assert to_ours() == sorted(ours)
        assert {(r.tls, r.login) for r in mail.received} == {(True, USER)}
        assert mail.log.most_open <= 2
