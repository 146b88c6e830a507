"""The receiver for benchmarks/ingest.py's webhook variant: an HTTP server that answers every
POST 204 at once, counts it and throws it away. It prints ``ready`` when it listens, and
its count as one line of JSON when told to stop (SIGTERM). Run:
``python benchmarks/webhook_sink.py PORT``."""

from __future__ import annotations

import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

counts = {"posts": 0}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver behind a proxy

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with lock:
            counts["posts"] += 1
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


class Server(ThreadingHTTPServer):
    # socketserver's backlog of 5 drops the SYNs of a burst of connections, which then
    # come a second later: the sender would seem slow.
    request_queue_size = 128


def main() -> None:
    server = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True

    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    server.serve_forever()
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
