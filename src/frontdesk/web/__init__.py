"""The web UI: the agents' dashboard, the embeddable chat widget and the demo shop page.

Plain HTML, CSS and JavaScript served by the app, with no build step: the dashboard is one
page (``/app``) that talks to the HTTP API and the agent WebSocket like any other client;
the widget is one script (``/widget.js``) that a website includes with its widget key and
that draws itself in a shadow root, so the host page's styles and scripts cannot reach it.
Design: docs/web.md.
"""
