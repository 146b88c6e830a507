"""Web Push: a message to an agent's browser or phone through its push service (RFC 8030),
encrypted for that subscription (RFC 8291) and signed with this installation's VAPID key
(RFC 8292). Nothing here touches the database: the services keep the subscriptions and the
key, the engine decides who is pushed and records what the push service answered
(docs/push.md)."""
