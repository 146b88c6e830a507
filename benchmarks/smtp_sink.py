"""The sink for benchmarks/email_throughput.py: an aiosmtpd server that accepts every e-mail,
counts it and throws it away (no disk, no parsing beyond what aiosmtpd does itself). It
counts connections and the most it had open at once, and prints its counts as one line of
JSON when it is told to stop (SIGTERM). Run: ``python benchmarks/smtp_sink.py PORT``.

With ``--ids`` it also counts each ``Message-ID`` it received (benchmarks/engine.py checks
that no e-mail went out twice, none was lost and none was sent that was called off)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import sys
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

logging.getLogger("mail.log").setLevel(logging.WARNING)

counts = {"mails": 0, "connections": 0, "most_open": 0}
open_now = 0
message_ids: dict[str, int] = {}
MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


class CountingSMTP(SMTP):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        global open_now
        if self.transport is None:  # not the second call that follows STARTTLS
            counts["connections"] += 1
            open_now += 1
            counts["most_open"] = max(counts["most_open"], open_now)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        global open_now
        open_now -= 1
        super().connection_lost(error)


class Discard:
    def __init__(self, *, keep_ids: bool) -> None:
        self.keep_ids = keep_ids

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        counts["mails"] += len(envelope.rcpt_tos)
        if self.keep_ids:
            content = envelope.original_content or b""
            found = MESSAGE_ID.search(content.partition(b"\r\n\r\n")[0])
            key = found.group(1).decode("ascii", "replace") if found else "(none)"
            message_ids[key] = message_ids.get(key, 0) + 1
        return "250 OK"


async def main(port: int, *, keep_ids: bool) -> None:
    loop = asyncio.get_running_loop()
    handler = Discard(keep_ids=keep_ids)

    def protocol() -> Any:
        return CountingSMTP(handler, hostname="sink", ident="benchmark sink")

    server = await loop.create_server(protocol, "127.0.0.1", port)
    stopping = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    print("ready", flush=True)
    await stopping.wait()
    server.close()
    print(json.dumps(counts | ({"message_ids": message_ids} if keep_ids else {})), flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), keep_ids="--ids" in sys.argv[2:]))
