"""A ``frontdesk worker`` asks glibc for one malloc arena (frontdesk/memory.py): its
threads then allocate from the main heap instead of an arena each."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.processes import REPO_ROOT

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="glibc's arenas in /proc: Linux only"
)

THREADS_ALLOCATE = """
import os, sys, threading
from frontdesk.memory import one_malloc_arena
from tests.support.processes import malloc_arenas

asked = one_malloc_arena() if sys.argv[1] == "one" else False
held = []
ready = threading.Barrier(4)

def allocate():
    ready.wait()
    held.extend(bytearray(50_000) for _ in range(20))  # above pymalloc's, below mmap's size

threads = [threading.Thread(target=allocate) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(asked, malloc_arenas(os.getpid()))
"""


def _run(mode: str, **env: str) -> tuple[str, int]:
    clean = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    asked, arenas = subprocess.run(
        [sys.executable, "-c", THREADS_ALLOCATE, mode],
        env=clean,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return asked, int(arenas)


def test_threads_share_one_arena_once_asked() -> None:
    assert _run("many") == ("False", 4)
    assert _run("one") == ("True", 0)


def test_the_environment_s_setting_is_left_to_decide() -> None:
    asked, arenas = _run("one", MALLOC_ARENA_MAX="4")
    assert asked == "False"
    assert arenas == 3  # four in all, the main heap's among them
