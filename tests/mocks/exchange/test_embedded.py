"""The embedded exchange keeps the service bus's promises: durable, FIFO, at-least-once, dead-lettering."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta, timezone

import pytest

from mocks.exchange.embedded import (
    DEAD_LETTER_DELIVERY_COUNT,
    DEAD_LETTER_REASON,
    DEAD_LETTER_SOURCE,
    REASON_MAX_DELIVERIES,
    REASON_REJECTED,
    EmbeddedExchange,
)
from mocks.exchange.envelope import CONTENT_TYPE_PROTECTED, MAX_DELIVERIES, Envelope

KOMMUNE = 8141333
HELSENORGE = 8093244
ASYNC = f"{HELSENORGE}_async"
DL = f"{HELSENORGE}_dl"


class FakeClock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def envelope(message_id: str, to: str = ASYNC, **kwargs) -> Envelope:
    fields = dict(
        subject="DIALOG_INNBYGGER_EKONTAKT",
        body=f"<x>{message_id}</x>".encode(),
        from_her_id=KOMMUNE,
        to_her_id=HELSENORGE,
        application_timestamp=datetime(2024, 5, 2, 8, 30, tzinfo=timezone.utc),
    )
    fields.update(kwargs)
    return Envelope(message_id=message_id, to=to, **fields)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ex(clock: FakeClock):
    exchange = EmbeddedExchange(visibility_timeout=30.0, clock=clock)
    exchange.declare(KOMMUNE)
    exchange.declare(HELSENORGE)
    yield exchange
    exchange.close()


def test_declare_creates_the_five_queues_idempotently(ex: EmbeddedExchange):
    ex.declare(HELSENORGE)
    expected = {f"{HELSENORGE}_{k}" for k in ("async", "sync", "syncreply", "error", "dl")}
    assert expected <= set(ex.queues())
    assert len(ex.queues()) == 10


def test_declare_refuses_a_non_her_id(ex: EmbeddedExchange):
    with pytest.raises(ValueError):
        ex.declare(0)


def test_send_receive_ack(ex: EmbeddedExchange):
    ex.send(envelope("m1"))
    assert ex.depth(ASYNC) == 1
    delivery = ex.receive(ASYNC)
    assert delivery is not None
    assert delivery.envelope.message_id == "m1"
    assert delivery.queue == ASYNC
    assert delivery.delivery_count == 1
    assert ex.depth(ASYNC) == 1, "an unsettled message still counts"
    ex.ack(delivery)
    assert ex.depth(ASYNC) == 0
    assert ex.receive(ASYNC) is None


def test_empty_queue_with_zero_timeout_returns_none(ex: EmbeddedExchange):
    assert ex.receive(ASYNC, timeout=0) is None


def test_fifo_per_queue_and_queues_are_independent(ex: EmbeddedExchange):
    for i in range(5):
        ex.send(envelope(f"a{i}"))
        ex.send(envelope(f"k{i}", to=f"{KOMMUNE}_async"))
    got = []
    while (d := ex.receive(ASYNC)) is not None:
        got.append(d.envelope.message_id)
        ex.ack(d)
    assert got == [f"a{i}" for i in range(5)]
    assert [e.message_id for e in ex.peek_all(f"{KOMMUNE}_async")] == [f"k{i}" for i in range(5)]


def test_ar_style_address_reaches_the_queue(ex: EmbeddedExchange):
    ex.send(envelope("m1", to=f"sb.test.nhn.no/DigitalDialog/{ASYNC}"))
    assert ex.depth(ASYNC) == 1


def test_unknown_queue_is_a_key_error_naming_it(ex: EmbeddedExchange):
    with pytest.raises(KeyError, match="99_async"):
        ex.send(envelope("m1", to="99_async"))
    with pytest.raises(KeyError, match="99_sync"):
        ex.receive("99_sync")


def test_unacked_message_is_redelivered_after_the_visibility_timeout(ex: EmbeddedExchange, clock: FakeClock):
    ex.send(envelope("m1"))
    first = ex.receive(ASYNC)
    assert first is not None and first.delivery_count == 1
    assert ex.receive(ASYNC) is None, "leased message must be invisible"
    clock.advance(29.9)
    assert ex.receive(ASYNC) is None
    clock.advance(0.2)
    second = ex.receive(ASYNC)
    assert second is not None
    assert second.envelope == first.envelope
    assert second.delivery_count == 2
    ex.ack(first)  # superseded delivery: must not delete what the new receiver owns
    assert ex.depth(ASYNC) == 1
    ex.ack(second)
    assert ex.depth(ASYNC) == 0


def test_ack_after_lock_expiry_still_counts_if_nobody_took_it(ex: EmbeddedExchange, clock: FakeClock):
    ex.send(envelope("m1"))
    d = ex.receive(ASYNC)
    clock.advance(120)
    ex.ack(d)
    assert ex.depth(ASYNC) == 0


def test_released_and_expired_messages_keep_their_place(ex: EmbeddedExchange, clock: FakeClock):
    for mid in ("a", "b", "c"):
        ex.send(envelope(mid))
    a = ex.receive(ASYNC)
    ex.release(a)
    again = ex.receive(ASYNC)
    assert (again.envelope.message_id, again.delivery_count) == ("a", 2)
    b = ex.receive(ASYNC)
    assert b.envelope.message_id == "b"
    clock.advance(31)  # both leases expire
    assert [ex.receive(ASYNC).envelope.message_id for _ in range(3)] == ["a", "b", "c"]


def test_release_dead_letters_on_the_tenth_failed_delivery(ex: EmbeddedExchange):
    ex.send(envelope("m1", properties={"X-SystemIdentifier": "kommune-epj"}))
    for attempt in range(1, MAX_DELIVERIES):
        d = ex.receive(ASYNC)
        assert d is not None and d.delivery_count == attempt
        ex.release(d)
        assert ex.depth(ASYNC) == 1, f"still on the queue after {attempt} release(s)"
        assert ex.depth(DL) == 0
    last = ex.receive(ASYNC)
    assert last.delivery_count == MAX_DELIVERIES
    ex.release(last)
    assert ex.depth(ASYNC) == 0
    [dead] = ex.peek_all(DL)
    assert dead.message_id == "m1"
    assert dead.body == last.envelope.body
    assert dead.properties[DEAD_LETTER_REASON] == REASON_MAX_DELIVERIES
    assert dead.properties[DEAD_LETTER_DELIVERY_COUNT] == str(MAX_DELIVERIES)
    assert dead.properties[DEAD_LETTER_SOURCE] == ASYNC
    assert dead.properties["X-SystemIdentifier"] == "kommune-epj"
    from_dl = ex.receive(DL)
    assert from_dl.delivery_count == 1, "a dead-lettered message starts a fresh count"


def test_lock_expiring_ten_times_dead_letters(ex: EmbeddedExchange, clock: FakeClock):
    ex.send(envelope("m1"))
    for attempt in range(1, MAX_DELIVERIES + 1):
        d = ex.receive(ASYNC)
        assert d is not None and d.delivery_count == attempt
        clock.advance(31)
    assert ex.receive(ASYNC) is None
    [dead] = ex.peek_all(DL)
    assert dead.properties[DEAD_LETTER_REASON] == REASON_MAX_DELIVERIES
    assert dead.properties[DEAD_LETTER_DELIVERY_COUNT] == str(MAX_DELIVERIES)


def test_reject_moves_to_dead_letter_at_once(ex: EmbeddedExchange):
    ex.send(envelope("m1"))
    ex.send(envelope("m2"))
    d = ex.receive(ASYNC)
    ex.reject(d)
    assert [e.message_id for e in ex.peek_all(ASYNC)] == ["m2"]
    [dead] = ex.peek_all(DL)
    assert dead.message_id == "m1"
    assert dead.properties[DEAD_LETTER_REASON] == REASON_REJECTED
    assert dead.properties[DEAD_LETTER_DELIVERY_COUNT] == "1"


def test_stale_release_and_reject_do_nothing(ex: EmbeddedExchange, clock: FakeClock):
    ex.send(envelope("m1"))
    old = ex.receive(ASYNC)
    clock.advance(31)
    new = ex.receive(ASYNC)
    ex.reject(old)
    ex.release(old)
    assert ex.depth(DL) == 0
    assert ex.receive(ASYNC) is None, "the new lease must still hide the message"
    ex.ack(new)
    assert ex.depth(ASYNC) == 0


def test_every_envelope_field_round_trips(ex: EmbeddedExchange):
    full = Envelope(
        message_id="6f1c1f0e-6a59-4a0b-9f3c-0d5e8b0c1a11",
        to=ASYNC,
        subject="DIALOG_INNBYGGER_TIMERESERVASJON",
        body=bytes(range(256)) * 3 + b"\x00",
        content_type=CONTENT_TYPE_PROTECTED,
        reply_to=f"{KOMMUNE}_async",
        correlation_id="corr-æøå",
        from_her_id=KOMMUNE,
        to_her_id=HELSENORGE,
        application_timestamp=datetime(2024, 3, 31, 1, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=2))),
        cpa_id="51795e2c-1111-2222-3333-444455556666",
        properties={"X-Sender-Lvl2Id": "8141333", "merknad": "Ærlig talt, Åse ✓ 🩺", "tom": ""},
    )
    bare = Envelope(message_id="m-bare", to=ASYNC, subject=None, body=b"", content_type=None)
    naive = envelope("m-naive", application_timestamp=datetime(2024, 1, 1, 12, 0, 0, 123))
    for e in (full, bare, naive):
        ex.send(e)
    assert ex.peek_all(ASYNC) == [full, bare, naive]
    received = [ex.receive(ASYNC).envelope for _ in range(3)]
    assert received == [full, bare, naive]
    assert received[0].application_timestamp.utcoffset() == timedelta(hours=2)


def test_durable_across_close_and_reopen(tmp_path):
    path = tmp_path / "bus.db"
    first = EmbeddedExchange(path)
    first.declare(HELSENORGE)
    sent = envelope("durable-1", properties={"k": "v"})
    first.send(sent)
    first.send(envelope("durable-2"))
    first.ack(first.receive(ASYNC))  # durable-1 is consumed before closing
    first.close()

    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    second = EmbeddedExchange(path)
    try:
        assert ASYNC in second.queues()
        d = second.receive(ASYNC)
        assert d is not None and d.envelope == envelope("durable-2")
        assert second.receive(ASYNC) is None
    finally:
        second.close()


def test_two_instances_on_one_file_see_each_others_queues_and_messages(tmp_path):
    path = tmp_path / "shared.db"
    a = EmbeddedExchange(path)
    b = EmbeddedExchange(path)
    try:
        a.declare(HELSENORGE)
        b.send(envelope("via-b"))
        d = a.receive(ASYNC)
        assert d is not None and d.envelope.message_id == "via-b"
        b.ack(d)
        assert a.depth(ASYNC) == 0
    finally:
        a.close()
        b.close()


def test_concurrent_receivers_never_share_a_message(tmp_path):
    # Two threads per instance and two instances on one file: the lock guards
    # one connection, SQLite's write lock guards the file between connections.
    path = tmp_path / "bus.db"
    instances = [EmbeddedExchange(path), EmbeddedExchange(path)]
    instances[0].declare(HELSENORGE)
    n = 400
    for i in range(n):
        instances[0].send(envelope(f"m{i:04d}"))
    start = threading.Barrier(4)
    taken: list[list[str]] = [[] for _ in range(4)]

    def worker(ex: EmbeddedExchange, mine: list[str]) -> None:
        start.wait()
        while (d := ex.receive(ASYNC)) is not None:
            mine.append(d.envelope.message_id)
            ex.ack(d)

    threads = [threading.Thread(target=worker, args=(instances[i % 2], t)) for i, t in enumerate(taken)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for ex in instances:
        ex.close()
    everything = [m for mine in taken for m in mine]
    assert len(everything) == n, "a message was delivered twice or lost"
    assert sorted(everything) == [f"m{i:04d}" for i in range(n)]


def test_waiting_receive_gets_a_message_sent_from_another_thread(ex: EmbeddedExchange):
    threading.Timer(0.05, ex.send, args=(envelope("late"),)).start()
    d = ex.receive(ASYNC, timeout=10.0)
    assert d is not None and d.envelope.message_id == "late"
