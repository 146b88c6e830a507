"""Bodies of ``routes/presence.py``: an agent's devices, the status each reports and the
heartbeats that keep it online."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import StringConstraints

from frontdesk.api.schemas.common import Request, Response
from frontdesk.core.model import DeviceKind, DeviceStatus

DeviceKey = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$"),
]


class DeviceOut(Response):
    device_id: str
    kind: DeviceKind
    status: DeviceStatus
    last_seen_at: datetime
    # Whether this device makes its agent online now: status online, still connected and
    # not idle.
    online: bool
    # Status online and connected, but no activity for the account's agent_idle_after.
    idle: bool
    # The agent's last activity on it, as its client reported it; null: never reported.
    last_active_at: datetime | None


class StatusIn(Request):
    status: DeviceStatus
    device_id: DeviceKey | None = None


class HeartbeatIn(Request):
    kind: DeviceKind
    status: DeviceStatus
    # The agent did something on the device since the last heartbeat (an app in the
    # foreground): it is not idle (docs/reachability.md).
    active: bool = False


class PresenceOut(Response):
    online: bool
    # online; away: only idle devices would make you online, and the widget and the rules
    # count you offline; offline.
    state: Literal["online", "away", "offline"]
    # The account's agent_idle_after in seconds; null: nobody is ever away.
    idle_after: float | None
    devices: list[DeviceOut]
