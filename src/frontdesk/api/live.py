"""What the live side announces: the committed domain events (frontdesk.service.events) as
frames to the hub.

Frames go to the agents of the account (``agents:<account>``) and, for agent replies, to the
visitor (``visitor:<id>``). Conversation payloads are the API's own schemas, so a dashboard
handles a frame exactly like the answer of ``GET /conversations``. Routes announce nothing
themselves: each service operation records what it changed, and ``Live.listen`` turns it
into frames once the transaction has committed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from frontdesk.api.schemas.conversations import MessageOut, VisitorOut
from frontdesk.realtime.hub import Hub, agents_topic, visitor_topic
from frontdesk.realtime.keeper import PresenceKeeper
from frontdesk.service import events
from frontdesk.service.visitor_messages import Posted
from frontdesk.store.models import Conversation, Message

# The hub frame that ends sockets of revoked tokens; sockets act on it and pass it on to
# no client.
SESSIONS_ENDED = "sessions.ended"


def sessions_ended_by(frame: dict[str, Any]) -> events.SessionsEnded | None:
    if frame.get("type") != SESSIONS_ENDED:
        return None
    return events.SessionsEnded(
        account_id=frame["account_id"],
        agent_id=frame["agent_id"],
        token_ids=tuple(frame["token_ids"]),
        every_token=frame["every_token"],
        all_but=frame["all_but"],
    )


class Live:
    def __init__(self, hub: Hub, keeper: PresenceKeeper) -> None:
        self.hub = hub
        self.keeper = keeper

    def listen(self, dispatcher: events.Dispatcher) -> None:
        """Announce every committed event from now on (for the runtime's life)."""
        dispatcher.subscribe(events.PresenceChanged, lambda e: self.keeper.announce(e.events))
        dispatcher.subscribe(events.VisitorMessagePosted, lambda e: self.posted(e.posted))
        dispatcher.subscribe(events.ConversationChanged, self.conversation_changed)
        dispatcher.subscribe(events.ConversationRead, self.conversation_read)
        dispatcher.subscribe(events.AgentDeactivated, self.agent_deactivated)
        dispatcher.subscribe(events.SessionsEnded, self.sessions_ended)
        dispatcher.subscribe(events.AlertsChanged, self.alerts_changed)

    def agents_listen(self, account_id: int) -> bool:
        """Whether a frame to the account's agents may reach anybody (always, when other
        processes may have dashboards open): frames are not built for nobody."""
        return self.hub.listened(agents_topic(account_id))

    def posted(self, posted: Posted) -> None:
        """A stored visitor message, to the account's dashboards: nothing is built while
        none listens. (Its visitor's arrival is a ``PresenceChanged`` of its own.)"""
        if not self.agents_listen(posted.account_id):
            return
        conversation, message = posted.copies()
        if posted.opened_conversation:
            self._to_agents(conversation, "conversation.created")
        self.message_created(conversation, message)

    def conversation_changed(self, changed: events.ConversationChanged) -> None:
        for message in changed.messages:
            self.message_created(changed.conversation, message)
        self._to_agents(changed.conversation, "conversation.updated")

    def message_created(self, conversation: Conversation, message: Message) -> None:
        frame = {
            "type": "message.created",
            "message": MessageOut.model_validate(message).model_dump(mode="json"),
        }
        self.hub.publish(agents_topic(conversation.account_id), frame)
        if message.author != "visitor":
            self.hub.publish(visitor_topic(conversation.visitor_id), frame)

    def conversation_read(self, read: events.ConversationRead) -> None:
        self.hub.publish(
            agents_topic(read.account_id),
            {
                "type": "conversation.read",
                "conversation_id": read.conversation_id,
                "agent_id": read.agent_id,
                "last_read_message_id": read.up_to,
            },
        )

    def agent_deactivated(self, deactivated: events.AgentDeactivated) -> None:
        """Dashboards drop the agent; the agent's own sockets close (sockets.py)."""
        self.hub.publish(
            agents_topic(deactivated.account_id),
            {"type": "agent.deactivated", "agent_id": deactivated.agent_id},
        )

    def alerts_changed(self, changed: events.AlertsChanged) -> None:
        """Owners' and admins' dashboards read the alerts again for their banner (the frame
        says nothing of what they are: every agent of the account hears it)."""
        self.hub.publish(agents_topic(changed.account_id), {"type": "alerts.changed"})

    def sessions_ended(self, ended: events.SessionsEnded) -> None:
        """To the account's sockets in every process; the ones of the tokens that ended
        close, and no dashboard is sent the frame (sockets.py)."""
        self.hub.publish(
            agents_topic(ended.account_id),
            {
                "type": SESSIONS_ENDED,
                "account_id": ended.account_id,
                "agent_id": ended.agent_id,
                "token_ids": list(ended.token_ids),
                "every_token": ended.every_token,
                "all_but": ended.all_but,
            },
        )

    def _to_agents(self, conversation: Conversation, kind: str) -> None:
        self.hub.publish(
            agents_topic(conversation.account_id),
            {"type": kind, "conversation": conversation_payload(conversation)},
        )


def conversation_payload(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "status": conversation.status.value,
        "group_id": conversation.group_id,
        "assignee_id": conversation.assignee_id,
        "visitor": VisitorOut.model_validate(conversation.visitor).model_dump(mode="json"),
        "created_at": conversation.created_at.isoformat(),
        "last_message_at": conversation.last_message_at.isoformat(),
        "closed_at": conversation.closed_at.isoformat() if conversation.closed_at else None,
    }


async def get_live(request: Request) -> Live:
    live: Live = request.app.state.live
    return live


LiveDep = Annotated[Live, Depends(get_live)]
