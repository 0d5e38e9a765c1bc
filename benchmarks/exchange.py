"""Exchange throughput with the AppRec round trip, embedded (SQLite) and RabbitMQ (AMQP 1.0).

For each backend: N citizens' messages go through the real path — helsenorge
builds an EKONTAKT, the bus carries it, the EPJ's node checks headers, body and
sender, journals it and answers an AppRec, helsenorge's node settles the receipt.
The baseline in the same run is the bare transport on the same backend: the same
envelopes sent, received and acknowledged twice (there and back) with no checks,
no XML and no cores — the ceiling the harness's own work is measured against.

Run: ``make bench`` or ``python benchmarks/exchange.py [--messages N] [--no-rabbitmq]``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mocks.harness.app import ServeSettings, build_harness  # noqa: E402
from mocks.exchange.base import send_all  # noqa: E402
from mocks.exchange.envelope import QueueKind, queue_name  # noqa: E402
from domain.calendar import OSLO  # noqa: E402

NOW = datetime(2025, 3, 10, 8, 0, tzinfo=OSLO)


def full_round_trip(exchange, n: int) -> tuple[float, int]:
    harness = build_harness(ServeSettings(seed=1), clock=lambda: NOW, exchange=exchange)
    core = harness.helsenorge
    recipients = harness.world.recipients
    start = time.perf_counter()
    for i in range(n):
        r = recipients[i % len(recipients)]
        for envelope in core.send_message(r.relative.fnr, r.fnr, r.service_her_id, f"Melding nummer {i}", NOW):
            exchange.send(envelope)
    harness.pump()
    elapsed = time.perf_counter() - start
    delivered = core.store.tracker.counts().get("delivered", 0)
    return elapsed, delivered


def served_round_trip(exchange, n: int) -> tuple[float, int]:
    """The same path as :func:`full_round_trip`, with the nodes in their background receive loops as ``digihelse
    serve`` runs them (a thread per queue, each waiting on its own queue) instead of the in-process ``pump``, whose
    pass over every queue would wait ``min_receive_wait`` on each empty one."""
    harness = build_harness(ServeSettings(seed=1), clock=lambda: NOW, exchange=exchange, background=True)
    harness.poll = 0.05
    core = harness.helsenorge
    recipients = harness.world.recipients
    harness.start()
    try:
        start = time.perf_counter()
        batch = []
        for i in range(n):
            r = recipients[i % len(recipients)]
            batch += core.send_message(r.relative.fnr, r.fnr, r.service_her_id, f"Melding nummer {i}", NOW)
        send_all(exchange, batch)  # as n citizens at once: all in flight, all confirmed
        deadline = time.monotonic() + 120
        while core.store.tracker.counts().get("delivered", 0) < n and time.monotonic() < deadline:
            time.sleep(0.005)
        elapsed = time.perf_counter() - start
        return elapsed, core.store.tracker.counts().get("delivered", 0)
    finally:
        harness.stop()


def bare_round_trip(exchange, n: int) -> float:
    exchange.declare(9_800_001)
    exchange.declare(9_800_002)
    there, back = queue_name(9_800_002, QueueKind.ASYNC), queue_name(9_800_001, QueueKind.ASYNC)
    from mocks.exchange.envelope import Envelope

    body = b"<MsgHead/>" * 240  # about the size of an EKONTAKT
    template = Envelope(message_id="m", to=there, subject="DIALOG_INNBYGGER_EKONTAKT", body=body,
                        from_her_id=9_800_001, to_her_id=9_800_002, application_timestamp=NOW)
    start = time.perf_counter()
    send_all(exchange, [replace(template, message_id=f"m{i}") for i in range(n)])
    for _ in range(n):
        delivery = exchange.receive(there, 1.0)
        exchange.send(replace(delivery.envelope, to=back, subject="APPREC", message_id="r" + delivery.envelope.message_id))
        exchange.ack(delivery)
    for _ in range(n):
        exchange.ack(exchange.receive(back, 1.0))
    return time.perf_counter() - start


def bare_pipelined_round_trip(url: str, n: int) -> float:
    """Bare proton, pipelined, on the same broker: n messages there, each answered back, nothing checked.

    One :class:`~mocks.exchange.amqp_pipeline.PipelinedConnection` (its own container thread):
    every send in flight at once, the far side consumes with a credit window and answers each
    message on the return queue as it settles it — the ceiling for an AMQP 1.0 client in Python here."""
    import threading

    from proton import Message

    from mocks.exchange.amqp import AmqpExchange
    from mocks.exchange.amqp_pipeline import PipelinedConnection

    declarer = AmqpExchange(url)
    declarer.declare(9_800_011)
    declarer.declare(9_800_012)
    declarer.close()
    there, back = "/amq/queue/9800012_async", "/amq/queue/9800011_async"
    done = threading.Event()
    count = [0]
    body = b"<MsgHead/>" * 240
    with PipelinedConnection(url, name="bench") as conn:
        def answer(received) -> None:
            conn.send(back, Message(body=b"<AppRec/>" * 120, durable=True, inferred=True))
            conn.settle(received.handle)

        def receipt(received) -> None:
            conn.settle(received.handle)
            count[0] += 1
            if count[0] == n:
                done.set()

        conn.subscribe(there, answer)
        conn.subscribe(back, receipt)
        start = time.perf_counter()
        for i in range(n):
            conn.send(there, Message(id=f"m{i}", body=body, durable=True, inferred=True))
        if not done.wait(120):
            raise RuntimeError(f"bare pipelined: only {count[0]}/{n} answers")
        return time.perf_counter() - start


def measure(name: str, make_exchange, n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bare = bare_round_trip(make_exchange(Path(tmp) / "bare"), n)
        full, delivered = full_round_trip(make_exchange(Path(tmp) / "full"), n)
    print(f"{name:<22} {n / bare:>12,.0f} {n / full:>14,.0f} {bare / full:>10.2f}x   {delivered}/{n} receipted")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--no-rabbitmq", action="store_true", help="skip the RabbitMQ measurement")
    args = parser.parse_args()
    print(f"load average {Path('/proc/loadavg').read_text().split()[:3]} (shared machine)")
    print(f"python {platform.python_version()}, {platform.machine()}, "
          f"{__import__('os').cpu_count()} cores; {args.messages} messages per measurement")
    print(f"{'backend':<22} {'bare msg/s':>12} {'with AppRec':>14} {'ratio':>10}")
    from mocks.exchange.embedded import EmbeddedExchange

    measure("embedded (SQLite WAL)", lambda p: EmbeddedExchange(p.with_suffix(".sqlite")), args.messages)
    if args.no_rabbitmq:
        return
    from mocks.exchange.amqp import NODE_PREFETCH
    from mocks.harness.broker import LocalBroker, find_rabbitmq_bin, free_port

    if find_rabbitmq_bin() is None:
        print("RabbitMQ not installed (make broker-deps): skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:
        broker = LocalBroker(port=free_port(), dir=Path(tmp) / "rabbitmq")
        broker.start()
        try:
            n = args.messages
            pipelined = bare_pipelined_round_trip(broker.url, args.messages)
            print(f"{'RabbitMQ bare proton':<22} {args.messages / pipelined:>12,.0f} {'(pipelined)':>14} "
                  f"{1.0:>10.2f}x   baseline for the rows below")
            with tempfile.TemporaryDirectory() as tmp:
                bare = bare_round_trip(broker.exchange(min_receive_wait=0.005, prefetch=NODE_PREFETCH), n)
                full, delivered = served_round_trip(broker.exchange(min_receive_wait=0.005, prefetch=NODE_PREFETCH), n)
            print(f"{'RabbitMQ AmqpExchange':<22} {n / bare:>12,.0f} {n / full:>14,.0f} "
                  f"{(n / full) / (args.messages / pipelined):>10.2f}x   {delivered}/{n} receipted "
                  "(ratio: with AppRec vs bare pipelined proton)")
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
