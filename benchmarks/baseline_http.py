"""The baseline for benchmarks/ingest.py: the least an HTTP endpoint taking a visitor message
can be on the same server (uvicorn, the same event loop and HTTP parser as ``frontdesk
serve``): it reads the body, parses the same JSON, and answers 201 with a small JSON body.
No framework, no validation, no database, no authentication.

    python benchmarks/baseline_http.py PORT
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ids = itertools.count(1)


async def app(
    scope: Scope,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/healthz":
        status, answer = 200, {"status": "ok"}
    else:
        text = json.loads(body)["text"]
        status, answer = 201, {"conversation_id": len(text), "message_id": next(ids)}
    payload = json.dumps(answer).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(payload)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
