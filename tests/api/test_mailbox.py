"""The development mailbox: on the embedded default the notification e-mails the built-in
catcher received are shown in the browser, with their HTML in a sandbox."""

from __future__ import annotations

from pathlib import Path

import httpx2 as httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from frontdesk.api.app import create_app
from frontdesk.clock import SystemClock
from frontdesk.security import PasswordHasher
from frontdesk.service.runtime import Runtime
from frontdesk.settings import Settings
from frontdesk.store.database import Database
from tests.support import eventually, live_sign_up, new_live_visitor, serving


def caught_settings(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "password_hashing": "fast",
        "offline_email_delay": 0.3,
        "worker_max_sleep": 60,
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


def test_the_catchers_mail_is_listed_and_shown_with_its_html_sandboxed(
    database: Database, database_url: str, passwords: PasswordHasher, tmp_path: Path
) -> None:
    settings = caught_settings(database_url, tmp_path)  # no smtp_url: the built-in catcher
    with serving(settings, database, passwords) as server:
        owner = live_sign_up(server)
        visitor = new_live_visitor(server, owner.widget_key, name="<i>Anna</i>")
        visitor.say("Do you ship to <b>Brno</b>?")
        with httpx.Client(base_url=server.base_url, timeout=10) as http:

            def listed() -> httpx.Response:
                listing = http.get("/dev/mail")
                assert "Anna" in listing.text, listing.text
                return listing

            listing = eventually(listed, timeout=10, what="Anna's e-mail listed")
            assert listing.status_code == 200
            assert "New message from &#34;&lt;i&gt;Anna&lt;/i&gt;&#34; on Shop" in listing.text
            assert owner.email in listing.text
            key = listing.text.split('href="/dev/mail/')[1].split('"')[0]

            shown = http.get(f"/dev/mail/{key}")
            assert shown.status_code == 200
            assert f'<iframe sandbox src="/dev/mail/{key}/html"' in shown.text
            assert "Do you ship to &lt;b&gt;Brno&lt;/b&gt;?" in shown.text  # the text part
            assert "List-Unsubscribe-Post" in shown.text

            html = http.get(f"/dev/mail/{key}/html")
            assert html.headers["content-security-policy"].startswith("sandbox;")
            assert "Do you ship to &lt;b&gt;Brno&lt;/b&gt;?" in html.text

            raw = http.get(f"/dev/mail/{key}/raw")
            assert raw.headers["content-type"] == "text/plain; charset=utf-8"
            assert b"Content-Type: multipart/alternative" in raw.content

            missing = http.get("/dev/mail/1234.M1P1.nothing")
            assert missing.status_code == 404
            assert missing.json()["error"]["code"] == "mail_not_found"
            assert http.get("/dev/mail/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert list((tmp_path / "mail" / "new").iterdir())


def test_there_is_no_mailbox_with_a_mail_server_or_for_other_machines(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    with_server = caught_settings(database_url, tmp_path, smtp_url="smtp://127.0.0.1:1")
    with TestClient(create_app_for(with_server, database)) as client:
        refused = client.get("/dev/mail")
        assert refused.status_code == 404
        assert "FRONTDESK_SMTP_URL" in refused.json()["error"]["message"]
    # TestClient's requests come from "testclient", not from this machine's loopback.
    embedded = caught_settings(database_url, tmp_path, run_worker=False)
    with TestClient(create_app_for(embedded, database)) as client:
        refused = client.get("/dev/mail")
        assert refused.status_code == 404
        assert "only requests from this machine" in refused.json()["error"]["message"]


def create_app_for(settings: Settings, database: Database) -> FastAPI:
    runtime = Runtime(
        settings=settings,
        database=database,
        clock=SystemClock(),
        passwords=PasswordHasher("fast"),
    )
    return create_app(runtime)


def test_a_request_through_a_proxy_is_not_from_this_machine(
    database: Database, database_url: str, passwords: PasswordHasher, tmp_path: Path
) -> None:
    """Whatever a proxy on this machine says about the client (even that it is loopback),
    the mailbox and the metrics answer only requests made here directly."""
    settings = caught_settings(database_url, tmp_path, run_worker=False)
    spoofs = [
        {"X-Real-IP": "203.0.113.9"},
        {"Forwarded": "for=203.0.113.9"},
        {"Forwarded": 'for="[::1]"'},
        {"X-Forwarded-For": "127.0.0.1"},
        {"True-Client-IP": "127.0.0.1"},
    ]
    with (
        serving(settings, database, passwords) as server,
        httpx.Client(base_url=server.base_url, timeout=10) as http,
    ):
        assert http.get("/dev/mail").status_code == 200
        assert http.get("/metrics").status_code == 200
        for headers in spoofs:
            mailbox = http.get("/dev/mail", headers=headers)
            assert mailbox.status_code == 404, (headers, mailbox.text)
            assert mailbox.json()["error"]["code"] == "mailbox_unavailable"
            metrics = http.get("/metrics", headers=headers)
            assert metrics.status_code == 404, (headers, metrics.text)
            assert metrics.json()["error"]["code"] == "metrics_unavailable"


def test_the_metrics_answer_their_token_from_anywhere(
    database: Database, database_url: str, passwords: PasswordHasher, tmp_path: Path
) -> None:
    settings = caught_settings(
        database_url, tmp_path, run_worker=False, metrics_token="scrape-me-please"
    )
    with (
        serving(settings, database, passwords) as server,
        httpx.Client(base_url=server.base_url, timeout=10) as http,
    ):
        assert http.get("/metrics").status_code == 401
        wrong = http.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert wrong.status_code == 401
        proxied = {"Authorization": "Bearer scrape-me-please", "X-Forwarded-For": "203.0.113.9"}
        scraped = http.get("/metrics", headers=proxied)
        assert scraped.status_code == 200
        assert "frontdesk_" in scraped.text
