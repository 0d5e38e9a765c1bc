"""The helsenorge store's own contract, method by method, on every store kind (``new_store``: conftest.py).

The core tests pin what the core needs; these pin the rest a second implementation could get subtly wrong: the
orders the SQL clauses give, "already there" errors, what an upsert keeps, times handed back in Oslo time, and a
failed step that leaves no trace."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from domain.calendar import OSLO
from mocks.exchange.envelope import Envelope
from mocks.helsenorge.model import Channel, Direction, Fullmakt, NotificationLevel, NotificationSettings, Visit
from mocks.kernel.sqlite import AlreadySeen
from mocks.wire.models import VisitStatus

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=OSLO)
INGRID, KARI, OLA = "07034112384", "kari-fnr", "ola-fnr"  # a valid fnr, born 7 March 1941


class Boom(Exception):
    pass


def env(msg_id: str) -> Envelope:
    return Envelope(message_id=msg_id, to="100_async", subject="DIALOG_INNBYGGER_EKONTAKT", body=b"<x/>")


def message(store, msg_id: str, thread: str, *, recipient: str = INGRID, now: datetime = NOW, **kw) -> bool:
    args = dict(msg_id=msg_id, thread_id=thread, recipient=recipient, service_her_id=100, direction=Direction.OUT,
                text="Hei", written_by=None, conversation_ref=None, now=now)
    args.update(kw)
    return store.add_message(**args)


def test_times_come_back_as_the_same_instant_in_oslo_and_naive_times_are_refused(new_store):
    store = new_store()
    utc = datetime(2025, 3, 10, 8, 0, 0, 123456, tzinfo=timezone.utc)
    thread = store.add_thread("t1", INGRID, 100, "Hjemmetjenesten", "Besøk", utc)
    assert thread.created_at == utc and thread.created_at.tzinfo is OSLO and thread.created_at.hour == 9
    assert thread.created_at.microsecond == 123456
    with pytest.raises(ValueError, match="timezone-aware"):
        store.add_thread("t2", INGRID, 100, None, None, datetime(2025, 3, 10, 8, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        store.log_access(at=datetime(2025, 3, 10), actor=INGRID, subject=INGRID, action="a", outcome="ok")


def test_threads_are_most_recently_active_first_then_by_id_and_a_message_moves_its_thread_up(new_store):
    store = new_store()
    for thread_id in ("b", "a", "c"):
        store.add_thread(thread_id, INGRID, 100, None, None, NOW)
    assert [t.id for t in store.threads(INGRID)] == ["a", "b", "c"]
    assert message(store, "m1", "c", now=NOW + timedelta(minutes=1))
    assert [t.id for t in store.threads(INGRID)] == ["c", "a", "b"]
    assert store.latest_thread(INGRID, 100).id == "c"
    assert store.latest_thread(INGRID, 999) is None


def test_of_threads_active_at_the_same_moment_the_latest_is_the_one_created_last(new_store):
    store = new_store()
    for thread_id in ("z", "y", "x"):
        store.add_thread(thread_id, INGRID, 100, None, None, NOW)
    assert store.latest_thread(INGRID, 100).id == "x"


def test_a_message_is_stored_once_per_msg_id_and_its_thread_finds_it_by_conversation(new_store):
    store = new_store()
    store.add_thread("t1", INGRID, 100, None, None, NOW)
    store.add_thread("t2", INGRID, 100, None, None, NOW)
    assert message(store, "m1", "t1")
    assert not message(store, "m1", "t2")  # a duplicate changes nothing
    assert message(store, "m2", "t2", conversation_ref="m1")
    assert [m.msg_id for m in store.messages("t1")] == ["m1"]
    assert store.thread_by_conversation("m1").id == "t1"  # the earliest message naming it: m1 itself
    assert store.thread_by_conversation("nothing") is None
    assert store.message_count() == 2 and store.message_count(Direction.IN) == 0


def test_a_failed_send_leaves_no_message_no_tracking_row_no_idempotency_key_and_the_thread_unmoved(new_store):
    store = new_store()
    store.add_thread("t1", INGRID, 100, None, None, NOW)
    with pytest.raises(Boom):
        with store.transaction():
            message(store, "m1", "t1", now=NOW + timedelta(hours=1), tracked=env("m1"),
                    idempotency=(INGRID, "key-1", "fingerprint"))
            raise Boom
    assert store.message("m1") is None
    assert store.tracker.get("m1") is None
    assert store.idempotent(INGRID, "key-1") is None
    assert store.thread("t1").updated_at == NOW
    assert message(store, "m1", "t1", tracked=env("m1"), idempotency=(INGRID, "key-1", "fingerprint"))
    assert store.idempotent(INGRID, "key-1") == ("fingerprint", "m1")
    assert store.untracked_sent() == []


def test_an_idempotency_key_used_twice_is_already_seen(new_store):
    store = new_store()
    store.add_thread("t1", INGRID, 100, None, None, NOW)
    message(store, "m1", "t1", idempotency=(INGRID, "key", "a"))
    with pytest.raises(AlreadySeen):
        message(store, "m2", "t1", idempotency=(INGRID, "key", "b"))
    assert store.message("m2") is None  # the whole send was undone with it


def test_untracked_sent_and_messages_in_foreign_threads_are_what_a_checker_reads(new_store):
    store = new_store()
    store.add_thread("t-ingrid", INGRID, 100, None, None, NOW)
    message(store, "tracked", "t-ingrid", tracked=env("tracked"))
    message(store, "untracked", "t-ingrid")
    message(store, "inbound", "t-ingrid", direction=Direction.IN)
    message(store, "foreign", "t-ingrid", recipient=KARI, tracked=env("foreign"))
    assert store.untracked_sent() == ["untracked"]
    assert store.messages_in_foreign_threads() == [("foreign", KARI, "t-ingrid", INGRID)]


def test_consent_is_the_latest_record_and_a_withdrawal_ends_only_that_one(new_store):
    store = new_store()
    assert store.consent(INGRID) is None
    first = store.add_consent(INGRID, NOW, NOW)
    withdrawn = store.withdraw_consent(INGRID, NOW + timedelta(days=1))
    assert first.withdrawn_at is None and withdrawn.withdrawn_at == NOW + timedelta(days=1)
    again = store.add_consent(INGRID, NOW + timedelta(days=2), NOW + timedelta(days=2))
    assert again.withdrawn_at is None and store.consent(INGRID) == again
    assert store.withdraw_consent(KARI, NOW) is None


def test_fullmakter_are_newest_first_by_giver_receiver_or_both_and_an_id_is_unique(new_store):
    store = new_store()
    for n, (giver, receiver) in enumerate([(INGRID, KARI), (INGRID, OLA), (OLA, KARI)]):
        store.add_fullmakt(Fullmakt(f"f{n}", giver, receiver, frozenset({"meldinger", "timeavtaler"}),
                                    NOW + timedelta(minutes=n), date(2026, 1, 1)))
    assert [f.id for f in store.fullmakter(giver=INGRID)] == ["f1", "f0"]
    assert [f.id for f in store.fullmakter(receiver=KARI)] == ["f2", "f0"]
    assert [f.id for f in store.fullmakter(giver=INGRID, receiver=KARI)] == ["f0"]
    assert [f.id for f in store.fullmakter()] == ["f2", "f1", "f0"]
    with pytest.raises(AlreadySeen):
        store.add_fullmakt(Fullmakt("f0", OLA, INGRID, frozenset({"meldinger"}), NOW, None))
    ended = store.end_fullmakt("f0", INGRID, NOW + timedelta(hours=1))
    assert ended.ended_at == NOW + timedelta(hours=1) and ended.ended_by == INGRID
    assert store.end_fullmakt("f0", KARI, NOW + timedelta(hours=2)).ended_by == INGRID  # ended once
    assert store.fullmakt("f0").scope == frozenset({"meldinger", "timeavtaler"})


def test_parents_and_children_come_sorted_and_a_pair_is_stored_once(new_store):
    store = new_store()
    for parent in ("p2", "p1", "p1"):
        store.add_parent(parent, "child")
    store.add_parent("p1", "a-child")
    assert store.parents_of("child") == ["p1", "p2"]
    assert store.children_of("p1") == ["a-child", "child"]
    assert store.is_parent("p2", "child") and not store.is_parent("child", "p2")


def test_a_service_record_keeps_what_a_later_sync_leaves_out_and_any_service_prefers_a_named_organisation(new_store):
    store = new_store()
    store.connect_service(INGRID, 200, "Hjemmesykepleien")
    store.connect_service(KARI, 200, "Hjemmesykepleien", municipality="1516", org_her_id=9, org_name="Ulstein")
    store.connect_service(INGRID, 100, "Praktisk bistand", municipality="1516")
    again = store.connect_service(INGRID, 100, "Praktisk bistand og hjelp")
    assert again.name == "Praktisk bistand og hjelp" and again.municipality == "1516"
    assert [s.her_id for s in store.services(INGRID)] == [100, 200]
    assert store.any_service(200).fnr == KARI
    assert store.any_service(100).fnr == INGRID and store.any_service(300) is None


def test_an_upsert_returns_the_previous_visit_and_keeps_its_cancellation_fields(new_store):
    store = new_store()
    start = NOW + timedelta(days=1)
    visit = Visit("v1", INGRID, 100, start, start + timedelta(minutes=30), VisitStatus.CONFIRMED, "Jonas",
                  cancel_msg_id="not stored by an upsert")
    assert store.upsert_visit(visit) is None
    assert store.visit("v1").cancel_msg_id is None
    store.set_visit_cancellation("v1", cancel_msg_id="c1", note="Syk")
    moved = replace(visit, start=start + timedelta(hours=1), end=start + timedelta(hours=2))
    previous = store.upsert_visit(moved)
    assert previous.start == start and previous.cancel_msg_id == "c1"
    kept = store.visit("v1")
    assert kept.start == start + timedelta(hours=1) and (kept.cancel_msg_id, kept.cancellation_note) == ("c1", "Syk")
    store.set_visit_cancellation("nothing", cancel_msg_id="c2")  # no such visit: nothing happens
    assert store.visit("nothing") is None


def test_visits_come_by_start_then_uid_for_the_recipient_and_service(new_store):
    store = new_store()
    for uid, hours, service in (("b", 2, 100), ("a", 2, 100), ("c", 1, 200), ("d", 0, 100)):
        start = NOW + timedelta(hours=hours)
        store.upsert_visit(Visit(uid, INGRID, service, start, start + timedelta(minutes=20), VisitStatus.CONFIRMED))
    assert [v.uid for v in store.visits(INGRID)] == ["d", "c", "a", "b"]
    assert [v.uid for v in store.visits(INGRID, 100)] == ["d", "a", "b"]
    assert store.visits(KARI) == []


def test_notification_settings_default_until_set(new_store):
    store = new_store()
    assert store.notification_settings(INGRID) == NotificationSettings(INGRID)
    chosen = NotificationSettings(INGRID, Channel.EMAIL, NotificationLevel.FULL, True)
    store.set_notification_settings(chosen)
    assert store.notification_settings(INGRID) == chosen


def test_the_access_log_pages_by_sequence_number_per_subject(new_store):
    store = new_store()
    for n in range(5):
        store.log_access(at=NOW + timedelta(minutes=n), actor=KARI, subject=INGRID if n != 2 else OLA,
                         action=f"a{n}", outcome="ok")
    entries = store.access_log(INGRID)
    assert [e.action for e in entries] == ["a0", "a1", "a3", "a4"]
    assert [e.seq for e in entries] == [1, 2, 4, 5]
    page = store.access_log(INGRID, after=2, limit=1)
    assert [e.action for e in page] == ["a3"]
    assert entries[0].at == NOW and entries[0].at.tzinfo is OSLO


def test_inbound_messages_are_recorded_once_with_their_reply(new_store):
    store = new_store()
    assert store.inbound_reply("m1") == (False, None)
    store.record_inbound("m1", "FORESPORSEL", "reply-1", NOW)
    store.record_inbound("m1", "FORESPORSEL", "reply-2", NOW)
    store.record_inbound("m2", None, None, NOW)
    assert store.inbound_reply("m1") == (True, "reply-1")
    assert store.inbound_log() == {"m1": "reply-1", "m2": None}


def test_a_sync_request_is_stored_once_and_its_outcome_set_later(new_store):
    store = new_store()
    store.add_sync_request("s1", KARI, INGRID, 100, date(2025, 3, 10), None, NOW)
    with pytest.raises(AlreadySeen):
        store.add_sync_request("s1", KARI, INGRID, 100, None, None, NOW)
    assert store.sync_request("s1") == (KARI, INGRID, 100, date(2025, 3, 10), None, None)
    store.set_sync_outcome("s1", "answered")
    assert store.sync_request("s1")[-1] == "answered"
    assert store.sync_request("s2") is None


def test_a_citizen_is_replaced_whole_and_a_bad_fnr_is_refused(new_store):
    store = new_store()
    store.add_citizen(INGRID, "Ingrid", "Hansen", phone="+4791234567")
    store.set_confidential_address(INGRID, True)
    assert store.citizen(INGRID).confidential_address is True
    store.add_citizen(INGRID, "Ingrid", "Olsen")
    assert store.citizen(INGRID).family_name == "Olsen" and store.citizen(INGRID).phone is None
    assert store.citizen(INGRID).birth_date == date(1941, 3, 7)
    with pytest.raises(ValueError):
        store.add_citizen("123", "No", "Body")
    assert store.citizen("123") is None
