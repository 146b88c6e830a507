"""The web UI's pages as the server sends them: the dashboard with its security policy and
the files of its version, the widget script, the demo shop and its choice of widget (the
browser tests use them)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

import frontdesk
from frontdesk.api.app import create_app
from frontdesk.api.docs_page import SWAGGER_UI_VERSION
from frontdesk.clock import ManualClock
from frontdesk.security import PasswordHasher
from frontdesk.service.runtime import Runtime
from frontdesk.settings import Settings
from frontdesk.store.database import Database
from frontdesk.store.migrate import upgrade
from frontdesk.web.routes import STATIC
from tests.support import SignedUp, assert_error, new_visitor, sign_up


def test_the_home_page_leads_to_the_dashboard(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/app"


def test_the_dashboard_runs_only_its_own_scripts(client: TestClient) -> None:
    response = client.get("/app")
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    # Its socket is its own origin's: no connection to any other host, ws: or not.
    assert "connect-src 'self';" in policy
    assert "ws:" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    config = re.search(r'<body data-config="([^"]*)"', response.text)
    assert config is not None
    settings = json.loads(html.unescape(config.group(1)))
    assert settings["mailbox"] is True  # no FRONTDESK_SMTP_URL: the built-in catcher
    assert settings["locales"] == ["en", "de", "cs"]


def test_the_dashboard_loads_every_file_from_its_version_s_folder(client: TestClient) -> None:
    """The modules import each other by relative URLs, which carry no ``?v=``: the page names
    them under a path with the version in it, so the imports stay in that version's folder
    and an upgrade changes every URL at once."""
    page = client.get("/app").text
    folder = f"/static/dashboard@{frontdesk.__version__}/"
    assert re.findall(r'<script type="module" src="([^"]+)"', page) == [f"{folder}main.js"]
    styles = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)
    assert [url.removeprefix(folder) for url in styles] == [
        "base.css",
        "controls.css",
        "shell.css",
        "pages.css",
        "inbox.css",
        "why.css",
        "narrow-screens.css",  # last: its rules override the others'
    ]
    reached: set[str] = set()
    waiting = ["main.js"]
    while waiting:
        name = waiting.pop()
        if name in reached:
            continue
        reached.add(name)
        module = client.get(folder + name)
        assert module.status_code == 200, name
        assert "javascript" in module.headers["content-type"], name
        # Revalidated, not fetched again, while the version stays the same.
        etag = module.headers["etag"]
        assert client.get(folder + name, headers={"If-None-Match": etag}).status_code == 304
        for specifier in re.findall(r'^import [^;]* from "([^"]+)";$', module.text, re.M):
            assert re.fullmatch(r"\./[a-z-]+\.js", specifier), f"{name} imports {specifier}"
            waiting.append(specifier.removeprefix("./"))
    on_disk = {path.name for path in (STATIC / "dashboard").glob("*.js")}
    assert reached == on_disk  # every module is reached from main.js, and only these
    for url in styles:
        assert client.get(url).status_code == 200
    # Another version's folder is not this one's.
    assert client.get("/static/dashboard@0.0.0/main.js").status_code == 404


def test_the_widget_is_one_script_any_website_may_load(client: TestClient) -> None:
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "attachShadow" in response.text
    with client.stream("GET", "/widget.js", headers={"Accept-Encoding": "gzip"}) as compressed:
        assert compressed.headers["content-encoding"] == "gzip"
        sent = sum(len(chunk) for chunk in compressed.iter_raw())
    assert sent < len(response.content) / 2  # every visitor of every page loads it


def test_the_demo_shop_shows_the_only_account_s_widget(
    tmp_path: Path, clock: ManualClock, passwords: PasswordHasher
) -> None:
    # An installation of its own: the shared test database holds many accounts.
    settings = Settings(data_dir=tmp_path, password_hashing="fast")
    database = Database(settings.effective_database_url)
    upgrade(database)
    client = TestClient(
        create_app(Runtime(settings=settings, database=database, clock=clock, passwords=passwords))
    )
    nobody = client.get("/demo")
    assert nobody.status_code == 200
    assert "data-key" not in nobody.text  # no account yet: the page says how to make one
    account = sign_up(client)
    shown = client.get("/demo")
    assert f'data-key="{account.widget_key}"' in shown.text
    sign_up(client)  # two accounts: which one is meant must be said
    assert "data-key" not in client.get("/demo").text
    chosen = client.get("/demo/product", params={"key": account.widget_key, "locale": "de"})
    assert f'data-key="{account.widget_key}"' in chosen.text
    assert 'data-locale="de"' in chosen.text
    database.dispose()


def test_the_demo_refuses_what_it_does_not_have(client: TestClient, account: SignedUp) -> None:
    assert_error(client.get("/demo/checkout"), 404, "page_not_found")
    assert_error(client.get("/demo", params={"key": 'x"><script>'}), 422, "invalid_input")
    assert_error(client.get("/demo", params={"locale": "fr"}), 422, "invalid_input")


def test_the_links_of_the_e_mails_open_that_screen_of_the_dashboard(client: TestClient) -> None:
    for link, screen in [
        ("/dashboard/conversations/12", "/app#/conversations/12"),
        ("/dashboard/profile", "/app#/profile"),
        ("/dashboard/%3Cscript%3E", "/app#/%3Cscript%3E"),
    ]:
        response = client.get(link, follow_redirects=False)
        assert response.status_code == 307
        assert response.headers["location"] == screen


def test_every_answer_is_nosniff_and_the_api_s_are_never_cached(
    client: TestClient, account: SignedUp
) -> None:
    visitor = new_visitor(client, account.widget_key)
    answers = {
        "me": account.get("/me"),
        "refused": client.get("/api/v1/me"),
        "message (hot path)": visitor.say("hello"),
        "invalid": client.post("/api/v1/accounts", json={}),
    }
    for what, answer in answers.items():
        assert answer.headers["x-content-type-options"] == "nosniff", what
        assert answer.headers["referrer-policy"] == "no-referrer", what
        assert answer.headers["cache-control"] == "no-store", what
    script = client.get("/widget.js")  # cached by browsers, as it says itself
    assert script.headers["cache-control"] == "public, max-age=300"
    assert script.headers["x-content-type-options"] == "nosniff"


def test_the_api_docs_load_swagger_ui_at_one_version_with_integrity_hashes(
    client: TestClient,
) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    page = response.text
    assets = re.findall(r'(?:src|href)="(https://[^"]+)"\s+integrity="(sha384-[^"]+)"', page)
    assert sorted(url.rsplit("/", 1)[1] for url, _ in assets) == [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
    ]
    for url, _ in assets:
        assert f"swagger-ui-dist@{SWAGGER_UI_VERSION}/" in url
    # Nothing else is loaded from elsewhere, and nothing without its hash.
    assert len(re.findall(r'(?:src|href)="https?://', page)) == 2
    assert page.count('crossorigin="anonymous"') == 2
    assert response.headers["x-content-type-options"] == "nosniff"
