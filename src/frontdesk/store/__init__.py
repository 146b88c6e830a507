"""Persistence: SQLAlchemy models, the database engine and the Alembic migrations.

SQLite is the embedded default; PostgreSQL is the scale-out database. Both run the same
models, the same migrations and the same test suite.
"""
