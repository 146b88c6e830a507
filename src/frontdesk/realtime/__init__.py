"""Live delivery: the event hub that fans frames out to sockets (in one process or through
Redis), the options uvicorn carries the WebSockets with, and the background tasks that keep
presence true (socket lease renewal and the presence sweep). The sessions themselves are in
``frontdesk.api.routes.sockets``. Design notes: docs/presence.md."""
