"""Cross-origin access for the widget: its script runs on the customer's website, so the
browser asks before every call it makes to ``/api/v1/widget/…``. Those calls are allowed
from any origin; they carry the visitor token in a header, never a cookie, so there is no
ambient credential another site could ride on. Everything else (the agents' API, the
dashboard) stays same-origin."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send


class WidgetCors:
    def __init__(self, app: ASGIApp, *, widget_prefix: str) -> None:
        self.app = app
        self.widget_prefix = widget_prefix
        self.cors = CORSMiddleware(
            app,
            allow_origins=["*"],
            allow_methods=["GET", "POST", "PATCH"],
            # Idempotency-Key: a message's retry is safe (docs/api.md).
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            expose_headers=["Retry-After", "Idempotent-Replayed"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.widget_prefix):
            await self.cors(scope, receive, send)
            return
        await self.app(scope, receive, send)
