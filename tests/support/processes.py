"""Real processes: ``frontdesk`` started as a user would start it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx2 as httpx

from tests.support.servers import free_port
from tests.support.waiting import eventually

REPO_ROOT = Path(__file__).resolve().parents[2]


def frontdesk_env(database_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env |= {
        "FRONTDESK_DATABASE_URL": database_url,
        "FRONTDESK_DATA_DIR": str(data_dir),
        "FRONTDESK_PASSWORD_HASHING": "fast",
        "FRONTDESK_RATE_LIMITS": "false",
        "FRONTDESK_CONFIRM_ADDRESSES": "false",
    }
    return env


def run_frontdesk(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "frontdesk", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class Server:
    """``frontdesk serve`` (or another long-running command) in a process of its own."""

    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        *,
        command: str = "serve",
        options: list[str] | None = None,
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("a")
        arguments = ["serve", "--port", str(self.port)] if command == "serve" else [command]
        arguments += options or []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "frontdesk", *arguments],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.log_path = log

    def wait_until_up(self, timeout: float = 30) -> None:
        def answering() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"frontdesk serve exited:\n{self.log_path.read_text()}")
            try:
                answered = httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                answered = False
            assert answered, f"frontdesk serve did not answer:\n{self.log_path.read_text()}"
            return answered

        eventually(answering, timeout=timeout, interval=0.1, what=f"{self.base_url}/healthz")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when a machine loses power."""
        self.process.kill()
        self.process.wait()
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


def malloc_arenas(pid: int) -> int:
    """How many of glibc's malloc arenas a process has beside its main heap
    (frontdesk/memory.py). An arena's heap is a reservation of 64 MiB aligned to 64 MiB:
    anonymous memory, writable from its start, inaccessible for the rest of it. Only the
    whole reservation counts, not any writable mapping that happens to start on such a
    boundary (Python's 256 kB arenas sometimes do)."""
    heap_size = 64 << 20
    mappings = []
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            span, mode, _, _, inode, *name = line.split()
            start, end = (int(edge, 16) for edge in span.split("-"))
            mappings.append((start, end, mode, inode == "0" and not name))
    arenas = 0
    for index, (start, end, mode, anonymous) in enumerate(mappings):
        if not (anonymous and mode.startswith("rw") and start % heap_size == 0):
            continue
        if end - start == heap_size:
            arenas += 1
            continue
        if index + 1 < len(mappings):
            rest_start, rest_end, rest_mode, rest_anonymous = mappings[index + 1]
            if (
                rest_anonymous
                and rest_mode.startswith("---")
                and rest_start == end
                and rest_end == start + heap_size
            ):
                arenas += 1
    return arenas
