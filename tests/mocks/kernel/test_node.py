"""The node's receiver chores: checks before the core, send before ack, release on failure."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from mocks.exchange.embedded import EmbeddedExchange
from mocks.exchange.envelope import MAX_DELIVERIES, QueueKind, queue_name
from mocks.exchange.outgoing import envelope_for, sync_reply_for
from mocks.kernel.node import Node, SyncClient
from mocks.kernel.ports import IdSource
from mocks.wire.apprec import apprec_for
from mocks.wire.codes import AppRecStatus
from mocks.wire.examples import example_object
from mocks.wire.msghead import parse_document

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=timezone.utc)
HN, EPJ = 9900002, 9900101


def clock() -> datetime:
    return NOW


def receipting_core(calls: list):
    ids = IdSource(1)

    def on_async(envelope, root, now):
        document = parse_document(root)
        calls.append(document.msg_id)
        receipt = apprec_for(document, AppRecStatus.OK, gen_date=now, msg_id=ids())
        return [envelope_for(receipt, from_her_id=envelope.to_her_id, to_her_id=envelope.from_her_id, now=now, message_id=ids())]

    return on_async


def request() -> tuple:
    msg = example_object("ekontakt")
    return msg, envelope_for(msg, from_her_id=HN, to_her_id=EPJ, now=NOW, message_id="amqp-1")


def test_business_message_gets_its_receipt_and_is_acked():
    exchange = EmbeddedExchange()
    exchange.declare(HN)
    calls: list = []
    node = Node(exchange, [EPJ], receipting_core(calls), clock, IdSource(2))
    msg, envelope = request()
    exchange.send(envelope)
    assert node.pump() == 1
    assert calls == [msg.msg_id]
    assert exchange.depth(queue_name(EPJ, QueueKind.ASYNC)) == 0
    [receipt] = exchange.peek_all(queue_name(HN, QueueKind.ASYNC))
    assert receipt.subject == "APPREC" and receipt.to_her_id == HN
    assert parse_document(receipt.body).original_msg_id.id == msg.msg_id


def test_header_less_message_goes_to_the_senders_error_queue_not_the_core():
    exchange = EmbeddedExchange()
    exchange.declare(HN)
    calls: list = []
    node = Node(exchange, [EPJ], receipting_core(calls), clock, IdSource(2))
    _, envelope = request()
    exchange.send(replace(envelope, subject=None))
    node.pump()
    assert calls == []
    [error] = exchange.peek_all(queue_name(HN, QueueKind.ERROR))
    assert error.properties["errorCondition"] == "transport:invalid-field-value"
    assert error.properties["originalMessageId"] == "amqp-1"
    assert node.stats.transport_errors == 1


def test_core_failure_releases_and_dead_letters_after_ten_attempts():
    exchange = EmbeddedExchange()
    exchange.declare(HN)

    def broken(envelope, root, now):
        raise RuntimeError("EPJ database down")

    node = Node(exchange, [EPJ], broken, clock, IdSource(2))
    exchange.send(request()[1])
    for _ in range(MAX_DELIVERIES):
        node.pump(limit=1)
    assert exchange.depth(queue_name(EPJ, QueueKind.ASYNC)) == 0
    [dead] = exchange.peek_all(queue_name(EPJ, QueueKind.DEAD_LETTER))
    assert dead.message_id == "amqp-1"
    assert node.stats.failures == MAX_DELIVERIES


def test_sync_request_reply_matches_correlation_id():
    exchange = EmbeddedExchange()
    ids = IdSource(3)

    def answer(envelope, root, now):
        from mocks.wire.msghead import build_svar_planlagte_timer

        reply = build_svar_planlagte_timer(parse_document(root), events=(), gen_date=now, msg_id=ids())
        return sync_reply_for(envelope, reply, now=now, message_id=ids())

    epj = Node(exchange, [EPJ], receipting_core([]), clock, ids, on_sync=answer)
    Node(exchange, [HN], receipting_core([]), clock, ids)  # declares helsenorge's queues
    client = SyncClient(exchange, HN, pump=epj.pump)
    from mocks.wire.examples import hent_planlagte_timer_example

    ask = hent_planlagte_timer_example()
    env = envelope_for(ask, from_her_id=HN, to_her_id=EPJ, now=NOW, message_id="sync-1", kind=QueueKind.SYNC)
    reply = client.call(env, timeout=1.0)
    assert reply is not None and reply.correlation_id == "sync-1"
    assert reply.to == queue_name(HN, QueueKind.SYNC_REPLY)
    assert exchange.depth(queue_name(HN, QueueKind.ASYNC)) == 0  # no AppRec for a sync process


def test_sync_call_times_out_when_nobody_answers():
    exchange = EmbeddedExchange()
    exchange.declare(HN)
    exchange.declare(EPJ)
    client = SyncClient(exchange, HN)
    env = replace(request()[1], to=queue_name(EPJ, QueueKind.SYNC), message_id="s2", correlation_id="s2")
    assert client.call(env, timeout=0.3) is None
