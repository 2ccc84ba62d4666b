"""The embedded SQLite log (``sqlite://path``)."""

from skybridge.backends.streams.sqlite.consumer import SqliteConsumer
from skybridge.backends.streams.sqlite.log import SqliteStream

__all__ = ["SqliteConsumer", "SqliteStream"]
