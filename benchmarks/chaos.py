"""The SIGKILL loop: Frontdesk scaled out as deploy/supervise.py runs it (2 ``serve`` + 2
``worker`` on PostgreSQL and Redis, each process started again 1 to 3 s after it dies),
visitors writing while random processes are killed with SIGKILL, and the e-mails that reach
a mail server on loopback counted by Message-ID (docs/reliability.md):

- lost: a delivery the database says is due or sent whose e-mail never arrived;
- wrong: an e-mail for a conversation whose notification was suppressed (an agent replied),
  or a notification sent although an agent had replied before it was due;
- answered late: an agent's reply stored after its notification was due (a kill can hold
  a reply back longer than the delay); its e-mail may rightly go, so it is counted apart;
- doubles with a new Message-ID: one agent, one conversation, two different e-mails;
- repeats with the same Message-ID: the one window docs/notifications.md allows (a process
  killed between the mail server's 250 and its record), which mail systems drop.

``tests/integration/test_chaos.py`` runs it small in CI; ``python -m benchmarks.chaos``
runs the full size (2,000 notifications, 3,200 e-mails, 12 kills) and prints the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx2 as httpx
import psycopg
from tests.mailsink import MailSink, mail_sink
from tests.support import frontdesk_env, postgres_database, unique_email
from tests.support.pgcluster import PrivateCluster, private_cluster
from tests.support.private_redis import PrivateRedis, private_redis

from benchmarks.common import ROOT

AGENTS = 2
# Every SUPPRESS-th conversation is answered at once: its e-mail must never go.
SUPPRESS = 5
LEASE = 2.5
QUESTION = re.compile(r"Question \d+")


@dataclass
class Figures:
    visitors: int
    kills: int
    due: int = 0  # deliveries the database holds for notifications that were not suppressed
    suppressed: int = 0  # notifications suppressed (an agent answered in time)
    answered: int = 0  # conversations an agent replied to
    answered_late: int = 0  # of them, replies stored after their notification was due
    arrived: int = 0  # e-mails the mail server took
    lost: int = 0
    wrong: int = 0
    doubles_new_id: int = 0
    repeats_same_id: int = 0
    request_retries: int = 0  # requests that reached a dead process and went to another
    smtp_refused: int = 0  # RCPTs the mail server answered 451
    seconds: float = 0.0
    restarts: dict[str, int] = field(default_factory=dict)
    outages: list[str] = field(default_factory=list)
    seed: int = 0  # of the kills' and outages' draws: --seed repeats a run's choices


class Cluster:
    """The serve processes of a supervisor, asked in turn; a request that finds one dead
    (refused, cut, 502/503) goes to the next, with the same Idempotency-Key if it had one."""

    def __init__(
        self, urls: list[str], figures: Figures, *, verify: ssl.SSLContext | bool = True
    ) -> None:
        self.urls = urls
        self.turn = 0
        self.figures = figures
        self.http = httpx.Client(timeout=10, verify=verify)

    def close(self) -> None:
        self.http.close()

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        deadline = time.monotonic() + 60
        while True:
            url = self.urls[self.turn % len(self.urls)]
            self.turn += 1
            try:
                answer = self.http.request(method, url + path, json=body, headers=headers)
                if answer.status_code < 500:
                    assert answer.is_success, f"{method} {path}: {answer.status_code} {answer.text}"
                    return answer.json()
            except httpx.TransportError:
                pass
            self.figures.request_retries += 1
            if time.monotonic() > deadline:
                raise TimeoutError(f"{method} {path}: no serve answered for 60 s")
            time.sleep(0.1)


def consecutive_free_ports(count: int) -> list[int]:
    """``count`` free loopback ports in a row (deploy/supervise.py numbers its serves so),
    below Linux's range for outgoing connections (32768 and up)."""
    while True:
        base = 10000 + random.randrange(20000)
        try:
            for port in range(base, base + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return list(range(base, base + count))


@contextmanager
def supervised(
    env: dict[str, str], folder: Path, *, serve: int, worker: int, port: int
) -> Iterator[Path]:
    status = folder / "running.json"
    log = (folder / "supervise.log").open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "deploy" / "supervise.py"),
            "--serve", str(serve),
            "--worker", str(worker),
            "--port", str(port),
            "--status", str(status),
            "--logs", str(folder / "logs"),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield status
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def wait_until_serving(ports: list[int], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    for port in ports:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"serve on {port} not ready")
            time.sleep(0.1)


def killer(
    status: Path,
    kills: int,
    every: float,
    chance: random.Random,
    stop: threading.Event,
    done: list[str],
) -> None:
    """``kills`` SIGKILLs of a random running process, one every ``every`` s or so."""
    while len(done) < kills and not stop.wait(chance.uniform(0.5, 1.5) * every):
        running = json.loads(status.read_text())
        if not running:
            continue
        chosen = chance.choice(running)
        try:
            os.kill(chosen["pid"], signal.SIGKILL)
        except ProcessLookupError:
            continue
        done.append(f"{chosen['role']} {chosen['index']}")


@dataclass(frozen=True, slots=True)
class Outages:
    """What else goes wrong during the loop while visitors write and processes are killed:
    each outage once, in an order and at moments drawn at random (``outages``)."""

    smtp_refusing: float = 0.0  # this share of RCPTs answered 451, throughout
    smtp_away: float = 0.0  # seconds the mail server is away
    redis: PrivateRedis | None = None  # killed and started again (2 s away)
    database: PrivateCluster | None = None  # stopped at once and started again (3 s away)
    within: float = 10.0  # each outage starts 0.5 to this many seconds after the previous


def outages(
    sink: MailSink, planned: Outages, chance: random.Random, stop: threading.Event, done: list[str]
) -> None:
    """The planned outages, shuffled, each after a random pause; they may overlap kills."""

    def mail_server_away() -> str:
        sink.go_away()
        stop.wait(planned.smtp_away)
        sink.come_back()
        return f"mail server away {planned.smtp_away:g} s"

    def away(part: PrivateRedis | PrivateCluster, seconds: float, said: str) -> str:
        part.stop()
        time.sleep(seconds)
        part.start()
        return said

    plan: list[Callable[[], str]] = []
    if planned.smtp_away:
        plan.append(mail_server_away)
    if planned.redis is not None:
        plan.append(partial(away, planned.redis, 2, "Redis killed, back after 2 s"))
    if planned.database is not None:
        plan.append(
            partial(away, planned.database, 3, "PostgreSQL stopped (immediate), back after 3 s")
        )
    chance.shuffle(plan)
    for outage in plan:
        pause = chance.uniform(0.5, planned.within)
        if stop.wait(pause):
            return
        done.append(f"after {pause:.1f} s: {outage()}")


def sigkill_loop(
    *,
    database_url: str,
    redis_url: str,
    folder: Path,
    visitors: int,
    kills: int,
    kill_every: float,
    planned: Outages | None = None,
    seed: int | None = None,
) -> Figures:
    planned = planned or Outages()
    seed = random.randrange(2**32) if seed is None else seed
    figures = Figures(visitors=visitors, kills=kills, seed=seed)
    kill_chance, outage_chance = random.Random(seed), random.Random(seed + 1)
    started = time.monotonic()
    with mail_sink(data_delay=0.02, refusing=planned.smtp_refusing) as sink:
        env = frontdesk_env(database_url, folder / "data") | {
            "FRONTDESK_REDIS_URL": redis_url,
            "FRONTDESK_SMTP_URL": sink.url,
            "FRONTDESK_OFFLINE_EMAIL_DELAY": "3",
            "FRONTDESK_SMTP_TIMEOUT": "1",
            "FRONTDESK_DELIVERY_LEASE": str(LEASE),
            "FRONTDESK_SMTP_RETRY_BASE": "0.2",
            "FRONTDESK_WORKER_MAX_SLEEP": "5",
            "FRONTDESK_EMAILS_PER_AGENT_PER_HOUR": "0",
            "FRONTDESK_EMAILS_PER_ACCOUNT_PER_HOUR": "0",
            "FRONTDESK_VISITOR_LEFT_AFTER": "600",
        }
        ports = consecutive_free_ports(2)
        with supervised(env, folder, serve=2, worker=2, port=ports[0]) as status:
            wait_until_serving(ports)
            cluster = Cluster([f"http://127.0.0.1:{port}/api/v1" for port in ports], figures)
            stop = threading.Event()
            done: list[str] = []
            happened: list[str] = []
            killing = threading.Thread(
                target=killer,
                args=(status, kills, kill_every, kill_chance, stop, done),
                daemon=True,
            )
            troubles = threading.Thread(
                target=outages, args=(sink, planned, outage_chance, stop, happened), daemon=True
            )
            killing.start()
            troubles.start()
            try:
                write_while_killed(cluster, visitors)
                killing.join(timeout=kills * kill_every * 3 + 30)
                troubles.join(timeout=planned.smtp_away + 3 * planned.within + 60)
            finally:
                stop.set()
                cluster.close()
            wait_until_settled(database_url, timeout=180)
            time.sleep(LEASE + 1)  # an e-mail sent again after a lease ran out has come
            figures.restarts = dict(Counter(done))
            figures.outages = happened
        figures.smtp_refused = sink.handler.refused
        count(figures, database_url, sink)
    figures.seconds = round(time.monotonic() - started, 1)
    return figures


def write_while_killed(cluster: Cluster, visitors: int) -> None:
    owner = {"name": "Olga", "email": unique_email("owner"), "password": "owner-password"}
    signed = cluster.call("POST", "/accounts", {"name": "Shop", "owner": owner})
    token = {"Authorization": f"Bearer {signed['token']}"}
    for _ in range(AGENTS - 1):
        agent = {"name": "Adam", "email": unique_email(), "password": "agent-password"}
        cluster.call("POST", "/agents", agent, token)
    key = signed["widget_key"]
    for n in range(visitors):
        visitor = cluster.call("POST", f"/widget/{key}/visitors", {"name": f"V{n}"})
        headers = {
            "Authorization": f"Bearer {visitor['visitor_token']}",
            "Idempotency-Key": str(uuid.uuid4()),
        }
        posted = cluster.call("POST", f"/widget/{key}/messages", {"text": f"Question {n}"}, headers)
        if n % SUPPRESS == 0:
            cid = posted["conversation_id"]
            cluster.call("POST", f"/conversations/{cid}/messages", {"text": f"Reply {n}"}, token)


def wait_until_settled(database_url: str, *, timeout: float) -> None:
    """Until nothing is scheduled nor waiting to be sent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(database_url) as connection:
            waiting = connection.execute(
                "SELECT (SELECT count(*) FROM notifications WHERE state = 'scheduled')"
                " + (SELECT count(*) FROM deliveries WHERE state IN ('pending', 'deferred'))"
            ).fetchone()
        if waiting is not None and waiting[0] == 0:
            return
        time.sleep(0.5)


def count(figures: Figures, database_url: str, sink: MailSink) -> None:
    with psycopg.connect(database_url) as connection:
        due = connection.execute(
            "SELECT d.email, d.message_id_header, d.state FROM deliveries d"
            " JOIN notifications n ON n.id = d.notification_id"
            " WHERE n.state <> 'suppressed'"
        ).fetchall()
        suppressed = {
            text
            for (text,) in connection.execute(
                "SELECT m.text FROM notifications n JOIN messages m"
                " ON m.conversation_id = n.conversation_id AND m.author = 'visitor'"
                " WHERE n.state = 'suppressed'"
            )
        }
        # Each answered conversation: was its notification suppressed, and did the reply
        # come before the notification was due (then it must have been)?
        answered = connection.execute(
            "SELECT n.state = 'suppressed', min(m.created_at) < n.due_at FROM notifications n"
            " JOIN messages m ON m.conversation_id = n.conversation_id AND m.author = 'agent'"
            " GROUP BY n.id, n.state, n.due_at"
        ).fetchall()
    caught = sink.caught
    arrived_ids = Counter(c.message["Message-ID"] for c in caught)
    figures.due = len(due)
    figures.suppressed = len(suppressed)
    figures.arrived = len(caught)
    figures.lost = sum(1 for _, message_id, _ in due if message_id not in arrived_ids)
    figures.repeats_same_id = sum(n - 1 for n in arrived_ids.values())
    by_e_mail: dict[tuple[str, str], set[str]] = {}
    for c in caught:
        found = QUESTION.search(c.text)
        assert found is not None, c.text
        question = found.group(0)
        by_e_mail.setdefault((c.rcpt_to, question), set()).add(c.message["Message-ID"])
        if question in suppressed:
            figures.wrong += 1
    figures.doubles_new_id = sum(1 for ids in by_e_mail.values() if len(ids) > 1)
    figures.wrong += sum(1 for held, in_time in answered if in_time and not held)
    figures.answered = len(answered)
    figures.answered_late = sum(1 for _, in_time in answered if not in_time)


def main() -> None:
    parser = argparse.ArgumentParser(description="The SIGKILL loop (docs/reliability.md).")
    parser.add_argument(
        "--visitors", type=int, default=2000, help="each a notification; 4 in 5 two e-mails"
    )
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--kill-every", type=float, default=3.0)
    parser.add_argument(
        "--outages",
        action="store_true",
        help="besides: 30 %% of RCPTs answered 451, the mail server away 20 s, Redis killed "
        "and PostgreSQL (a private cluster) stopped, each once, in a random order at random "
        "moments",
    )
    parser.add_argument(
        "--seed", type=int, help="draw the pauses, choices and order of an earlier run again"
    )
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="frontdesk-chaos-"))
    with ExitStack() as stack:
        redis_server = stack.enter_context(private_redis())
        if options.outages:
            database = stack.enter_context(private_cluster())
            url = database.url
            planned = Outages(
                smtp_refusing=0.3,
                smtp_away=20,
                redis=redis_server,
                database=database,
                within=20,
            )
        else:
            url = stack.enter_context(postgres_database("frontdesk_chaos"))
            planned = Outages()
        figures = sigkill_loop(
            database_url=url,
            redis_url=redis_server.url,
            folder=folder,
            visitors=options.visitors,
            kills=options.kills,
            kill_every=options.kill_every,
            planned=planned,
            seed=options.seed,
        )
    print(json.dumps(asdict(figures), indent=2))


if __name__ == "__main__":
    main()
