"""Frontdesk: a self-hosted live-chat server whose notification engine makes sure no visitor
message goes unnoticed.

The package is layered; each layer imports only the ones below it (checked by import-linter):

- ``core``     pure rules of the product (presence, scopes, folders, permissions): facts and a
               clock in, decisions out; no I/O.
- ``store``    SQLAlchemy models, the database engine and the Alembic migrations.
- ``service``  the product's operations (sign up, send a message, join, ...) as transactions
               over the store, applying the core rules.
- ``api``      the HTTP surface (FastAPI) over the services.
- ``cli``      the ``frontdesk`` command.

``settings``, ``clock``, ``errors`` and ``security`` are small shared modules beside them.
"""

__version__ = "0.1.0"
