"""The SIGKILL loop of docs/reliability.md in CI's size: 2 serve + 2 worker processes on
PostgreSQL and a Redis of the test's own, run by deploy/supervise.py, four of them killed at
random while visitors write. Nothing lost, nothing wrong, no e-mail doubled under a new
Message-ID (the full size is ``python -m benchmarks.chaos``)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest
from benchmarks.chaos import Outages, sigkill_loop

from tests.support.pgcluster import private_cluster
from tests.support.private_redis import private_redis

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.chaos]


def test_the_sigkill_loop_loses_nothing_and_doubles_nothing(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    with private_redis() as redis_server:
        figures = sigkill_loop(
            database_url=fresh_postgres_url,
            redis_url=redis_server.url,
            folder=tmp_path,
            visitors=40,
            kills=4,
            kill_every=1.5,
        )
    print(asdict(figures))
    assert sum(figures.restarts.values()) == 4
    # 40 visitors, every fifth answered, 2 agents each. A reply a kill held back past the
    # 3 s delay may rightly be e-mailed; one in time never is (``wrong``).
    assert figures.answered == 8
    assert 8 - figures.answered_late <= figures.suppressed <= 8
    assert figures.due == (40 - figures.suppressed) * 2
    assert (figures.lost, figures.wrong, figures.doubles_new_id) == (0, 0, 0)
    # The one window: killed between a 250 and its record (at most one per connection).
    assert figures.arrived == figures.due + figures.repeats_same_id


def test_the_loop_with_every_outage_at_once_loses_nothing(tmp_path: Path) -> None:
    """Besides the kills: 30 % of RCPTs answered 451 throughout; the mail server away for
    3 s, Redis killed and PostgreSQL (a private cluster) stopped at once, in a random order
    at random moments, each back after a few seconds (the figures' seed repeats the draws)."""
    with private_redis() as redis_server, private_cluster() as database:
        figures = sigkill_loop(
            database_url=database.url,
            redis_url=redis_server.url,
            folder=tmp_path,
            visitors=40,
            kills=4,
            kill_every=2.0,
            planned=Outages(
                smtp_refusing=0.3, smtp_away=3, redis=redis_server, database=database, within=3
            ),
        )
    print(asdict(figures))
    assert len(figures.outages) == 3, figures.outages
    assert figures.smtp_refused > 0
    assert figures.answered == 8
    assert 8 - figures.answered_late <= figures.suppressed <= 8
    assert figures.due == (40 - figures.suppressed) * 2
    assert (figures.lost, figures.wrong, figures.doubles_new_id) == (0, 0, 0)
    assert figures.arrived == figures.due + figures.repeats_same_id
