"""Presence in the store: device and visitor leases, and the durable history of who was
online or on the website when (docs/presence.md), in five rooms: ``devices`` (an agent's
devices), ``sockets`` (sockets opening and closing, in batches), ``visitors`` (a visitor on
the website), ``sweeping`` (leases that ran out) and ``recording`` (the rows and the
announcements every room writes).

Each write here re-checks the rule of ``frontdesk.core.presence`` for the agent or visitor it
touched and records a transition in ``presence_changes`` when the state turned. Leases that
simply run out change nobody's row, so ``sweep`` finds them and records each transition at
the moment the lease ended, not when the sweep happened to notice.

Every recorded transition is handed, in its transaction, to the notification engine's one
entry point from presence, ``frontdesk.service.notifications.presence_recorded``: an agent
coming online calls off offline notifications, a visitor leaving may open a
missed-conversation notification. So any sign of life that records an earlier, unnoticed
leaving first (a visitor message, a reconnect) may open one; that is the rule, not a side
effect.
"""

from frontdesk.service.presence.devices import (
    device_active,
    device_is_idle,
    device_is_online,
    device_looking,
    devices_by_agent,
    heartbeat,
    idle_after_changed,
    list_devices,
    presence_state,
    set_status,
    settle_and_describe,
    socket_status,
)
from frontdesk.service.presence.recording import PresenceEvent
from frontdesk.service.presence.sockets import (
    SocketClosed,
    SocketOpened,
    VisitorSocket,
    renew_sockets,
    socket_closed,
    socket_opened,
    sockets_changed,
)
from frontdesk.service.presence.sweeping import (
    changes_since,
    next_sweep_at,
    sweep,
    sweep_soon,
)
from frontdesk.service.presence.visitors import (
    VisitorLease,
    renew_visitor_leases,
    visitor_active,
    visitor_lease,
    visitor_seen,
    visitors_arrived,
)

__all__ = [
    "PresenceEvent",
    "SocketClosed",
    "SocketOpened",
    "VisitorLease",
    "VisitorSocket",
    "changes_since",
    "device_active",
    "device_is_idle",
    "device_is_online",
    "device_looking",
    "devices_by_agent",
    "heartbeat",
    "idle_after_changed",
    "list_devices",
    "next_sweep_at",
    "presence_state",
    "renew_sockets",
    "renew_visitor_leases",
    "set_status",
    "settle_and_describe",
    "socket_closed",
    "socket_opened",
    "socket_status",
    "sockets_changed",
    "sweep",
    "sweep_soon",
    "visitor_active",
    "visitor_lease",
    "visitor_seen",
    "visitors_arrived",
]
