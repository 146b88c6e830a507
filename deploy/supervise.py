#!/usr/bin/env python3
"""Frontdesk scaled out on one machine: N ``frontdesk serve`` and M ``frontdesk worker``
processes, each started again 1 to 3 s after it exits, as systemd's ``Restart=always``
does with the units beside this file (docs/deployment.md).

    FRONTDESK_DATABASE_URL=postgresql://frontdesk@127.0.0.1/frontdesk \\
    FRONTDESK_REDIS_URL=redis://127.0.0.1:6379/0 \\
    python deploy/supervise.py --serve 3 --worker 2 --port 8001

The serve processes listen on 127.0.0.1 from ``--port`` up (8001, 8002, 8003), with the
engine left to the workers (``FRONTDESK_RUN_WORKER=false``); put the proxy of
deploy/nginx.conf in front of them. ``--status FILE`` keeps a JSON list of the running
processes there (role, port, pid), rewritten at each start. SIGTERM or SIGINT stops them
all, each with its own graceful shutdown. Standard library only: it runs wherever
Frontdesk does.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO


@dataclass
class Slot:
    role: str  # "serve" or "worker"
    index: int
    port: int | None
    process: subprocess.Popen[bytes] | None = None
    restart_at: float | None = None
    starts: int = 0
    log: IO[bytes] | None = None


class Supervisor:
    def __init__(
        self,
        slots: list[Slot],
        *,
        command: list[str],
        logs: Path | None,
        status: Path | None,
        restart_after: tuple[float, float],
    ) -> None:
        self.slots = slots
        self.command = command
        self.logs = logs
        self.status = status
        self.restart_after = restart_after
        self.stopping = threading.Event()

    def start(self, slot: Slot) -> None:
        env = dict(os.environ)
        arguments = [*self.command, slot.role]
        if slot.role == "serve":
            env["FRONTDESK_RUN_WORKER"] = "false"
            arguments += ["--host", "127.0.0.1", "--port", str(slot.port)]
        output: int | IO[bytes] = subprocess.DEVNULL
        if slot.log is not None:
            slot.log.close()
        if self.logs is not None:
            self.logs.mkdir(parents=True, exist_ok=True)
            output = slot.log = (self.logs / f"{slot.role}-{slot.index}.log").open("ab")
        # The operator's own command line: nothing here comes from a request.
        slot.process = subprocess.Popen(  # noqa: S603
            arguments, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        slot.starts += 1
        slot.restart_at = None
        self.write_status()

    def write_status(self) -> None:
        if self.status is None:
            return
        running = [
            {
                "role": s.role,
                "index": s.index,
                "port": s.port,
                "pid": s.process.pid,
                "starts": s.starts,
            }
            for s in self.slots
            if s.process is not None and s.process.poll() is None
        ]
        temporary = self.status.with_suffix(".tmp")
        temporary.write_text(json.dumps(running))
        temporary.replace(self.status)

    def run(self) -> None:
        for slot in self.slots:
            self.start(slot)
        while not self.stopping.is_set():
            now = time.monotonic()
            for slot in self.slots:
                assert slot.process is not None
                if slot.restart_at is None and slot.process.poll() is not None:
                    low, high = self.restart_after
                    slot.restart_at = now + random.uniform(low, high)  # noqa: S311 (not a secret)
                    print(
                        f"{slot.role} {slot.index} exited ({slot.process.returncode}); "
                        f"starting it again in {slot.restart_at - now:.1f} s",
                        flush=True,
                    )
                    self.write_status()
                elif slot.restart_at is not None and now >= slot.restart_at:
                    self.start(slot)
            self.stopping.wait(0.05)
        self.stop_all()

    def stop_all(self) -> None:
        for slot in self.slots:
            if slot.process is not None and slot.process.poll() is None:
                slot.process.terminate()
        for slot in self.slots:
            if slot.process is None:
                continue
            try:
                slot.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                slot.process.kill()
                slot.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", type=int, default=3, help="serve processes (3)")
    parser.add_argument("--worker", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--port", type=int, default=8001, help="the first serve's port (8001)")
    parser.add_argument("--logs", type=Path, default=None, help="a folder for each one's log")
    parser.add_argument("--status", type=Path, default=None, help="a JSON file of the running")
    parser.add_argument(
        "--restart-after",
        default="1-3",
        help="seconds before an exited process starts again, a range (1-3)",
    )
    parser.add_argument(
        "--frontdesk",
        default=f"{sys.executable} -m frontdesk",
        help="the command that runs Frontdesk (this Python's `-m frontdesk`)",
    )
    options = parser.parse_args()
    low, _, high = options.restart_after.partition("-")
    slots = [Slot("serve", n, options.port + n) for n in range(options.serve)]
    slots += [Slot("worker", n, None) for n in range(options.worker)]
    supervisor = Supervisor(
        slots,
        command=options.frontdesk.split(),
        logs=options.logs,
        status=options.status,
        restart_after=(float(low), float(high or low)),
    )
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: supervisor.stopping.set())
    supervisor.run()


if __name__ == "__main__":
    main()
