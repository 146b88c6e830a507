"""Live delivery: the event hub that fans frames out to sockets, the WebSocket sessions of
agent devices and visitors, and the background tasks that keep presence true (socket lease
renewal and the presence sweep). Design notes: docs/presence.md."""
