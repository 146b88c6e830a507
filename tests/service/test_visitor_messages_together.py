"""Visitor messages written together (``record_visitor_messages``, what a group commit runs)
store and answer exactly what the same messages store and answer one by one.

Two copies of one scenario are built side by side on a manual clock, covering each way a
message can go: a new visitor arriving, a lease reaching far enough, a lease to renew, a
lapsed lease nobody recorded, a conversation with an open notification, an account with an
agent online, an account with the offline e-mail off, a group asked for, a group
conversation on PRO, a visitor's second message of the moment, an unknown token, a token
this process has not proven yet. At one moment both get the same messages: one copy
through ``record_visitor_messages``, the other through ``one`` per message, each in one
transaction. What each copy then holds, read relative to its own visitors, is the same,
and so are the answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.clock import ManualClock
from frontdesk.core.model import DeviceStatus, Plan
from frontdesk.core.presence import PresenceChange
from frontdesk.security import token_digest
from frontdesk.service import accounts, groups, presence, visitor_messages, widget
from frontdesk.service.accounts import NewAgent
from frontdesk.service.runtime import Runtime, VisitorCaller
from frontdesk.service.visitor_messages import Posted, Replayed
from frontdesk.service.visitor_messages_together import (
    VISITOR_MESSAGES,
    _ToPost,
    record_visitor_messages,
)
from frontdesk.store.models import (
    Conversation,
    Message,
    Notification,
    NotificationMessage,
    PresenceChangeRow,
    Visitor,
)
from tests.support import unique_email

PLAIN = ("new", "twice", "unproven", "fresh", "renew", "lapsed")


@dataclass
class Copy:
    rt: Runtime
    tokens: dict[str, tuple[str, str]] = field(default_factory=dict)  # label: (key, token)
    visitors: dict[str, VisitorCaller] = field(default_factory=dict)
    group_id: int = 0
    staffed_owner: Any = None

    def sign_up(self, plan: Plan) -> accounts.SignedUp:
        return accounts.sign_up(
            self.rt,
            name="Shop",
            plan=plan,
            owner=NewAgent(name="Olga", email=unique_email("owner"), password="steep-the-oolong-4"),
        )

    def build(self) -> None:
        plain, staffed, quiet, pro = (
            self.sign_up(Plan.STANDARD),
            self.sign_up(Plan.STANDARD),
            self.sign_up(Plan.STANDARD),
            self.sign_up(Plan.PRO),
        )
        accounts.update_notification_settings(
            self.rt, accounts.authenticate_agent(self.rt, quiet.token), offline_message_email=False
        )
        pro_owner = accounts.authenticate_agent(self.rt, pro.token)
        self.group_id = groups.create_group(
            self.rt, pro_owner, name="Sales", agent_ids=[pro_owner.agent_id]
        ).id
        self.staffed_owner = accounts.authenticate_agent(self.rt, staffed.token)
        for label in PLAIN:
            self.visitor(label, plain, proven=label != "unproven")
        self.visitor("staffed", staffed)
        self.visitor("quiet", quiet)
        self.visitor("grouped", pro)
        self.visitor("in group", pro)

    def visitor(self, label: str, signed: accounts.SignedUp, *, proven: bool = True) -> None:
        key = signed.account.widget_key
        made = widget.create_visitor(self.rt, key, name=label, email=None, page_url="/shop")
        self.tokens[label] = (key, made.token)
        if proven:
            self.visitors[label] = widget.authenticate_visitor(self.rt, key, made.token)

    def say(self, label: str, text: str, group_id: int | None = None) -> None:
        visitor_messages.post_visitor_message(
            self.rt, self.visitors[label], text=text, group_id=group_id
        )

    def items(self) -> list[_ToPost]:
        def by_caller(label: str, text: str, group_id: int | None = None) -> _ToPost:
            return _ToPost(rt=self.rt, text=text, group_id=group_id, caller=self.visitors[label])

        def by_token(key: str, token: str, text: str) -> _ToPost:
            return _ToPost(
                rt=self.rt, text=text, group_id=None, widget_key=key, digest=token_digest(token)
            )

        return [
            by_caller("new", "hello"),
            by_caller("twice", "one"),
            by_caller("fresh", "still here"),
            by_caller("renew", "renew me"),
            by_caller("lapsed", "are you there"),
            by_caller("staffed", "hi staff"),
            by_caller("quiet", "nobody mails"),
            by_caller("grouped", "to sales", self.group_id),
            by_caller("in group", "more for sales"),
            by_caller("twice", "two"),
            by_token(*self.tokens["unproven"], "by token"),
            by_token(self.tokens["new"][0], "fdv_nobody", "who"),
        ]

    def labels(self) -> dict[int, str]:
        with self.rt.database.read() as session:
            names = dict(
                session.execute(
                    select(Visitor.id, Visitor.name).where(
                        Visitor.token_hash.in_([token_digest(t) for _, t in self.tokens.values()])
                    )
                ).all()
            )
        return {visitor_id: str(name) for visitor_id, name in names.items()}

    def state(self) -> dict[str, Any]:
        """What the copy holds, per visitor label, without ids; and the ids' ranks."""
        labels = self.labels()
        held: dict[str, Any] = {}
        with self.rt.database.read() as session:
            for visitor in session.scalars(select(Visitor).where(Visitor.id.in_(list(labels)))):
                conversations = session.scalars(
                    select(Conversation)
                    .where(Conversation.visitor_id == visitor.id)
                    .order_by(Conversation.id)
                ).all()
                held[labels[visitor.id]] = {
                    "lease": (visitor.present, visitor.present_until),
                    "conversations": [self._conversation(session, c) for c in conversations],
                    "presence": session.execute(
                        select(PresenceChangeRow.change, PresenceChangeRow.at)
                        .where(PresenceChangeRow.visitor_id == visitor.id)
                        .order_by(PresenceChangeRow.id)
                    ).all(),
                }
        return held

    def _conversation(self, session: Session, conversation: Conversation) -> dict[str, Any]:
        texts = dict(
            session.execute(
                select(Message.id, Message.text).where(Message.conversation_id == conversation.id)
            ).all()
        )
        notified = []
        for n in session.scalars(
            select(Notification)
            .where(Notification.conversation_id == conversation.id)
            .order_by(Notification.id)
        ):
            listed = session.scalars(
                select(NotificationMessage.message_id)
                .where(NotificationMessage.notification_id == n.id)
                .order_by(NotificationMessage.message_id)
            ).all()
            notified.append(
                (n.kind, n.state, n.reason, n.opened_at, n.due_at, [texts[m] for m in listed])
            )
        return {
            "status": conversation.status,
            "in a group": conversation.group_id is not None,
            "times": (conversation.created_at, conversation.last_message_at),
            "messages": [texts[m] for m in sorted(texts)],
            "notifications": notified,
        }

    def answers(self, posted: list[Posted | Replayed | None]) -> list[Any]:
        labels = self.labels()
        with self.rt.database.read() as session:
            rank = {
                conversation_id: (labels[visitor_id], n)
                for visitor_id in labels
                for n, conversation_id in enumerate(
                    session.scalars(
                        select(Conversation.id)
                        .where(Conversation.visitor_id == visitor_id)
                        .order_by(Conversation.id)
                    )
                )
            }
            text = dict(session.execute(select(Message.id, Message.text)).all())
        assert not any(isinstance(p, Replayed) for p in posted)  # no Idempotency-Keys here
        return [
            None
            if p is None or isinstance(p, Replayed)
            else (
                rank[p.conversation_id],
                text[p.message_id],
                p.opened_conversation,
                [
                    (e.change, e.at, [rank[c] for c in e.conversation_ids])
                    for e in p.presence_events
                ],
                p.copies()[0].status,
            )
            for p in posted
        ]


def test_messages_written_together_store_and_answer_what_they_would_alone(
    runtime: Runtime, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    together, alone = Copy(runtime), Copy(runtime)
    both = (together, alone)
    for copy in both:
        copy.build()
        for label in ("fresh", "renew", "lapsed"):
            copy.say(label, "earlier")  # arrived: leases to visitor_left_after (30 s)
        copy.say("in group", "earlier", copy.group_id)
    clock.advance(20)
    for copy in both:
        copy.say("fresh", "again")  # leases renewed to 50.5 s
        copy.say("renew", "again")
    clock.advance(15)  # 35 s: "lapsed" ran out at 30 s, and nobody recorded it yet
    for copy in both:
        copy.say("fresh", "and again")  # renewed to 65.5 s: far enough for a moment
        presence.set_status(
            runtime, copy.staffed_owner, status=DeviceStatus.ONLINE, device_key="laptop"
        )
    clock.advance(0.2)  # "renew" (50.5 s) needs renewing; "fresh" (65.5 s) does not

    went_alone: list[str] = []
    one = VISITOR_MESSAGES.one

    def counted(session: Session, item: _ToPost) -> Posted | Replayed | None:
        went_alone.append(item.text)
        return one(session, item)

    monkeypatch.setattr(VISITOR_MESSAGES, "one", counted)
    with runtime.database.write() as session:
        posted_together = record_visitor_messages(session, together.items())
    monkeypatch.undo()
    # The plain ones went together; the rest each alone, as the docstring lists them.
    assert sorted(went_alone) == sorted(
        ["are you there", "nobody mails", "to sales", "more for sales", "two"]
    )
    with runtime.database.write() as session:
        posted_alone = [VISITOR_MESSAGES.one(session, item) for item in alone.items()]

    assert together.state() == alone.state()
    assert together.answers(posted_together) == alone.answers(posted_alone)
    # The scenario meets what it says it does.
    held, now = alone.state(), clock.now()
    assert held["fresh"]["lease"] == (True, now + timedelta(seconds=30.3))  # kept
    assert held["renew"]["lease"] == (True, now + timedelta(seconds=30.5))  # renewed
    assert [change for change, _ in held["lapsed"]["presence"]] == [
        PresenceChange.VISITOR_ARRIVED,
        PresenceChange.VISITOR_LEFT,
        PresenceChange.VISITOR_ARRIVED,
    ]
    assert [len(c["notifications"]) for c in held["quiet"]["conversations"]] == [1]
    assert [len(c["notifications"]) for c in held["staffed"]["conversations"]] == [0]
    assert held["twice"]["conversations"][0]["messages"] == ["one", "two"]
    assert posted_alone[-1] is None  # the unknown token
    assert posted_alone[-2] is not None  # the token proven with its message
