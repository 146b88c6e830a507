"""One C-allocator arena for a ``frontdesk worker``'s threads.

glibc gives each thread that allocates while another holds the allocator's lock an arena
of its own (up to eight per core), and each arena keeps what it once held. A worker's
threads run its database work in turns (the interpreter lock, SQLite's one writer), so the
arenas buy it nothing; at 100,000 pending on SQLite they held 5-7 MB of its 90 MB peak
after deciding and e-mailing (docs/performance.md). ``MALLOC_ARENA_MAX`` in the
environment, when set, is left to decide.
"""

from __future__ import annotations

import ctypes
import os
import sys

# mallopt's parameter for the number of arenas (glibc's malloc.h).
M_ARENA_MAX = -8


def one_malloc_arena() -> bool:
    """Ask the C allocator for one arena for every thread started from now on; True when
    it took the request (glibc on Linux), False elsewhere or when the environment says."""
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, 1))
