"""A mapping's lease names its holder: one left by a process killed on this host is taken over
at once, a live holder (or one on another host) still blocks, and the refusal says until when."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybridge.apps.secretsync.state import LOCK_TTL_S, StateStore
from skybridge.backends import kv
from skybridge.backends.kv import KeyValueStore
from skybridge.core.errors import TransientError
from skybridge.core.secret import Secret
from skybridge.runtime.holders import holder_gone, this_process

LOCK_KEY = "secretsync/lock/m"

# Takes mapping m's lease in the kv database argv[1], says so, and holds it until killed.
_HOLDER = textwrap.dedent(
    """
    import sys, time
    from skybridge.apps.secretsync.state import StateStore
    from skybridge.backends import kv
    store = StateStore(kv.connect("sqlite:///" + sys.argv[1], setting=None))
    with store.lock("m"):
        print("held", flush=True)
        time.sleep(120)
    """
)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "kv.db"


@pytest.fixture
def state(db: Path) -> Iterator[StateStore]:
    store = kv.connect(f"sqlite:///{db}", setting=None)
    yield StateStore(store, lock_wait=0.0)
    store.close()


@pytest.fixture
def holder(db: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding mapping m's lease (killed at the end if still running)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(db)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    proc.stdout.close()


def _plant(store: KeyValueStore, holder: str) -> None:
    record = json.dumps({"holder": holder, "token": uuid.uuid4().hex}).encode()
    store.compare_and_set(LOCK_KEY, record, 0, ttl=LOCK_TTL_S)


def _no_such_pid() -> int:
    pid = 4_000_000
    while os.path.exists(f"/proc/{pid}"):
        pid += 1
    return pid


def test_a_lease_left_by_a_killed_process_is_taken_over_at_once(
    state: StateStore, holder: subprocess.Popen[str]
) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    started = time.monotonic()
    with state.lock("m"):
        assert this_process() in state.kv.get(LOCK_KEY).decode()  # type: ignore[union-attr]
    assert time.monotonic() - started < 5  # not after the lease's 60 s
    assert state.kv.get(LOCK_KEY) is None  # given back


def test_a_lease_of_a_killed_but_unreaped_process_is_taken_over(
    state: StateStore, holder: subprocess.Popen[str]
) -> None:
    holder.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _state_letter(holder.pid) != "Z" and time.monotonic() < deadline:
        time.sleep(0.01)  # a zombie: killed, its parent (this test) has not waited for it yet
    with state.lock("m"):
        pass


def _state_letter(pid: int) -> str:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2]


def test_a_lease_naming_a_pid_that_does_not_exist_is_taken_over(state: StateStore) -> None:
    host_ns, _, rest = this_process().rpartition(":")
    where = host_ns.rpartition(":")[0]
    _plant(state.kv, f"{where}:{_no_such_pid()}:{rest}")
    with state.lock("m"):
        pass


def test_a_lease_of_an_earlier_process_with_the_same_pid_is_taken_over(
    state: StateStore,
) -> None:
    # This process's pid, but another start time: the holder ended and its pid was reused.
    mine = this_process()
    boot, _, started = mine.rpartition(":")[2].partition(".")
    _plant(state.kv, f"{mine.rpartition(':')[0]}:{boot}.{int(started) - 1}")
    assert holder_gone(state.kv.get_json(LOCK_KEY)["holder"])
    with state.lock("m"):
        pass


def test_a_live_holder_still_blocks_and_the_refusal_names_it_and_the_expiry(
    state: StateStore, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(TransientError) as refused, state.lock("m"):
        pytest.fail("took a lease a live process holds")
    message = str(refused.value)
    assert f"process {holder.pid} on host" in message
    assert "holds its lease until 20" in message
    assert message.count(" UTC") == 1
    assert "stopped on another host" in message
    assert holder.poll() is None


def test_a_holder_on_another_host_is_left_to_its_lease(state: StateStore) -> None:
    _plant(state.kv, f"elsewhere:4026531836:{_no_such_pid()}:abc.1")
    with (
        pytest.raises(TransientError, match="on host elsewhere holds its lease until 20"),
        state.lock("m"),
    ):
        pass


def test_a_rerun_after_a_killed_sync_syncs_the_mapping_at_once(rig: Any) -> None:
    # The audit's case: `secrets sync` killed mid-run left the mapping's lease; the re-run
    # failed it as "being synced by another worker" until the lease ran out.
    sync = rig.engine(rig.mapping("m", "app/m", "m-t"), lock_wait=0.0)
    rig.source.upsert_value("app/m", Secret("v1"), version_id=str(uuid.uuid4()))
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as dead:
        ghost = this_process().replace(f":{os.getpid()}:", f":{dead.pid}:")
        dead.kill()
    _plant(rig.kv, ghost.rpartition(":")[0] + ":-")
    outcome = sync.sync_mapping("m")
    assert outcome.action == "created"
    assert rig.target.get_value("m-t").value.reveal() == "v1"
    assert sync.status()[0].drift == "in-sync"


def test_a_holder_of_another_boot_or_machine_of_the_same_name_is_not_judged_gone() -> None:
    """The initial PID namespace has the same inode on every Linux kernel: a machine of the
    same host name, or this one before a reboot, cannot be told from here by its pid."""
    mine = this_process()
    where_pid, _, start = mine.rpartition(":")
    assert not holder_gone(mine)  # this process runs
    other_boot = f"{where_pid}:0123456789ab.{start.partition('.')[2]}"
    assert not holder_gone(other_boot)
    reused_pid = f"{where_pid}:{start.partition('.')[0]}.1"  # this boot, an earlier process
    assert holder_gone(reused_pid)
