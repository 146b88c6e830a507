"""The tests' apps share the routes FastAPI prepared once (tests/support/routes_once.py):
each app still answers from its own runtime, and an app with dependency overrides, which
sharing would skip, is refused."""

from __future__ import annotations

from pathlib import Path

import fastapi.routing
import pytest
from fastapi.testclient import TestClient

from frontdesk.api import deps
from frontdesk.api.app import create_app
from frontdesk.security import PasswordHasher
from frontdesk.service.runtime import Runtime
from frontdesk.settings import Settings
from frontdesk.store.database import Database
from frontdesk.store.migrate import upgrade
from tests.support import manual_clock, sign_up


def an_app(folder: Path) -> TestClient:
    settings = Settings(
        database_url=f"sqlite:///{folder / 'frontdesk.sqlite3'}",
        password_hashing="fast",
        data_dir=folder,
        run_worker=False,
    )
    database = Database(settings.effective_database_url)
    upgrade(database)
    runtime = Runtime(
        settings=settings, database=database, clock=manual_clock(), passwords=PasswordHasher("fast")
    )
    return TestClient(create_app(runtime))


def prepared(client: TestClient) -> list[object]:
    return [
        candidate
        for route in client.app.router.routes  # type: ignore[attr-defined]
        if type(route).__name__ == "_IncludedRouter"
        for candidate in route.effective_candidates()
    ]


def test_two_apps_share_prepared_routes_and_each_answers_from_its_own_database(
    tmp_path: Path,
) -> None:
    assert getattr(fastapi.routing._EffectiveRouteContext.from_api_route, "prepared_once", False)
    first, second = an_app(tmp_path / "a"), an_app(tmp_path / "b")
    signed = sign_up(first)
    me = {"Authorization": f"Bearer {signed.token}"}
    assert first.get("/api/v1/me", headers=me).status_code == 200
    # The same route, prepared for the first app, in the second: its own runtime, where
    # that token was never issued.
    assert second.get("/api/v1/me", headers=me).status_code == 401
    assert sign_up(second).account_id != 0
    # Prepared once: the two apps hold the very same prepared routes.
    assert [id(c) for c in prepared(first)] == [id(c) for c in prepared(second)]
    assert len(prepared(first)) > 10


def test_an_app_with_dependency_overrides_is_refused(tmp_path: Path) -> None:
    client = an_app(tmp_path)
    client.app.dependency_overrides[deps.get_runtime] = lambda: None  # type: ignore[attr-defined]
    with pytest.raises(AssertionError, match="dependency overrides"):
        prepared(client)
