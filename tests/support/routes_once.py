"""The API's routes prepared once per test session, not once per app.

FastAPI prepares an included router's routes for the app that includes it, lazily, on that
app's first requests: for each route its parameters, its body and response models
(pydantic fields and adapters), and its request handler. A server makes one app and pays
that once. The tests make an app for almost every test (``create_app(runtime)`` with the
test's own clock and settings), and paid it every time: 150-230 ms for the first request
to a route late in the routing order, ~35 % of the samples of tests/api/test_accounts.py
(py-spy, 2026-12-08).

``prepare_routes_once()`` keeps what FastAPI prepared for a route, by the route and where it
is included, and hands it to every later app. Only one thing in it belongs to the first app
that asked: its dependency overrides, which Frontdesk never sets (the check below fails a
test session that does). The routes, the handlers and what they answer are FastAPI's own,
built by FastAPI's own code. Should FastAPI's private names change, nothing is kept and the
tests only run slower.
"""

from __future__ import annotations

from typing import Any

import fastapi.routing

_prepared: dict[tuple[int, int, str], Any] = {}


def prepare_routes_once() -> bool:
    """Install the cache; False (and nothing changed) where FastAPI is not as expected."""
    context_class = getattr(fastapi.routing, "_EffectiveRouteContext", None)
    build = getattr(context_class, "from_api_route", None)
    if context_class is None or build is None:
        return False
    if getattr(build, "prepared_once", False):
        return True
    build_for = build.__func__

    def from_api_route(cls: type, *, original_route: Any, include_context: Any) -> Any:
        provider = include_context.dependency_overrides_provider
        overrides = getattr(provider, "dependency_overrides", {})
        if overrides:
            raise AssertionError(
                "an app with dependency overrides: tests/support/routes_once.py shares "
                "prepared routes between apps, which would skip them"
            )
        key = (id(original_route), id(include_context.included_router), include_context.prefix)
        prepared = _prepared.get(key)
        if prepared is None or prepared.original_route is not original_route:
            prepared = _prepared[key] = build_for(
                cls, original_route=original_route, include_context=include_context
            )
        return prepared

    from_api_route.prepared_once = True  # type: ignore[attr-defined]
    context_class.from_api_route = classmethod(from_api_route)
    return True
