"""What the tests share, in one package; the conftest files hold the fixtures built from it.
Import from here (``from tests.support import eventually``); each module says what it holds:

- ``waiting``: waiting for what happens in the background (``eventually``), and each test's
  own manual clock;
- ``servers``: the PostgreSQL and Redis servers the tests use, and free loopback ports;
- ``in_process``: the HTTP API in-process (a ``TestClient``): accounts, agents and visitors
  made the way a client makes them, and the shape of an error;
- ``live``: a live server: the whole app on a real uvicorn in a thread of the test process, its
  agents, visitors and sockets, and the engine's settings and decisions on it;
- ``processes``: ``frontdesk`` started as a user would start it;
- ``dsn``: bounces as a remote mail server sends them;
- ``loop_guard``: synchronous PostgreSQL connections taken on an event loop, which fail the
  test that took them (``tests/conftest.py``);
- ``routes_once``: the API's routes prepared by FastAPI once per test session, not once per
  test's app (``tests/conftest.py``).
"""

from tests.support.dsn import DIAGNOSTIC, report, send, send_until_taken
from tests.support.in_process import (
    SignedUp,
    Visitor,
    agent_in,
    agents_of,
    assert_error,
    log_in,
    new_visitor,
    sign_up,
    unique_email,
)
from tests.support.live import (
    DELAY,
    LEASE,
    RETRY_BASE,
    Agent,
    LiveServer,
    LiveVisitor,
    Socket,
    decisions,
    engine_settings,
    live_settings,
    live_sign_up,
    new_live_visitor,
    serving,
    settled,
)
from tests.support.processes import REPO_ROOT, Server, frontdesk_env, run_frontdesk
from tests.support.servers import (
    POSTGRES_ADMIN_URL,
    REDIS_URL,
    free_port,
    postgres_database,
    postgres_unreachable_reason,
)
from tests.support.waiting import eventually, manual_clock

__all__ = [
    "DELAY",
    "DIAGNOSTIC",
    "LEASE",
    "POSTGRES_ADMIN_URL",
    "REDIS_URL",
    "REPO_ROOT",
    "RETRY_BASE",
    "Agent",
    "LiveServer",
    "LiveVisitor",
    "Server",
    "SignedUp",
    "Socket",
    "Visitor",
    "agent_in",
    "agents_of",
    "assert_error",
    "decisions",
    "engine_settings",
    "eventually",
    "free_port",
    "frontdesk_env",
    "live_settings",
    "live_sign_up",
    "log_in",
    "manual_clock",
    "new_live_visitor",
    "new_visitor",
    "postgres_database",
    "postgres_unreachable_reason",
    "report",
    "run_frontdesk",
    "send",
    "send_until_taken",
    "serving",
    "settled",
    "sign_up",
    "unique_email",
]
