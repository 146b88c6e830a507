"""A small, independent model of docs/spec.md section 3, for the property test of the engine.

It is written from the specification, not from Frontdesk's code: plain lists and dicts, one
method per thing that can happen, and time as a number of seconds. The property test drives
it and the real engine through the same steps and compares every decision.

Messages are numbered in the order they are written (``seq``); the test maps Frontdesk's
message ids onto these numbers, so the model never needs the database's ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OFFLINE = "offline_message"
MISSED = "missed_conversation"
KINDS = (OFFLINE, MISSED)


class Refused(Exception):
    """The action is not allowed (joining a conversation another agent has, a closed one)."""


@dataclass
class Device:
    status: str  # "online" | "offline"
    until: float  # connected while now < until


@dataclass
class Agent:
    index: int
    active: bool = True
    in_group: bool = False
    wants: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(KINDS, True))
    devices: dict[str, Device] = field(default_factory=dict)
    recorded_online: bool = False
    # (moment, online) for every recorded change of the agent's online state
    history: list[tuple[float, bool]] = field(default_factory=list)


@dataclass
class Message:
    seq: int
    author: str  # "visitor" | "agent" | "system"
    at: float


@dataclass
class Conversation:
    key: tuple[int, int]  # (visitor, n-th conversation of that visitor)
    visitor: int
    grouped: bool
    status: str = "unserved"  # "unserved" | "served" | "closed"
    assignee: int | None = None
    messages: list[Message] = field(default_factory=list)
    read_up_to: dict[int, int] = field(default_factory=dict)  # agent → seq


@dataclass
class Visitor:
    index: int
    present_until: float | None = None
    present: bool = False
    arrivals: list[float] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)


@dataclass
class Notification:
    kind: str
    conversation: tuple[int, int]
    opened_at: float
    due_at: float
    messages: list[int]  # seqs
    state: str = "scheduled"
    reason: str | None = None
    decided_at: float | None = None
    listed: list[int] = field(default_factory=list)
    recipients: list[int] = field(default_factory=list)
    not_recipients: list[tuple[int, str]] = field(default_factory=list)
    visit_first: int | None = None
    visitor_left_at: float | None = None


@dataclass
class Model:
    plan: str
    delay: float
    agent_device_timeout: float
    visitor_left_after: float
    # A message renews a lease that needs it this much further (docs/presence.md).
    visitor_seen_coalesce: float = 0.0
    offline_on: bool = True
    missed_on: bool = False
    agents: list[Agent] = field(default_factory=list)
    visitors: list[Visitor] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    now: float = 0.0
    next_seq: int = 0

    # --- who is online ------------------------------------------------------------------------

    def online(self, agent: Agent, at: float) -> bool:
        """Active, with some device that says online and is still connected."""
        return agent.active and any(
            d.status == "online" and at < d.until for d in agent.devices.values()
        )

    def scope(self, conversation: Conversation) -> list[Agent]:
        grouped = self.plan == "pro" and conversation.grouped
        return [a for a in self.agents if a.active and (a.in_group or not grouped)]

    def was_online_between(self, agents: list[Agent], start: float, end: float) -> bool:
        for agent in agents:
            state_at_start = False
            for at, online in agent.history:
                if at <= start:
                    state_at_start = online
                elif at <= end and online:
                    return True
            if state_at_start:
                return True
        return False

    def record_agent(self, agent: Agent) -> None:
        """Record the agent's change of state now, if there is one."""
        is_online = self.online(agent, self.now)
        if is_online == agent.recorded_online:
            return
        agent.recorded_online = is_online
        if is_online:
            agent.history.append((self.now, True))
            self.agent_came_online(agent)
            return
        # Gone when the last online lease ran out, if that is what happened; switched off
        # or deactivated: now.
        ends = [d.until for d in agent.devices.values() if d.status == "online"]
        went = max(ends) if agent.active and ends and max(ends) <= self.now else self.now
        agent.history.append((went, False))

    # --- things that happen -------------------------------------------------------------------

    def heartbeat(self, agent: Agent, device: str, status: str) -> None:
        self.record_agent(agent)  # a lease that ran out before this heartbeat ended then
        current = agent.devices.get(device)
        until = max(current.until if current else self.now, self.now + self.agent_device_timeout)
        agent.devices[device] = Device(status=status, until=until)
        self.record_agent(agent)

    def set_active(self, agent: Agent, active: bool) -> None:
        if agent.active != active:
            agent.active = active
            self.record_agent(agent)

    def visitor_seen(self, visitor: Visitor) -> None:
        self.record_visitor(visitor)  # gone before this sign of life: that was a leaving
        lease_end = self.now + self.visitor_left_after
        visitor.present_until = max(visitor.present_until or lease_end, lease_end)
        self.record_visitor(visitor)

    def visitor_wrote(self, visitor: Visitor) -> None:
        """A message is a sign of life whose lease renewal is coalesced: a lease still
        reaching ``visitor_left_after`` ahead is kept, a shorter one is renewed
        ``visitor_seen_coalesce`` further; a visitor not on the website arrives as ever."""
        lease_end = self.now + self.visitor_left_after
        until = visitor.present_until
        if visitor.present and until is not None and until > self.now:
            if until < lease_end:
                visitor.present_until = lease_end + self.visitor_seen_coalesce
            return
        self.visitor_seen(visitor)

    def record_visitor(self, visitor: Visitor) -> None:
        is_present = visitor.present_until is not None and self.now < visitor.present_until
        if is_present == visitor.present:
            return
        visitor.present = is_present
        if is_present:
            visitor.arrivals.append(self.now)
        else:
            assert visitor.present_until is not None
            self.visitor_left(visitor, min(visitor.present_until, self.now))

    def open_conversation(self, visitor: Visitor) -> Conversation | None:
        for conversation in reversed(visitor.conversations):
            if conversation.status != "closed":
                return conversation
        return None

    def add_message(self, conversation: Conversation, author: str) -> Message:
        message = Message(seq=self.next_seq, author=author, at=self.now)
        self.next_seq += 1
        conversation.messages.append(message)
        return message

    def visitor_writes(self, visitor: Visitor, *, grouped: bool) -> Message:
        conversation = self.open_conversation(visitor)
        if conversation is None:
            conversation = Conversation(
                key=(visitor.index, len(visitor.conversations)),
                visitor=visitor.index,
                grouped=grouped,
            )
            visitor.conversations.append(conversation)
        message = self.add_message(conversation, "visitor")
        self.visitor_wrote(visitor)
        # Offline message, rule 1.
        if any(self.online(a, self.now) for a in self.scope(conversation)):
            return message
        open_one = self.open_offline(conversation)
        if open_one is not None:
            open_one.messages.append(message.seq)
            return message
        notification = Notification(
            kind=OFFLINE,
            conversation=conversation.key,
            opened_at=self.now,
            due_at=self.now + self.delay,
            messages=[message.seq],
        )
        if not self.offline_on:
            notification.due_at = self.now
            self.decide(notification, "suppressed", "setting_off")
        self.notifications.append(notification)
        return message

    def open_offline(self, conversation: Conversation) -> Notification | None:
        for notification in self.notifications:
            if (
                notification.kind == OFFLINE
                and notification.conversation == conversation.key
                and notification.state == "scheduled"
            ):
                return notification
        return None

    def agent_came_online(self, agent: Agent) -> None:
        """Offline message, rule 2."""
        for notification in self.notifications:
            if notification.kind != OFFLINE or notification.state != "scheduled":
                continue
            conversation = self.conversation(notification.conversation)
            grouped = self.plan == "pro" and conversation.grouped
            if not grouped or agent.in_group:
                self.decide(notification, "suppressed", "agent_came_online")

    def read(self, agent: Agent, conversation: Conversation) -> None:
        if conversation.messages:
            newest = conversation.messages[-1].seq
            conversation.read_up_to[agent.index] = max(
                conversation.read_up_to.get(agent.index, -1), newest
            )

    def join(self, agent: Agent, conversation: Conversation) -> None:
        if conversation.status == "closed":
            raise Refused
        if conversation.status == "served":
            if conversation.assignee == agent.index:
                return
            raise Refused
        conversation.status = "served"
        conversation.assignee = agent.index
        self.add_message(conversation, "system")

    def reply(self, agent: Agent, conversation: Conversation) -> None:
        if conversation.status == "closed":
            raise Refused
        if conversation.status == "unserved":
            self.join(agent, conversation)
        message = self.add_message(conversation, "agent")
        conversation.read_up_to[agent.index] = max(
            conversation.read_up_to.get(agent.index, -1), message.seq
        )

    def close(self, conversation: Conversation) -> None:
        if conversation.status != "closed":
            conversation.status = "closed"
            self.add_message(conversation, "system")

    def visitor_left(self, visitor: Visitor, left_at: float) -> None:
        """The missed-conversation rule."""
        arrived = max((a for a in visitor.arrivals if a <= left_at), default=None)
        for conversation in visitor.conversations:
            if conversation.status != "unserved":
                continue
            this_visit = [
                m
                for m in conversation.messages
                if m.author == "visitor"
                and m.at <= left_at
                and (arrived is None or m.at >= arrived)
            ]
            if not this_visit:
                continue
            first = this_visit[0]
            if any(
                n.kind == MISSED
                and n.conversation == conversation.key
                and n.visit_first == first.seq
                for n in self.notifications
            ):
                continue
            if not self.was_online_between(self.scope(conversation), first.at, left_at):
                continue
            self.notifications.append(
                Notification(
                    kind=MISSED,
                    conversation=conversation.key,
                    opened_at=self.now,
                    due_at=left_at,
                    messages=[m.seq for m in this_visit],
                    visit_first=first.seq,
                    visitor_left_at=left_at,
                )
            )

    # --- the keeper and the worker ------------------------------------------------------------

    def sweep(self) -> None:
        for agent in self.agents:
            if agent.recorded_online:
                self.record_agent(agent)
        for visitor in self.visitors:
            if visitor.present:
                self.record_visitor(visitor)

    def decide_due(self) -> None:
        for notification in self.notifications:
            if notification.state == "scheduled" and notification.due_at <= self.now:
                self.decide_at_due_time(notification)

    def decide_at_due_time(self, notification: Notification) -> None:
        conversation = self.conversation(notification.conversation)
        recipients, left_out = self.audience(conversation, notification.kind)
        if notification.kind == MISSED:
            if self.plan == "free":
                self.decide(notification, "suppressed", "plan_lacks_feature")
            elif not self.missed_on:
                self.decide(notification, "suppressed", "setting_off")
            else:
                self.send_or_nobody(notification, notification.messages, recipients, left_out)
            return
        if not self.offline_on:
            self.decide(notification, "suppressed", "setting_off")
        elif self.was_online_between(self.scope(conversation), notification.opened_at, self.now):
            self.decide(notification, "suppressed", "agent_came_online")
        elif conversation.status == "closed":
            self.decide(notification, "suppressed", "conversation_closed")
        elif conversation.status == "served" and any(
            m.author in ("agent", "system") and m.seq > notification.messages[0]
            for m in conversation.messages
        ):
            self.decide(notification, "suppressed", "conversation_served")
        else:
            read = max(conversation.read_up_to.values(), default=-1)
            unread = [seq for seq in notification.messages if seq > read]
            if not unread:
                self.decide(notification, "suppressed", "read_in_dashboard")
            else:
                self.send_or_nobody(notification, unread, recipients, left_out)

    def audience(
        self, conversation: Conversation, kind: str
    ) -> tuple[list[int], list[tuple[int, str]]]:
        grouped = self.plan == "pro" and conversation.grouped
        recipients: list[int] = []
        left_out: list[tuple[int, str]] = []
        for agent in self.agents:
            if not agent.active:
                left_out.append((agent.index, "inactive"))
            elif grouped and not agent.in_group:
                left_out.append((agent.index, "not_in_group"))
            elif not agent.wants[kind]:
                left_out.append((agent.index, "opted_out"))
            else:
                recipients.append(agent.index)
        return recipients, left_out

    def send_or_nobody(
        self,
        notification: Notification,
        listed: list[int],
        recipients: list[int],
        left_out: list[tuple[int, str]],
    ) -> None:
        notification.not_recipients = left_out
        if recipients:
            notification.listed = listed
            notification.recipients = recipients
            self.decide(notification, "sent", None)
        elif any(reason == "opted_out" for _, reason in left_out):
            self.decide(notification, "suppressed", "opted_out")
        else:
            self.decide(notification, "suppressed", "no_recipients")

    def decide(self, notification: Notification, state: str, reason: str | None) -> None:
        notification.state = state
        notification.reason = reason
        notification.decided_at = self.now

    def conversation(self, key: tuple[int, int]) -> Conversation:
        return self.visitors[key[0]].conversations[key[1]]
