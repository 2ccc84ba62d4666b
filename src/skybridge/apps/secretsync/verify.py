"""Which targets a reconcile reads, and why: a change feed instead of one read per target.

Without a change feed every target is read (one OCI bundle each). When the target store has
the ``change_feed`` capability (``oci-vault://``, from OCI Audit), a reconcile reads a target
only when:

* **source changed**: the source's current version is not the one the state records;
* **state**: the mapping has no state, its last verdict was not ``in-sync``, or its settings
  (owner, source, target, transform) changed since it was last verified;
* **changed in audit**: the feed names the target since the last verified time minus
  ``overlap`` (Audit lists events late, usually within 15 minutes), unless the latest such
  change is our own last write (our principal, at ``synced_at`` give or take ``clock_skew``)
  or older than it. So a change made with skybridge's own credentials within ``clock_skew``
  of its write is taken for that write: the full sweep is what catches it;
* **full sweep**: every ``full_interval`` (and on ``reconcile(full=True)``), and whenever the
  feed cannot be read: verification is never skipped because of an error.

The watermark (last verified time, last full sweep) is kept per target backend in the kv
store at ``secretsync/reconcile/<backend>`` and advances only after a reconcile (not a dry
run) that covered every mapping of that backend.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from skybridge.apps.secretsync.config import DEFAULT_FULL_INTERVAL, DEFAULT_OVERLAP
from skybridge.backends.secrets import ChangeFeed, SecretChange, SecretStore
from skybridge.core.errors import SkybridgeError
from skybridge.core.retry import RetryPolicy, call_with_retry

if TYPE_CHECKING:
    from skybridge.apps.secretsync.model import SecretMapping
    from skybridge.apps.secretsync.state import MappingState, StateStore
    from skybridge.backends.secrets import SecretInfo

WATERMARK = "secretsync/reconcile/"


@dataclass(frozen=True)
class VerifyPolicy:
    """How a reconcile uses a target's change feed (seconds).

    Attributes:
        overlap: re-read the feed this far before the last verified time (late events).
        full_interval: read every target at least this often.
        clock_skew: tolerance between our clock and the service's when attributing changes.
        use_change_feed: ``False`` reads every target on every reconcile.
    """

    overlap: float = DEFAULT_OVERLAP
    full_interval: float = DEFAULT_FULL_INTERVAL
    clock_skew: float = 120.0
    use_change_feed: bool = True


@dataclass(frozen=True)
class TargetChecks:
    """For one target backend: read everything (``read_all`` says why) or consult ``feed``."""

    backend: str
    started: float
    read_all: str | None = None
    feed: ChangeFeed | None = None
    principal_id: str | None = None
    full: bool = False

    @property
    def uses_feed(self) -> bool:
        return self.read_all is None and self.feed is not None


def settings_key(owner: str, mapping: SecretMapping) -> str:
    """A fingerprint of what a verification depends on besides the target itself."""
    parts = (owner, str(mapping.source), str(mapping.target), mapping.transform_fingerprint())
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TargetVerifier:
    """Plans target reads from the state, the sources and the change feeds."""

    def __init__(self, state: StateStore, policy: VerifyPolicy, retry: RetryPolicy) -> None:
        self.state, self.policy, self.retry = state, policy, retry

    def checks(self, backend: str, store: SecretStore, *, full: bool) -> TargetChecks:
        """What to read on ``backend`` now (one change-feed query at most)."""
        now = self.state.clock.now()
        if not (self.policy.use_change_feed and store.supports("change_feed")):
            return TargetChecks(backend, now, read_all="the target store has no change feed")
        mark = self.watermark(backend)
        full_at, verified_at = mark.get("full_at"), mark.get("verified_at")
        if full:
            return TargetChecks(backend, now, read_all="full sweep (asked for)", full=True)
        if full_at is None or verified_at is None:
            return TargetChecks(backend, now, read_all="full sweep (no earlier one)", full=True)
        if now - full_at >= self.policy.full_interval:
            why = f"full sweep (last one at {_iso(full_at)})"
            return TargetChecks(backend, now, read_all=why, full=True)
        since = datetime.fromtimestamp(verified_at - self.policy.overlap, UTC)
        until = datetime.fromtimestamp(now, UTC)
        try:
            feed = call_with_retry(
                partial(store.changed_since, since, until),
                self.retry,
                operation="secretsync.change_feed",
            )
        except SkybridgeError as exc:
            why = f"change feed unavailable ({exc.message[:200]}); reading every target"
            return TargetChecks(backend, now, read_all=why, full=True)
        return TargetChecks(backend, now, feed=feed, principal_id=store.principal_id)

    def why_read(
        self,
        owner: str,
        mapping: SecretMapping,
        checks: TargetChecks,
        known: dict[str, SecretInfo | None],
        state: MappingState | None,
    ) -> str | None:
        """Why the target must be read; ``None`` when the feed and ``state`` (the mapping's
        recorded state) vouch for it."""
        if not checks.uses_feed or checks.feed is None:
            return checks.read_all or "no change feed"
        if state is None:
            return "no recorded state"
        if state.drift != "in-sync":
            return f"last verdict was {state.drift}"
        if state.verified_spec != settings_key(owner, mapping):
            return "mapping settings changed since the last check"
        if mapping.name not in known:
            return "source was not described in bulk"
        info = known[mapping.name]
        if info is None or info.pending_deletion:
            return "source deleted"
        if info.current_version_id != state.source_version:
            return "source changed"
        change = self._unexplained(checks, mapping.target.secret, state)
        if change is not None:
            who = change.principal_id or "unknown principal"
            return (
                f"changed in audit ({change.operation} by {who} at {_iso(change.time.timestamp())})"
            )
        return None

    def _unexplained(
        self, checks: TargetChecks, secret: str, state: MappingState
    ) -> SecretChange | None:
        """The latest change to ``secret``, unless our own last write explains it.

        Only the latest change matters: when it is our write (our principal, at our recorded
        ``synced_at`` give or take the clock skew) or older than that write, the target holds
        what the state records, whatever happened before.
        """
        assert checks.feed is not None
        changes = checks.feed.about(secret)
        if not changes:
            return None
        latest, synced = changes[-1], state.synced_at
        if synced is None:
            return latest
        at, skew = latest.time.timestamp(), self.policy.clock_skew
        if at < synced - skew:
            return None  # our later write superseded it
        own = checks.principal_id is not None and latest.principal_id == checks.principal_id
        return None if own and at <= synced + skew else latest

    def not_read(self, checks: TargetChecks) -> str:
        assert checks.feed is not None
        since = _iso(checks.feed.since.timestamp())
        return f"not read: no unexplained change in the change feed since {since}"

    # -- watermark ---------------------------------------------------------------------------
    def watermark(self, backend: str) -> dict[str, Any]:
        data = self.state.kv.get_json(WATERMARK + backend)
        return data if isinstance(data, dict) else {}

    def advance(self, checks: TargetChecks) -> None:
        """Record that every target of ``checks.backend`` was verified as of ``started``."""
        if checks.read_all is not None and not checks.full:
            return  # no change feed: nothing to remember
        mark = self.watermark(checks.backend)
        mark["verified_at"] = checks.started
        if checks.full:
            mark["full_at"] = checks.started
        self.state.kv.put_json(WATERMARK + checks.backend, mark)
