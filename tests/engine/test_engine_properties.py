"""Random sequences of presence changes, visitor messages, reads, joins, replies, closes,
settings and clock steps, driven through Frontdesk's engine (the real services, rules and
store, on SQLite and PostgreSQL, with a manual clock) and through the independent model of
docs/spec.md section 3 in ``tests/engine/model.py``; every decision must agree, to the second.

After each step the presence sweep and the worker's decision step run, as the keeper and
the worker would on time.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frontdesk.clock import ManualClock
from frontdesk.core.model import DeviceKind, DeviceStatus, Locale, Plan, Role
from frontdesk.errors import Conflict
from frontdesk.security import PasswordHasher
from frontdesk.service import (
    accounts,
    agents,
    conversations,
    groups,
    notifications,
    presence,
    visitor_messages,
    widget,
)
from frontdesk.service.runtime import AgentCaller, Runtime, VisitorCaller
from frontdesk.settings import Settings
from frontdesk.store.database import Database
from tests.engine import model as m
from tests.support import unique_email

DELAY, AGENT_DEVICE_TIMEOUT, VISITOR_LEFT_AFTER = 120.0, 60.0, 30.0
AGENTS, VISITORS = 3, 2
# Each example starts a day after the one before, so that what earlier examples left in
# the shared database is settled history by then.
_days = itertools.count(1)

agent_index = st.integers(0, AGENTS - 1)
visitor_index = st.integers(0, VISITORS - 1)
step = st.one_of(
    st.tuples(
        st.just("heartbeat"),
        agent_index,
        st.sampled_from(["web", "mobile"]),
        st.sampled_from(["online", "offline"]),
    ),
    st.tuples(st.just("write"), visitor_index, st.booleans()),
    st.tuples(st.just("visitor_seen"), visitor_index),
    st.tuples(st.sampled_from(["read", "join", "reply", "close"]), agent_index, visitor_index),
    st.tuples(st.just("settings"), st.booleans(), st.booleans()),
    st.tuples(st.just("opt"), agent_index, st.sampled_from(m.KINDS), st.booleans()),
    st.tuples(st.just("active"), st.integers(1, AGENTS - 1), st.booleans()),
    st.tuples(st.just("advance"), st.sampled_from([0.5, 5.0, 29.0, 31.0, 59.0, 61.0, 121.0])),
)
scenario = st.fixed_dictionaries(
    {
        "plan": st.sampled_from(["free", "standard", "pro"]),
        "offline_on": st.booleans(),
        "missed_on": st.booleans(),
        "group": st.lists(st.booleans(), min_size=AGENTS, max_size=AGENTS),
        "steps": st.lists(step, max_size=30),
    }
)


@dataclass
class Real:
    """The real system, and the labels that map its ids onto the model's."""

    rt: Runtime
    clock: ManualClock
    start: datetime
    callers: list[AgentCaller]
    visitors: list[VisitorCaller]
    account_id: int
    group_id: int | None
    conversation_ids: dict[tuple[int, int], int] = field(default_factory=dict)
    message_seqs: dict[int, int] = field(default_factory=dict)

    def seconds(self, moment: datetime | None) -> float | None:
        return None if moment is None else (moment - self.start).total_seconds()

    def settle(self) -> None:
        """What the presence keeper and the engine worker do when they are on time."""
        presence.sweep(self.rt)
        while notifications.decide_due(self.rt) == notifications.DECIDE_BATCH:
            pass


def set_up(
    database: Database, passwords: PasswordHasher, data: dict[str, Any]
) -> tuple[Real, m.Model]:
    start = datetime(2027, 1, 1, tzinfo=UTC) + timedelta(days=next(_days))
    clock = ManualClock(start)
    rt = Runtime(
        settings=Settings(
            database_url=database.url,
            password_hashing="fast",
            offline_email_delay=DELAY,
            agent_device_timeout=AGENT_DEVICE_TIMEOUT,
            visitor_left_after=VISITOR_LEFT_AFTER,
        ),
        database=database,
        clock=clock,
        passwords=passwords,
    )
    plan = Plan(data["plan"])
    signed = accounts.sign_up(
        rt,
        name="Shop",
        plan=plan,
        owner=accounts.NewAgent(
            name="Owner", email=unique_email("owner"), password="steep-the-oolong-4"
        ),
    )
    owner = AgentCaller(signed.owner.id, signed.account.id, Role.OWNER, token_id=0)
    callers = [owner]
    for n in range(1, AGENTS):
        agent = agents.create_agent(
            rt,
            signed.account.id,
            accounts.NewAgent(
                name=f"Agent {n}",
                email=unique_email(),
                password="steep-the-oolong-4",
                locale=Locale.EN,
            ),
        )
        callers.append(AgentCaller(agent.id, signed.account.id, Role.AGENT, token_id=0))
    accounts.update_notification_settings(
        rt,
        owner,
        offline_message_email=data["offline_on"],
        missed_conversation_email=data["missed_on"],
    )
    group_id = None
    if plan is Plan.PRO:
        members = [c.agent_id for c, member in zip(callers, data["group"], strict=True) if member]
        group_id = groups.create_group(rt, owner, name="Sales", agent_ids=members).id
    visitors = []
    for n in range(VISITORS):
        created = widget.create_visitor(
            rt, signed.account.widget_key, name=f"Visitor {n}", email=None, page_url=None
        )
        visitors.append(VisitorCaller(created.visitor.id, signed.account.id))
    real = Real(rt, clock, start, callers, visitors, signed.account.id, group_id)
    model = m.Model(
        plan=data["plan"],
        delay=DELAY,
        agent_device_timeout=AGENT_DEVICE_TIMEOUT,
        visitor_left_after=VISITOR_LEFT_AFTER,
        visitor_seen_coalesce=rt.settings.visitor_seen_coalesce,
        offline_on=data["offline_on"],
        missed_on=data["missed_on"],
        agents=[
            m.Agent(index=n, in_group=plan is Plan.PRO and data["group"][n]) for n in range(AGENTS)
        ],
        visitors=[m.Visitor(index=n) for n in range(VISITORS)],
    )
    return real, model


def apply(real: Real, model: m.Model, action: tuple[Any, ...]) -> None:
    """One step on both sides."""
    rt = real.rt
    kind = action[0]
    if kind == "advance":
        real.clock.advance(action[1])
        model.now += action[1]
        return
    if kind == "settings":
        accounts.update_notification_settings(
            rt,
            real.callers[0],
            offline_message_email=action[1],
            missed_conversation_email=action[2],
        )
        model.offline_on, model.missed_on = action[1], action[2]
        return
    if kind == "active":
        agents.update_agent(rt, real.callers[0], real.callers[action[1]].agent_id, active=action[2])
        model.set_active(model.agents[action[1]], action[2])
        return
    if kind in ("write", "visitor_seen"):
        visitor = model.visitors[action[1]]
        caller = real.visitors[action[1]]
        if kind == "visitor_seen":
            presence.visitor_seen(rt, caller)
            model.visitor_seen(visitor)
            return
        grouped = action[2] and real.group_id is not None
        posted = visitor_messages.post_visitor_message(
            rt, caller, text="Hello?", group_id=real.group_id if grouped else None
        )
        written = model.visitor_writes(visitor, grouped=grouped)
        real.message_seqs[posted.message_id] = written.seq
        key = model.open_conversation(visitor)
        assert key is not None
        real.conversation_ids.setdefault(key.key, posted.conversation_id)
        assert real.conversation_ids[key.key] == posted.conversation_id
        return

    agent = model.agents[action[1]]
    caller = real.callers[action[1]]
    if not agent.active:
        return  # a deactivated agent can do nothing: its tokens are revoked
    if kind == "heartbeat":
        presence.heartbeat(
            rt,
            caller,
            device_key=action[2],
            kind=DeviceKind.WEB if action[2] == "web" else DeviceKind.MOBILE,
            status=DeviceStatus(action[3]),
        )
        model.heartbeat(agent, action[2], action[3])
        return
    if kind == "opt":
        field_name = f"{action[2]}_email"
        agents.update_my_notifications(rt, caller, **{field_name: action[3]})
        agent.wants[action[2]] = action[3]
        return

    visitor = model.visitors[action[2]]
    if not visitor.conversations:
        return
    conversation = visitor.conversations[-1]
    conversation_id = real.conversation_ids[conversation.key]
    if kind == "read":
        conversations.mark_read(rt, caller, conversation_id)
        model.read(agent, conversation)
        return
    operations: dict[str, tuple[Callable[[], object], Callable[..., object]]] = {
        "join": (lambda: conversations.join(rt, caller, conversation_id), model.join),
        "reply": (
            lambda: conversations.reply(rt, caller, conversation_id, text="On it"),
            model.reply,
        ),
    }
    if kind == "close":
        conversations.close(rt, caller, conversation_id)
        model.close(conversation)
        return
    run_real, run_model = operations[kind]
    refused_real = refused_model = False
    try:
        run_real()
    except Conflict:
        refused_real = True
    try:
        run_model(agent, conversation)
    except m.Refused:
        refused_model = True
    assert refused_real == refused_model, action


def decisions_of_real(real: Real) -> list[tuple[Any, ...]]:
    index_of = {caller.agent_id: n for n, caller in enumerate(real.callers)}
    key_of = {cid: key for key, cid in real.conversation_ids.items()}
    views = notifications.views_of_account(real.rt, real.account_id)
    rows = []
    for view in views:
        n = view.notification
        sent = n.state.value == "sent"
        rows.append(
            (
                key_of[n.conversation_id],
                n.kind.value,
                n.state.value,
                n.reason.value if n.reason else None,
                real.seconds(n.opened_at),
                real.seconds(n.due_at),
                real.seconds(n.decided_at),
                real.seconds(n.visitor_left_at),
                [real.message_seqs[i] for i in view.message_ids],
                [real.message_seqs[i] for i in view.listed_message_ids] if sent else [],
                sorted(index_of[d.agent_id] for d in view.deliveries if d.agent_id),
                sorted((index_of[a], reason.value) for a, reason in view.not_recipients),
            )
        )
    return sorted(rows, key=repr)


def decisions_of_model(model: m.Model) -> list[tuple[Any, ...]]:
    return sorted(
        (
            (
                n.conversation,
                n.kind,
                n.state,
                n.reason,
                n.opened_at,
                n.due_at,
                n.decided_at,
                n.visitor_left_at,
                n.messages,
                n.listed,
                sorted(n.recipients),
                sorted(n.not_recipients),
            )
            for n in model.notifications
        ),
        key=repr,
    )


def run_scenario(database: Database, passwords: PasswordHasher, data: dict[str, Any]) -> None:
    real, model = set_up(database, passwords, data)
    for action in data["steps"]:
        apply(real, model, action)
        real.settle()
        model.sweep()
        model.decide_due()
        assert decisions_of_real(real) == decisions_of_model(model), action
    # Then long enough for everything to be decided and every lease to end.
    apply(real, model, ("advance", DELAY + AGENT_DEVICE_TIMEOUT + VISITOR_LEFT_AFTER + 1))
    real.settle()
    model.sweep()
    model.decide_due()
    assert decisions_of_real(real) == decisions_of_model(model)
    assert all(n.state != "scheduled" for n in model.notifications)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=scenario)
def test_the_engine_agrees_with_the_model(
    database: Database, passwords: PasswordHasher, data: dict[str, Any]
) -> None:
    run_scenario(database, passwords, data)


@pytest.mark.parametrize(
    "steps",
    [
        # offline message, the agent back within the window, gone, a second message
        [
            ("write", 0, False),
            ("heartbeat", 1, "web", "online"),
            ("advance", 61.0),
            ("write", 0, False),
            ("advance", 121.0),
        ],
        # an agent online, the visitor writes and leaves unanswered: missed
        [("heartbeat", 0, "mobile", "online"), ("write", 1, True), ("advance", 31.0)],
        # batching, a read in between, a join before the due time
        [("write", 0, False), ("write", 0, False), ("read", 2, 0), ("write", 0, False)],
        [("write", 0, False), ("join", 1, 0), ("advance", 121.0)],
    ],
)
@pytest.mark.parametrize("plan", ["free", "standard", "pro"])
def test_known_sequences_agree_with_the_model(
    database: Database, passwords: PasswordHasher, steps: list[tuple[Any, ...]], plan: str
) -> None:
    run_scenario(
        database,
        passwords,
        {
            "plan": plan,
            "offline_on": True,
            "missed_on": True,
            "group": [False, True, True],
            "steps": steps,
        },
    )
