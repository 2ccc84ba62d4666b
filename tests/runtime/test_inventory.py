"""What a stream backend holds, for the Streams page: topics, group lag, dead letters."""

from __future__ import annotations

from pathlib import Path

from skybridge.backends.streams import Record, connect
from skybridge.runtime.deadletter import DeadLetters, letter_message
from skybridge.runtime.inventory import inventory
from skybridge.testing.contracts.streams import drain


def test_inventory_lists_topics_groups_and_dead_letters(tmp_path: Path) -> None:
    backend = connect(f"sqlite:///{tmp_path}/log.db")
    backend.create_topic("orders", 2)
    backend.create_topic("quiet", 1)
    produced = backend.produce("orders", [b"a", b"b", b"c", b"d"])
    with backend.consumer("billing", ["orders"]) as consumer:
        consumer.commit_records(drain(consumer, 4, 10)[:1])
    letters = DeadLetters(backend, "orders")
    letters.park(letter_message(Record("orders", 0, 3, None, b"x"), "ValueError", "bad", "p"))
    letters.park(letter_message(Record("orders", 1, 5, None, b"y"), "KeyError", "gone", "p"))
    letters.replay(["0:0"])

    found = inventory(backend)

    topics = {t.name: t for t in found.topics}
    assert set(topics) == {"orders", "orders.dlq", "quiet"}
    assert topics["orders"].partitions == 2
    assert sum(topics["orders"].end_offsets.values()) == len(produced) + 1  # one replayed
    assert topics["orders.dlq"].dead_letter_topic
    assert topics["quiet"].retained == 0
    [billing] = [g for g in found.groups if g.group == "billing"]
    assert (billing.topic, billing.lag) == ("orders", 4)  # 5 records now, 1 committed
    [orders] = found.dead_letters
    assert orders.topic == "orders"
    assert [(x.id, x.replayed) for x in orders.letters] == [("0:0", True), ("0:1", False)]
    assert orders.waiting == 1
    backend.close()
