"""SQL assertions (``CREATE ASSERTION``) for PostgreSQL and SQLite; see :mod:`.api`.

The app's manifest is :mod:`.manifest`; this package imports nothing on its own.
"""
