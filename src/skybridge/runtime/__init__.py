"""Backend-independent building blocks of the stream runtime.

* :mod:`.windows` / :mod:`.watermarks` / :mod:`.window_state`: event-time windows (tumbling,
  sliding, session) with grace, late policies and idle close, state in memory or a kv store.
* :mod:`.leases`: named leases with fencing tokens over any kv store's compare-and-set.
* :mod:`.scheduler`: interval and cron jobs, each tick run by one worker, missed-run policies.
"""

from skybridge.runtime.cron import CronSchedule, parse_cron
from skybridge.runtime.leases import Lease, LeaseManager
from skybridge.runtime.scheduler import JobRun, JobState, MissedRunPolicy, Scheduler
from skybridge.runtime.watermarks import WatermarkTracker
from skybridge.runtime.window_state import (
    KVWindowStore,
    MemoryWindowStore,
    StoredWindow,
    WindowStore,
)
from skybridge.runtime.windows import (
    Aggregator,
    Emitted,
    LateEvent,
    LatePolicy,
    Session,
    Sliding,
    Window,
    WindowedAggregation,
    WindowResult,
    collecting,
    counter,
    session,
    sliding,
    summing,
    tumbling,
)

__all__ = [
    "Aggregator",
    "CronSchedule",
    "Emitted",
    "JobRun",
    "JobState",
    "KVWindowStore",
    "LateEvent",
    "LatePolicy",
    "Lease",
    "LeaseManager",
    "MemoryWindowStore",
    "MissedRunPolicy",
    "Scheduler",
    "Session",
    "Sliding",
    "StoredWindow",
    "WatermarkTracker",
    "Window",
    "WindowResult",
    "WindowStore",
    "WindowedAggregation",
    "collecting",
    "counter",
    "parse_cron",
    "session",
    "sliding",
    "summing",
    "tumbling",
]
