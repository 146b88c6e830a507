"""The visitor message, answered in front of FastAPI's routing, dependencies and layers.

``POST /api/v1/widget/{widget_key}/messages`` is what every visitor of every site calls;
behind FastAPI it cost about 0.7 ms of CPU in routing, dependency solving and a dozen layers
of middleware, twice what storing the message costs (docs/performance.md). This layer, in
front of the whole FastAPI application (``FrontdeskApp``), serves the plain case itself: a
JSON body within the size limit, fields that validate, and a bearer token of one of the
widget's visitors (proven in the message's own transaction, and remembered). It stores the
message through the same service call (which records what frontdesk.api.live announces),
and answers 201 with the same body, and the CORS header the widget's browser needs.

Anything else goes on, untouched but for its body being replayed, through the whole
application, which answers it as it always did: an unknown token (nothing was written for
it), invalid JSON or fields, an oversized or chunked body, another content type. So every
refusal keeps exactly one home (``frontdesk.api.errors``), and the route stays declared in
FastAPI, documented in ``/openapi.json`` as before. An error of the operation itself (a
group of another account) is answered here through that same error mapping; nothing was
stored for it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from frontdesk.api.errors import frontdesk_error_response, unexpected_error_response
from frontdesk.api.limits import replaying
from frontdesk.api.schemas.common import WIDGET_KEY_PATTERN
from frontdesk.api.schemas.widget import VisitorMessageIn, VisitorMessageOut
from frontdesk.errors import FrontdeskError
from frontdesk.service import visitor_messages_together
from frontdesk.service.runtime import Runtime
from frontdesk.service.visitor_messages import Replayed

MAX_TOKEN = 200
# An Idempotency-Key the hot path takes (the route's schema says the same); any other goes
# on to FastAPI, which refuses it.
IDEMPOTENCY_KEY = re.compile(rb"[\x21-\x7e]{1,100}")
# On the answer to a message sent again with its key: the message stored the first time.
REPLAYED = (b"idempotent-replayed", b"true")
# What the widget's browser needs to read an answer from another site's page.
CORS = (
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", b"Retry-After, Idempotent-Replayed"),
)


class HotPaths:
    def __init__(
        self, fallback: ASGIApp, *, runtime: Runtime, prefix: str, max_body_bytes: int
    ) -> None:
        self.app = fallback
        self.runtime = runtime
        self.max_body_bytes = max_body_bytes
        # Messages answered here (the others went through FastAPI): for tests and profiles.
        self.served = 0
        self.message_path = re.compile(
            rf"^{re.escape(prefix)}/widget/({WIDGET_KEY_PATTERN.strip('^$')})/messages$"
        )

    def widget_key(self, scope: Scope) -> str | None:
        """The widget key of a visitor message this serves, else None."""
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
            return None
        matched = self.message_path.match(scope["path"])
        return None if matched is None else matched.group(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        widget_key = self.widget_key(scope)
        if widget_key is None:
            await self.app(scope, receive, send)
            return
        try:
            await self._message(widget_key, scope, receive, send)
        except Exception as error:  # answered as frontdesk.api.errors answers it
            answer = unexpected_error_response(
                error,
                "POST",
                scope["path"],
                retry_after=self.runtime.settings.unavailable_retry_after,
            )
            if any(name == b"origin" for name, _ in scope["headers"]):
                answer.raw_headers.extend(CORS)
            await answer(scope, receive, send)

    async def _message(self, widget_key: str, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"")
        token = bearer(headers.get(b"authorization", b""))
        key = headers.get(b"idempotency-key")
        if (
            token is None
            or (key is not None and IDEMPOTENCY_KEY.fullmatch(key) is None)
            or headers.get(b"content-type", b"").partition(b";")[0].strip().lower()
            != b"application/json"
            or not length.isdigit()
            or int(length) > self.max_body_bytes
        ):
            await self.app(scope, receive, send)
            return
        body, ended = await _read(receive, int(length))
        fields = _fields(body) if ended else None
        if fields is None:
            await self.app(scope, replaying(body, receive), send)
            return
        cors = list(CORS) if b"origin" in headers else []
        try:
            posted = await visitor_messages_together.post_message_of_token_soon(
                self.runtime,
                widget_key,
                token,
                text=fields.text,
                group_id=fields.group_id,
                idempotency_key=None if key is None else key.decode("ascii"),
            )
        except FrontdeskError as error:
            refusal = frontdesk_error_response(error)
            refusal.raw_headers.extend(cors)
            await refusal(scope, receive, send)
            return
        if posted is None:  # not a visitor of this widget: FastAPI says so, as ever
            await self.app(scope, replaying(body, receive), send)
            return
        self.served += 1
        payload = VisitorMessageOut(
            conversation_id=posted.conversation_id, message_id=posted.message_id
        ).model_dump_json()
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"%d" % len(payload)),
                    *cors,
                    *([REPLAYED] if isinstance(posted, Replayed) else []),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload.encode()})


def bearer(header: bytes) -> str | None:
    """The token of an ``Authorization: Bearer`` header's raw value, if it holds one."""
    scheme, _, token = header.partition(b" ")
    token = token.strip()
    if scheme.lower() != b"bearer" or not token or len(token) > MAX_TOKEN:
        return None
    try:
        return token.decode("ascii")
    except UnicodeDecodeError:
        return None


async def _read(receive: Receive, length: int) -> tuple[bytes, bool]:
    """The body, up to its declared length; whether it ended there."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > length:
            return b"".join(chunks), False
        if not message.get("more_body", False):
            return b"".join(chunks), size == length


def _fields(body: bytes) -> VisitorMessageIn | None:
    """The message's fields as FastAPI would validate them, or None to let it say why not."""
    try:
        data: Any = json.loads(body)
        return VisitorMessageIn.model_validate(data)
    except (ValueError, ValidationError):
        return None
