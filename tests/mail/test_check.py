"""``frontdesk mail check`` and ``frontdesk mail dkim-key`` as a deployer runs them: against
a real DNS server on loopback serving good and bad records (tests/dnsserver.py), with a
real SMTP server taking the test e-mail (tests/mailsink.py). The assertions are on what the
deployer reads and on the exit code."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dkim
import pytest
from click.testing import CliRunner, Result

from frontdesk.cli import main
from frontdesk.mail.check import (
    DkimPublicKey,
    DnsLookups,
    dkim_public_key,
    make_resolver,
    new_dkim_private_key,
)
from tests.dnsserver import SERVFAIL, Zone, dns_server, silent_dns_server
from tests.mailsink import MailSink, mail_sink
from tests.support import run_frontdesk

FROM = "Frontdesk <notify@shop.example>"
RELAY = "smtp://smtp.shop.example:2525"  # never connected to unless a test sends with --to
DMARC = "v=DMARC1; p=reject; rua=mailto:dmarc@shop.example"


@dataclass(frozen=True)
class Key:
    pem: bytes
    public: DkimPublicKey


@pytest.fixture(scope="module")
def key() -> Key:
    pem = new_dkim_private_key()
    return Key(pem, dkim_public_key(pem))


@pytest.fixture(scope="module")
def other_key() -> Key:
    pem = new_dkim_private_key()
    return Key(pem, dkim_public_key(pem))


@pytest.fixture
def key_file(tmp_path: Path, key: Key) -> Path:
    path = tmp_path / "dkim.pem"
    path.write_bytes(key.pem)
    return path


def good_zone(key: Key) -> dict[str, Any]:
    return {
        "shop.example": {
            "TXT": ["v=spf1 a:smtp.shop.example -all", "google-site-verification=abc"],
            "MX": [(10, "mx.shop.example")],
        },
        "smtp.shop.example": {"A": ["127.0.0.1"]},
        "mx.shop.example": {"A": ["192.0.2.10"]},
        "s1._domainkey.shop.example": {"TXT": [key.public.record_value()]},
        "_dmarc.shop.example": {"TXT": [DMARC]},
    }


def changed(zone: dict[str, Any], name: str, rtype: str, values: list[Any] | None) -> Zone:
    records = dict(zone.get(name, {}))
    if values is None:
        records.pop(rtype, None)
    else:
        records[rtype] = values
    return zone | {name: records}


def environment(key_file: Path | None, **settings: str | None) -> dict[str, str | None]:
    """Only the settings a test gives: none of the FRONTDESK_* of the machine running it."""
    env: dict[str, str | None] = {
        name: None for name in os.environ if name.startswith("FRONTDESK_")
    }
    env |= {
        "FRONTDESK_MAIL_FROM": FROM,
        "FRONTDESK_SMTP_URL": RELAY,
        "FRONTDESK_PUBLIC_URL": "https://chat.shop.example",
    }
    if key_file is not None:
        env |= {
            "FRONTDESK_DKIM_DOMAIN": "shop.example",
            "FRONTDESK_DKIM_SELECTOR": "s1",
            "FRONTDESK_DKIM_PRIVATE_KEY_FILE": str(key_file),
        }
    env |= {f"FRONTDESK_{name.upper()}": value for name, value in settings.items()}
    return env


def mail_check(zone: Zone, env: dict[str, str | None], *args: str) -> Result:
    with dns_server(zone) as server:
        return CliRunner().invoke(
            main, ["mail", "check", "--nameserver", server.address, *args], env=env
        )


def statuses(result: Result) -> dict[str, list[str]]:
    """check → the statuses of its findings, from --json."""
    found: dict[str, list[str]] = {}
    for finding in json.loads(result.stdout)["findings"]:
        found.setdefault(finding["check"], []).append(finding["status"])
    return found


def one_line(text: str) -> str:
    """The report wraps its sentences; the words are what the tests look for."""
    return " ".join(text.split())


# --- The good zone ----------------------------------------------------------------------


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with mail_sink() as running:
        yield running


def test_a_good_zone_passes_every_check_and_the_signed_test_e_mail_verifies(
    key: Key, key_file: Path, sink: MailSink
) -> None:
    zone = good_zone(key)
    env = environment(key_file, smtp_url=sink.url)
    with dns_server(zone) as server:
        result = CliRunner().invoke(
            main,
            ["mail", "check", "--nameserver", server.address, "--to", "olga@inbox.example"],
            env=env,
        )
        assert result.exit_code == 0, result.output
        text = one_line(result.stdout)
        assert "OK SPF: shop.example has one SPF record, ending in -all, that allows" in text
        assert "OK DKIM: s1._domainkey.shop.example publishes the public half of" in text
        assert "OK DMARC: shop.example has a DMARC policy of p=reject." in text
        assert "OK alignment: The envelope sender (shop.example) and DKIM" in text
        assert "OK bounces: Bounces for shop.example go to mx.shop.example." in text
        assert "OK test e-mail: The relay 127.0.0.1:" in text
        assert "accepted the test e-mail to olga@inbox.example: 250" in text
        assert text.endswith("Everything is in place.")
        for word in ("WARNING", "MISSING", "WRONG", "UNCHECKED"):
            assert word not in text

        (caught,) = sink.wait_for(1)
        assert caught.rcpt_to == "olga@inbox.example"
        assert caught.mail_from == "notify@shop.example"
        assert caught.message["Subject"] == "Frontdesk mail check"
        assert caught.message["From"] == FROM
        assert "Authentication-Results" in caught.text
        # What a receiver does: fetch the key from DNS (ours) and check the signature.
        lookups = DnsLookups(make_resolver(server.address, timeout=2))

        def receivers_dns(name: bytes, timeout: int = 5) -> bytes:
            texts = lookups.lookup(name.decode().rstrip("."), "TXT").texts
            return texts[0].encode() if texts else b""

        assert dkim.verify(caught.raw, dnsfunc=receivers_dns)


def test_json_gives_every_finding_with_its_status(key: Key, key_file: Path) -> None:
    result = mail_check(good_zone(key), environment(key_file), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert statuses(result) == {
        "SPF": ["ok"],
        "DKIM": ["ok"],
        "DMARC": ["ok"],
        "alignment": ["ok"],
        "bounces": ["ok"],
        "links": ["ok"],
        "test e-mail": ["info"],  # no --to: nothing sent, nothing wrong
    }
    (note,) = [f for f in report["findings"] if f["check"] == "test e-mail"]
    assert "give --to" in note["summary"]


def test_the_real_command_runs_as_a_process(key: Key, key_file: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in environment(key_file).items() if v is not None}
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")} | env
    with dns_server(good_zone(key)) as server:
        done = run_frontdesk("mail", "check", "--nameserver", server.address, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Everything is in place." in done.stdout
    assert done.stderr == ""


def test_a_record_too_long_for_udp_is_read_whole_over_tcp(key: Key, key_file: Path) -> None:
    networks = " ".join(f"ip4:198.51.{i}.0/24" for i in range(60))
    spf = f"v=spf1 {networks} a:smtp.shop.example -all"
    zone = changed(good_zone(key), "shop.example", "TXT", [spf])
    result = mail_check(zone, environment(key_file))
    assert result.exit_code == 0, result.output
    assert f"Published now: {spf}\n" in result.stdout


# --- Bad zones --------------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    name: str
    zone: Callable[[dict[str, Any], Key], Zone]  # (good zone, another key) -> bad zone
    status: str  # the label the deployer reads
    words: str
    exit_code: int
    publish: str | None = None  # the value of the record to publish, as printed


BAD_ZONES = [
    Bad(
        "no SPF",
        lambda z, _other: changed(z, "shop.example", "TXT", ["google-site-verification=abc"]),
        "MISSING",
        "SPF: shop.example has no SPF record.",
        1,
        "v=spf1 a:smtp.shop.example ~all",
    ),
    Bad(
        "two SPF records",
        lambda z, _other: changed(
            z, "shop.example", "TXT", ["v=spf1 a:smtp.shop.example -all", "v=spf1 mx ~all"]
        ),
        "WRONG",
        "SPF: shop.example has 2 SPF records; there must be exactly one.",
        1,
    ),
    Bad(
        "+all",
        lambda z, _other: changed(z, "shop.example", "TXT", ["v=spf1 a:smtp.shop.example +all"]),
        "WRONG",
        'SPF: shop.example\'s SPF record ends in "+all": it lets any server on the internet '
        "send as shop.example.",
        1,
        "v=spf1 a:smtp.shop.example ~all",
    ),
    Bad(
        "?all",
        lambda z, _other: changed(z, "shop.example", "TXT", ["v=spf1 a:smtp.shop.example ?all"]),
        "WARNING",
        "SPF: shop.example's SPF record does not end in -all or ~all.",
        0,
        "v=spf1 a:smtp.shop.example ~all",
    ),
    Bad(
        "SPF without the relay",
        lambda z, _other: changed(z, "shop.example", "TXT", ["v=spf1 ip4:192.0.2.0/24 -all"]),
        "WARNING",
        "SPF: shop.example's SPF record does not seem to name Frontdesk's mail relay "
        "smtp.shop.example.",
        0,
        "v=spf1 ip4:192.0.2.0/24 a:smtp.shop.example -all",
    ),
    Bad(
        "SPF with too many lookups",
        lambda z, _other: changed(
            z,
            "shop.example",
            "TXT",
            [
                "v=spf1 a:smtp.shop.example "
                + " ".join(f"a:h{i}.shop.example" for i in range(10))
                + " -all"
            ],
        ),
        "WRONG",
        "SPF: shop.example's SPF record needs 11 DNS lookups; receivers stop at 10.",
        1,
    ),
    Bad(
        "SPF including a domain without SPF",
        lambda z, _other: changed(z, "shop.example", "TXT", ["v=spf1 include:mailer.example -all"]),
        "WRONG",
        "SPF: shop.example's SPF record has include:mailer.example, and mailer.example has "
        "no SPF record.",
        1,
    ),
    Bad(
        "DKIM key mismatch",
        lambda z, other: z | {"s1._domainkey.shop.example": {"TXT": [other.public.record_value()]}},
        "WRONG",
        "DKIM: The DKIM key published at s1._domainkey.shop.example is not the public half of",
        1,
        "KEY",
    ),
    Bad(
        "missing DKIM",
        lambda z, _other: {n: r for n, r in z.items() if "_domainkey" not in n},
        "MISSING",
        "DKIM: No DKIM key is published for selector 's1' at s1._domainkey.shop.example.",
        1,
        "KEY",
    ),
    Bad(
        "revoked DKIM",
        lambda z, _other: z | {"s1._domainkey.shop.example": {"TXT": ["v=DKIM1; k=rsa; p="]}},
        "WRONG",
        "DKIM: The DKIM record at s1._domainkey.shop.example has an empty p=: the key is revoked.",
        1,
        "KEY",
    ),
    Bad(
        "DMARC p=none",
        lambda z, _other: changed(z, "_dmarc.shop.example", "TXT", ["v=DMARC1; p=none"]),
        "WARNING",
        "DMARC: shop.example's DMARC policy is p=none: receivers only report.",
        0,
        "v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@shop.example",
    ),
    Bad(
        "no DMARC",
        lambda z, _other: {n: r for n, r in z.items() if n != "_dmarc.shop.example"},
        "MISSING",
        "DMARC: shop.example has no DMARC record (nothing at _dmarc.shop.example).",
        1,
        "v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@shop.example",
    ),
    Bad(
        "no MX",
        lambda z, _other: changed(z, "shop.example", "MX", None),
        "WARNING",
        "bounces: shop.example has no MX record: bounces will not reach Frontdesk.",
        0,
        "10 chat.shop.example.",  # the host of FRONTDESK_PUBLIC_URL
    ),
    Bad(
        "null MX",
        lambda z, _other: changed(z, "shop.example", "MX", [(0, ".")]),
        "WRONG",
        'bounces: shop.example publishes a null MX ("0 ."): it accepts no mail, bounces included.',
        1,
    ),
    Bad(
        "MX without an address",
        lambda z, _other: {n: r for n, r in z.items() if n != "mx.shop.example"},
        "WRONG",
        "bounces: shop.example's MX names mx.shop.example, which has no address.",
        1,
    ),
    Bad(
        "SERVFAIL",
        lambda z, _other: z | {"shop.example": SERVFAIL},
        "UNCHECKED",
        "SPF: Could not check: the name server failed to answer for shop.example TXT (SERVFAIL).",
        1,
    ),
]


@pytest.mark.parametrize("bad", BAD_ZONES, ids=[bad.name for bad in BAD_ZONES])
def test_a_bad_zone_says_what_is_wrong_and_what_to_publish(
    bad: Bad, key: Key, other_key: Key, key_file: Path
) -> None:
    result = mail_check(bad.zone(good_zone(key), other_key), environment(key_file))
    assert result.exit_code == bad.exit_code, result.output
    text = one_line(result.stdout)
    assert f"{bad.status} {bad.words}" in text
    if bad.publish == "KEY":
        # The record that fits the configured key, ready to copy.
        assert f"value: {key.public.record_value()}" in result.stdout
        assert "name: s1._domainkey.shop.example" in text
    elif bad.publish is not None:
        assert f"value: {bad.publish}" in result.stdout
    assert text.endswith("1 warning." if bad.exit_code == 0 else "to fix.")


def test_a_domain_that_does_not_exist_is_missing_everything(key_file: Path) -> None:
    result = mail_check({"elsewhere.example": {"TXT": ["x"]}}, environment(key_file), "--json")
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["findings"]
    by_check = {f["check"]: f for f in findings}
    assert by_check["SPF"]["status"] == "missing"
    assert by_check["SPF"]["summary"] == (
        "shop.example has no SPF record (shop.example does not exist in DNS: NXDOMAIN)."
    )
    assert by_check["DKIM"]["status"] == "missing"
    assert by_check["DMARC"]["status"] == "missing"
    assert by_check["bounces"]["status"] == "warning"
    assert by_check["DKIM"]["publish"]["zone_line"].startswith(
        's1._domainkey.shop.example. IN TXT "v=DKIM1; k=rsa; p='
    )


def test_a_name_server_that_does_not_answer_is_a_clear_finding(key_file: Path) -> None:
    started = time.monotonic()
    with silent_dns_server() as server:
        result = CliRunner().invoke(
            main,
            ["mail", "check", "--nameserver", server.address, "--dns-timeout", "0.3"],
            env=environment(key_file),
        )
    assert time.monotonic() - started < 10
    assert result.exit_code == 1, result.output
    text = one_line(result.stdout)
    for check, name in (
        ("SPF", "shop.example TXT"),
        ("DKIM", "s1._domainkey.shop.example TXT"),
        ("DMARC", "_dmarc.shop.example TXT"),
        ("bounces", "shop.example MX"),
    ):
        assert (
            f"UNCHECKED {check}: Could not check: the name server did not answer for {name} "
            "in time." in text
        )
    assert "Traceback" not in result.output


# --- Configuration ----------------------------------------------------------------------


def test_without_dkim_it_says_how_to_configure_it(key: Key) -> None:
    result = mail_check(good_zone(key), environment(None))
    assert result.exit_code == 1
    text = one_line(result.stdout)
    assert "MISSING DKIM: Frontdesk does not sign its e-mail with DKIM (not configured)." in text
    assert "frontdesk mail dkim-key --selector frontdesk --domain shop.example" in text
    assert (
        "WARNING alignment: Only SPF lines up with the From domain; DKIM is not configured." in text
    )


def test_a_dkim_key_file_that_is_not_a_key_is_wrong(key: Key, tmp_path: Path) -> None:
    not_a_key = tmp_path / "dkim.pem"
    not_a_key.write_text("-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n")
    result = mail_check(good_zone(key), environment(not_a_key))
    assert result.exit_code == 1
    text = one_line(result.stdout)
    assert f"WRONG DKIM: Frontdesk cannot sign with the DKIM key {not_a_key}: not a PEM" in text


def test_dkim_and_envelope_of_another_domain_fail_dmarc_alignment(key: Key, key_file: Path) -> None:
    zone = good_zone(key) | {
        "s1._domainkey.mailer.example": {"TXT": [key.public.record_value()]},
        "mailer.example": {
            "TXT": ["v=spf1 a:smtp.shop.example -all"],
            "MX": [(10, "mx.shop.example")],
        },
    }
    env = environment(key_file, dkim_domain="mailer.example", bounce_address="b@mailer.example")
    result = mail_check(zone, env)
    assert result.exit_code == 1
    text = one_line(result.stdout)
    assert (
        "WRONG alignment: Neither the envelope sender nor DKIM lines up with the From domain "
        "shop.example: DMARC fails for every e-mail." in text
    )
    assert "OK DKIM: s1._domainkey.mailer.example publishes" in text


def test_without_a_relay_nothing_is_sent_and_it_says_so(key: Key, key_file: Path) -> None:
    result = mail_check(
        good_zone(key), environment(key_file, smtp_url=None), "--to", "olga@inbox.example"
    )
    assert result.exit_code == 1
    text = one_line(result.stdout)
    assert "Relay: none: the built-in mail catcher (FRONTDESK_SMTP_URL is not set)" in text
    assert "MISSING test e-mail: No test e-mail: FRONTDESK_SMTP_URL is not set" in text
    assert "no e-mail leaves this machine" in text


def test_a_refused_test_e_mail_is_reported_with_the_relays_words(
    key: Key, key_file: Path, sink: MailSink
) -> None:
    sink.script("nobody@inbox.example", "550 5.1.1 no such mailbox")
    result = mail_check(
        good_zone(key), environment(key_file, smtp_url=sink.url), "--to", "nobody@inbox.example"
    )
    assert result.exit_code == 1
    text = one_line(result.stdout)
    assert "did not take the test e-mail to nobody@inbox.example: 550 5.1.1 no such mailbox" in text
    assert sink.caught == []


def test_a_mail_from_at_localhost_is_caught_before_any_lookup(key_file: Path) -> None:
    env = environment(key_file, mail_from="Frontdesk <frontdesk@localhost>")
    result = mail_check({}, env)
    assert result.exit_code == 1
    assert "WRONG sender: FRONTDESK_MAIL_FROM is 'frontdesk@localhost', not an address" in (
        one_line(result.stdout)
    )


def test_a_nameserver_that_is_not_host_port_is_a_plain_error(key_file: Path) -> None:
    result = CliRunner().invoke(
        main, ["mail", "check", "--nameserver", "1.2.3.4:99999"], env=environment(key_file)
    )
    assert result.exit_code == 1
    assert "Error: --nameserver 1.2.3.4:99999: '1.2.3.4:99999': the port must be 1-65535" in (
        result.output
    )


def test_a_relay_url_the_transport_cannot_read_is_a_plain_error(key_file: Path) -> None:
    env = environment(key_file, smtp_url="smtp://smtp.shop.example?starttls=maybe")
    result = CliRunner().invoke(main, ["mail", "check", "--nameserver", "127.0.0.1:9"], env=env)
    assert result.exit_code == 1
    assert "smtp_url: ?starttls=maybe: choose one of" in result.output


# --- dkim-key ---------------------------------------------------------------------------


def test_dkim_key_makes_a_private_key_and_the_record_that_then_checks_out(
    tmp_path: Path,
) -> None:
    out = tmp_path / "keys" / "dkim.pem"
    out.parent.mkdir()
    made = CliRunner().invoke(
        main,
        ["mail", "dkim-key", "--selector", "s1", "--domain", "shop.example", "--out", str(out)],
    )
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    public = dkim_public_key(out.read_bytes())
    assert (public.key_type, public.bits) == ("rsa", 2048)
    assert "name:  s1._domainkey.shop.example" in made.stdout
    assert f"value: {public.record_value()}" in made.stdout
    assert f"FRONTDESK_DKIM_PRIVATE_KEY_FILE={out}" in made.stdout

    # Publish what it printed, and the check agrees.
    zone = good_zone(Key(out.read_bytes(), public))
    result = mail_check(zone, environment(out, smtp_url=None), "--json")
    assert statuses(result)["DKIM"] == ["ok"]

    again = CliRunner().invoke(
        main,
        ["mail", "dkim-key", "--selector", "s2", "--domain", "shop.example", "--out", str(out)],
    )
    assert again.exit_code == 1
    assert f"{out} exists; it is not overwritten" in again.output
    assert dkim_public_key(out.read_bytes()) == public


def test_dkim_key_refuses_a_selector_that_is_not_a_dns_name(tmp_path: Path) -> None:
    out = tmp_path / "dkim.pem"
    result = CliRunner().invoke(
        main,
        ["mail", "dkim-key", "--selector", "s 1", "--domain", "shop.example", "--out", str(out)],
    )
    assert result.exit_code == 1
    assert "the selector 's 1' is not a DNS name" in result.output
    assert not out.exists()


def test_an_ed25519_key_is_checked_too(tmp_path: Path, key: Key) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = tmp_path / "ed.pem"
    path.write_bytes(pem)
    public = dkim_public_key(pem)
    assert public.record_value().startswith("v=DKIM1; k=ed25519; p=")
    result = mail_check(good_zone(Key(pem, public)), environment(path), "--json")
    assert statuses(result)["DKIM"] == ["ok"]
    wrong = mail_check(good_zone(key), environment(path), "--json")
    assert statuses(wrong)["DKIM"] == ["wrong"]


def test_links_that_are_not_https_are_a_warning(key: Key, key_file: Path) -> None:
    settings = environment(key_file, public_url="http://127.0.0.1:8000")
    result = mail_check(good_zone(key), settings, "--json")
    assert result.exit_code == 0, result.output  # a warning: the e-mail still goes out
    assert statuses(result)["links"] == ["warning"]
    (finding,) = [f for f in json.loads(result.stdout)["findings"] if f["check"] == "links"]
    assert "one-click unsubscribe only for an https:// link" in finding["explanation"]


# --- Reply by e-mail ----------------------------------------------------------------------


def test_the_reply_domain_s_mx_is_checked_when_replies_are_on(key: Key, key_file: Path) -> None:
    zone = good_zone(key) | {"replies.shop.example": {"MX": [(10, "mx.shop.example")]}}
    off = mail_check(zone, environment(key_file), "--json")
    assert "replies" not in statuses(off)

    on = environment(key_file, reply_by_email="true", reply_domain="replies.shop.example")
    found = mail_check(zone, on, "--json")
    assert statuses(found)["replies"] == ["ok"], found.stdout
    text = one_line(mail_check(zone, on).stdout)
    assert "OK replies: Replies for replies.shop.example go to mx.shop.example." in text

    missing = mail_check(good_zone(key), on, "--json")
    (finding,) = [f for f in json.loads(missing.stdout)["findings"] if f["check"] == "replies"]
    assert finding["status"] == "warning"
    assert "replies.shop.example has no MX record" in finding["summary"]
    assert finding["publish"]["value"] == "10 chat.shop.example."
