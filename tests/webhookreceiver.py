"""A webhook receiver on loopback, as a customer's endpoint is to Frontdesk: it takes POSTs,
checks each one's signature with the Standard Webhooks reference library
(``standardwebhooks``), and keeps what it received.

``script`` says how to answer the next requests, one entry each: a status, or ``HANG`` to
keep the request waiting past Frontdesk's timeout; when it is empty the receiver answers
``status`` (200). ``hold`` makes every request wait until it is set, so a test can kill the
sender while a request is in flight.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

HANG = -1


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int  # the status answered, HANG when the request was left hanging
    verified: bool  # the signature checked with the endpoint's secret
    at: float  # time.monotonic() when it arrived

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def msg_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    url: str
    # The secret of each path's endpoint, as Frontdesk answered it.
    secrets: dict[str, str] = field(default_factory=dict)
    script: list[int] = field(default_factory=list)
    status: int = 200
    hang_for: float = 3.0
    received: list[Received] = field(default_factory=list)
    hold: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.hold.set()

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def answer_next(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        secret = self.secrets.get(path)
        verified = False
        if secret is not None:
            try:
                Webhook(secret).verify(body, headers)
                verified = True
            except WebhookVerificationError:
                verified = False
        with self.lock:
            answered = self.script.pop(0) if self.script else self.status
            self.received.append(
                Received(path, headers, body, answered, verified, time.monotonic())
            )
        self.arrived.set()
        return answered


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    receiver: Receiver | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            assert receiver is not None
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            answered = receiver.answer_next(self.path, body, headers)
            receiver.hold.wait(timeout=30)
            if answered == HANG:
                time.sleep(receiver.hang_for)
                return  # no answer at all: the connection closes after the sender gave up
            self.send_response(answered)
            self.send_header("Content-Type", "text/plain")
            said = b"ok" if 200 <= answered < 300 else b"not now"
            self.send_header("Content-Length", str(len(said)))
            self.end_headers()
            self.wfile.write(said)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.hold.set()
        server.shutdown()
        server.server_close()
