"""Leases over kv compare-and-set: one holder, expiry and takeover, fencing tokens."""

from __future__ import annotations

import threading

import pytest

from skybridge.backends import kv as kv_family
from skybridge.core.clock import ManualClock
from skybridge.core.errors import ConfigError, Conflict
from skybridge.runtime import LeaseManager


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1000.0)


@pytest.fixture
def leases(kv, clock) -> LeaseManager:
    return LeaseManager(kv, clock=clock)


def test_one_holder_at_a_time(leases) -> None:
    first = leases.acquire("db-migration", "alice", ttl=10)
    assert first is not None
    assert leases.acquire("db-migration", "bob", ttl=10) is None
    assert leases.holder("db-migration").owner == "alice"
    assert leases.acquire("other", "bob", ttl=10) is not None


def test_expiry_lets_another_take_over_with_a_larger_token(leases, clock) -> None:
    old = leases.acquire("job", "alice", ttl=10)
    clock.advance(10)
    assert leases.holder("job") is None
    new = leases.acquire("job", "bob", ttl=10)
    assert new is not None
    assert new.token > old.token
    # the paused old holder finds out: it can neither renew nor pass a fencing check
    assert not leases.is_current(old)
    with pytest.raises(Conflict, match="lost"):
        leases.renew(old, ttl=10)
    assert leases.release(old) is False
    assert leases.holder("job").owner == "bob"


def test_a_live_lease_is_taken_over_only_when_judged_done(leases) -> None:
    old = leases.acquire("job", "alice", ttl=10)
    judged: list[str] = []

    def alive(holder) -> bool:
        judged.append(holder.owner)
        return False

    assert leases.acquire("job", "bob", ttl=10, take_over=alive) is None
    assert judged == ["alice"]
    new = leases.acquire("job", "bob", ttl=10, take_over=lambda holder: True)
    assert new is not None
    assert new.token > old.token
    assert leases.holder("job").owner == "bob"
    assert leases.release(old) is False  # the old holder's lease is gone
    assert leases.acquire("job", "carol", ttl=10, take_over=lambda holder: False) is None


def test_renew_keeps_token_and_extends(leases, clock) -> None:
    lease = leases.acquire("job", "alice", ttl=10)
    clock.advance(8)
    renewed = leases.renew(lease, ttl=10)
    assert renewed.token == lease.token
    assert renewed.expires_at == clock.now() + 10
    clock.advance(8)  # past the first expiry, within the renewed one
    assert leases.acquire("job", "bob", ttl=10) is None
    again = leases.acquire("job", "alice", ttl=10)  # re-acquire by the holder = renew
    assert again.token == lease.token


def test_tokens_increase_across_release_and_reacquire(leases, clock) -> None:
    tokens = []
    for owner in ["a", "b", "a", "c"]:
        lease = leases.acquire("name", owner, ttl=5)
        leases.renew(lease, ttl=5)
        tokens.append(lease.token)
        assert leases.release(leases.holder("name"))
    assert tokens == sorted(tokens)
    assert len(set(tokens)) == len(tokens)


def test_stale_lease_object_cannot_renew_after_release(leases) -> None:
    lease = leases.acquire("name", "a", ttl=5)
    assert leases.release(lease)
    with pytest.raises(Conflict):
        leases.renew(lease, ttl=5)


def test_ttl_must_be_positive(leases) -> None:
    with pytest.raises(ConfigError, match="ttl"):
        leases.acquire("x", "a", ttl=0)


def test_contending_threads_exactly_one_wins(kv_url) -> None:
    winners: list[str] = []
    failures: list[BaseException] = []
    barrier = threading.Barrier(8, timeout=60)  # a thread that fails breaks it for the rest

    def contend(owner: str) -> None:
        try:
            store = kv_family.connect(kv_url)
            try:
                manager = LeaseManager(store, clock=ManualClock(1000.0))
                barrier.wait()
                if manager.acquire("leader", owner, ttl=60) is not None:
                    winners.append(owner)
            finally:
                store.close()
        except BaseException as exc:
            failures.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=contend, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not [f for f in failures if not isinstance(f, threading.BrokenBarrierError)], failures
    assert len(winners) == 1


@pytest.mark.redis
def test_leases_on_redis(redis_server) -> None:
    store = kv_family.connect(redis_server.url, namespace="leases-test")
    try:
        clock = ManualClock(5000.0)
        manager = LeaseManager(store, prefix=f"t{id(store)}/", clock=clock)
        first = manager.acquire("x", "a", ttl=5)
        assert manager.acquire("x", "b", ttl=5) is None
        clock.advance(5)
        second = manager.acquire("x", "b", ttl=5)
        assert second.token > first.token
        assert not manager.is_current(first)
    finally:
        store.close()
