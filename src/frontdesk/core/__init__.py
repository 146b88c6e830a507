"""The pure rules of Frontdesk: facts and a clock in, decisions out.

Nothing here does I/O or imports another part of Frontdesk (import-linter checks it), so
every rule can be tested on its own and reused by the store, the engine and the API alike.
"""
