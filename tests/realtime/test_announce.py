"""Recorded presence changes, announced: to the dashboards of the account, and not built at
all for an account none of whose dashboards is open."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from frontdesk.core.presence import PresenceChange
from frontdesk.realtime.hub import Frame, LocalHub, Subscription, agents_topic, visitors_topic
from frontdesk.realtime.keeper import PresenceKeeper
from frontdesk.service.presence.recording import PresenceEvent
from frontdesk.service.runtime import Runtime

AT = datetime(2026, 12, 6, 21, 0, tzinfo=UTC)


class CountingHub(LocalHub):
    """The in-process hub, noting each topic a frame was published to."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[str] = []

    def publish(self, topic: str, frame: Frame) -> None:
        self.published.append(topic)
        super().publish(topic, frame)


def ignore() -> None:
    pass


async def started(runtime: Runtime) -> tuple[CountingHub, PresenceKeeper]:
    hub = CountingHub()
    await hub.start()
    return hub, PresenceKeeper(runtime, hub)


def frames(subscription: Subscription) -> list[Frame]:
    found = []
    while (envelope := subscription.take()) is not None:
        found.append(envelope.frame)
    return found


def test_visitor_changes_reach_open_dashboards_and_are_not_built_for_none(
    runtime: Runtime,
) -> None:
    async def scenario() -> None:
        hub, keeper = await started(runtime)
        dashboard = hub.subscribe([agents_topic(1)], on_ready=ignore)
        keeper.announce(
            [
                PresenceEvent(1, PresenceChange.VISITOR_LEFT, AT, visitor_id=10),
                PresenceEvent(2, PresenceChange.VISITOR_LEFT, AT, visitor_id=20),
                PresenceEvent(2, PresenceChange.VISITOR_ARRIVED, AT, visitor_id=21),
            ]
        )
        assert hub.published == [agents_topic(1)]
        assert frames(dashboard) == [
            {
                "type": "presence.changed",
                "online": False,
                "at": AT.isoformat(),
                "visitor_id": 10,
                "conversation_ids": [],
            }
        ]

    asyncio.run(scenario())


def test_an_agent_change_is_announced_to_visitors_with_nobody_watching_the_agents(
    runtime: Runtime,
) -> None:
    """The widgets of the account are told who is online whether or not a dashboard is
    open: an agent's change is always published."""

    async def scenario() -> None:
        hub, keeper = await started(runtime)
        widget = hub.subscribe([visitors_topic(3)], on_ready=ignore)
        keeper.announce(
            [
                PresenceEvent(
                    3,
                    PresenceChange.AGENT_ONLINE,
                    AT,
                    agent_id=7,
                    online_agent_ids=frozenset({7}),
                )
            ]
        )
        assert hub.published == [agents_topic(3), visitors_topic(3)]
        assert frames(widget) == [{"type": "agents.online", "agent_ids": [7]}]

    asyncio.run(scenario())
