"""What the HTTP routes announce live, after their transaction has committed.

Frames go to the agents of the account (``agents:<account>``) and, for agent replies, to the
visitor (``visitor:<id>``). Conversation payloads are the API's own schemas, so a dashboard
handles a frame exactly like the answer of ``GET /conversations``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from frontdesk.api.schemas import MessageOut, VisitorOut
from frontdesk.realtime.hub import Hub, agents_topic, visitor_topic
from frontdesk.realtime.keeper import PresenceKeeper
from frontdesk.store.models import Conversation, Message


class Live:
    def __init__(self, hub: Hub, keeper: PresenceKeeper) -> None:
        self.hub = hub
        self.keeper = keeper

    def agents_listen(self, account_id: int) -> bool:
        """Whether a frame to the account's agents may reach anybody (always, when other
        processes may have dashboards open): frames are not built for nobody."""
        return self.hub.listened(agents_topic(account_id))

    def conversation_created(self, conversation: Conversation) -> None:
        self._to_agents(conversation, "conversation.created")

    def conversation_updated(self, conversation: Conversation) -> None:
        self._to_agents(conversation, "conversation.updated")

    def messages_created(self, conversation: Conversation, messages: list[Message]) -> None:
        for message in messages:
            self.message_created(conversation, message)

    def message_created(self, conversation: Conversation, message: Message) -> None:
        frame = {
            "type": "message.created",
            "message": MessageOut.model_validate(message).model_dump(mode="json"),
        }
        self.hub.publish(agents_topic(conversation.account_id), frame)
        if message.author != "visitor":
            self.hub.publish(visitor_topic(conversation.visitor_id), frame)

    def conversation_read(
        self, conversation_id: int, account_id: int, agent_id: int, up_to: int | None
    ) -> None:
        self.hub.publish(
            agents_topic(account_id),
            {
                "type": "conversation.read",
                "conversation_id": conversation_id,
                "agent_id": agent_id,
                "last_read_message_id": up_to,
            },
        )

    def agent_deactivated(self, account_id: int, agent_id: int) -> None:
        """Dashboards drop the agent; the agent's own sockets close (sockets.py)."""
        self.hub.publish(
            agents_topic(account_id), {"type": "agent.deactivated", "agent_id": agent_id}
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
