"""Request and response bodies of the HTTP API, laid out like ``api/routes/``: the models a
route module uses are in the module of the same name here (``schemas/conversations.py`` for
``routes/conversations.py``), and ``schemas/common.py`` holds what several share: the request,
PATCH and response bases, field types with the product's input limits, and the error body.

A body one route module owns and others reuse stays with its owner and is imported from
there (the widget shows ``MessageOut`` from ``schemas/conversations.py``). Route modules
without bodies of their own (``mailbox``, ``sockets``, ``unsubscribe``) have no module here.
"""
