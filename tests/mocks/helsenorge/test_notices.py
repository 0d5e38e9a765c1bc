"""Issue 15 §3: a notice for every change of an appointment, each at the levels that get it and no other.

The expected levels are written out here (not read from ``LEVEL_KINDS``) so a change of the mapping fails a test:
Begrenset gets appointment notices (new, changed, cancelled), Normal also delays (and messages), Full everything,
completed visits included.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from mocks.wire.models import VisitStatus
from mocks.wire.msghead import build_svar_avbestilling, parse_document
from domain.calendar import OSLO
from tests.mocks.helsenorge.test_helsenorge import NOW, visit, w  # noqa: F401  (w is the fixture)

START = datetime(2025, 3, 13, 10, 0, tzinfo=OSLO)  # Thursday

EXPECTED = {
    "Begrenset": ["new-appointment", "changed-appointment", "cancelled-appointment"],
    "Normal": ["new-appointment", "changed-appointment", "delayed-visit", "cancelled-appointment"],
    "Full": ["new-appointment", "changed-appointment", "delayed-visit", "cancelled-appointment", "visit-completed"],
}


def life_of_two_visits(w, fnr: str) -> None:
    """One visit is planned, moved, running late and cancelled by the service; another is carried out."""
    planned = visit("v-1", START)
    w.push(fnr, planned)
    moved = replace(planned, dtstart=START + timedelta(hours=2), dtend=START + timedelta(hours=2, minutes=30),
                    sequence=1)
    w.push(fnr, moved)
    w.push(fnr, replace(moved, expected_start=moved.dtstart + timedelta(minutes=45)))
    w.push(fnr, replace(moved, status=VisitStatus.CANCELLED, sequence=2))
    w.push(fnr, visit("v-2", NOW - timedelta(hours=2), VisitStatus.COMPLETED))


@pytest.mark.parametrize("level", list(EXPECTED))
def test_each_kind_reaches_exactly_the_levels_that_get_it(w, level):
    w.core.set_notification_settings(w.ingrid, w.ingrid, NOW, level=level)
    life_of_two_visits(w, w.ingrid)
    notes = w.outbox.list(recipient=w.ingrid)
    assert [n.kind for n in notes] == EXPECTED[level]
    assert all(n.about is None and n.channel == "sms" for n in notes)


def test_the_texts_say_what_changed(w):
    w.core.set_notification_settings(w.ingrid, w.ingrid, NOW, level="Full")
    life_of_two_visits(w, w.ingrid)
    text = {n.kind: n.text for n in w.outbox.list(recipient=w.ingrid)}
    assert "13.03.2025 kl. 12:00" in text["changed-appointment"] and "endret" in text["changed-appointment"]
    assert "Forventet kl. 12:45" in text["delayed-visit"] and "forsinket" in text["delayed-visit"]
    assert "avlyst av tjenesten" in text["cancelled-appointment"]
    assert w.store.visit("v-1").start == START + timedelta(hours=2)  # a delay leaves the planned time alone


@pytest.mark.parametrize("level", list(EXPECTED))
def test_a_proxy_who_asked_gets_the_kinds_of_their_own_level(w, level):
    w.core.set_notification_settings(w.ingrid, w.ingrid, NOW, level="Begrenset")
    w.core.give_fullmakt(w.ingrid, w.per, ["timeavtaler", "varsler"], None, NOW)
    w.core.give_fullmakt(w.ingrid, w.ola, ["meldinger", "timeavtaler"], None, NOW)  # no "varsler": never
    w.core.set_notification_settings(w.per, w.per, NOW, level=level, notify_for_represented=True)
    w.core.set_notification_settings(w.ola, w.ola, NOW, level="Full", notify_for_represented=True)
    life_of_two_visits(w, w.ingrid)
    about_her = w.outbox.list(recipient=w.per)
    assert [n.kind for n in about_her] == EXPECTED[level]
    assert all(n.about == w.ingrid and "Ingrid" in n.text for n in about_her)
    assert w.outbox.list(recipient=w.ola) == []


def test_resent_copies_and_a_new_employee_notify_nobody(w):
    w.core.set_notification_settings(w.ingrid, w.ingrid, NOW, level="Full")
    planned = visit("v-1", START)
    w.push(w.ingrid, planned)
    w.push(w.ingrid, replace(planned, staff_name="Kari Nordmann", sequence=1))  # same time, another employee
    w.push(w.ingrid, replace(planned, sequence=1))  # the same again
    assert [n.kind for n in w.outbox.list(recipient=w.ingrid)] == ["new-appointment"]


def test_a_revision_of_an_appointment_helsenorge_never_showed_is_a_change(w):
    w.core.set_notification_settings(w.ingrid, w.ingrid, NOW, level="Begrenset")
    w.push(w.ingrid, replace(visit("v-1", START), sequence=3))
    w.push(w.ingrid, replace(visit("v-2", START), status=VisitStatus.CANCELLED, sequence=1))
    assert [n.kind for n in w.outbox.list(recipient=w.ingrid)] == ["changed-appointment", "cancelled-appointment"]


def test_a_delay_after_the_visit_was_completed_or_cancelled_notifies_nobody(w):
    w.core.set_notification_settings(w.ingrid, w.ingrid, NOW, level="Full")
    done = visit("v-1", START, VisitStatus.COMPLETED)
    w.push(w.ingrid, done)
    w.push(w.ingrid, replace(done, status=VisitStatus.CONFIRMED, expected_start=START + timedelta(minutes=40)))
    assert [n.kind for n in w.outbox.list(recipient=w.ingrid)] == ["visit-completed"]


def test_the_citizens_own_cancellation_notifies_nobody(w):
    """Seeds 001 l.110 and 004 l.158 name no notice for one's own cancellation: the answer shows on the visit."""
    w.core.set_notification_settings(w.ingrid, w.ingrid, NOW, level="Full")
    w.core.give_fullmakt(w.ingrid, w.per, ["timeavtaler", "varsler"], None, NOW)
    w.core.set_notification_settings(w.per, w.per, NOW, level="Full", notify_for_represented=True)
    w.push(w.ingrid, visit("v-thu", START))
    before = len(w.outbox.list())
    [env] = w.core.cancel_visit(w.per, w.ingrid, "v-thu", START - timedelta(hours=25), reason="Syk")
    answer = build_svar_avbestilling(parse_document(env.body), gen_date=NOW, msg_id="svar-avb", tekst="Avbestilt")
    w.apprec(env)
    w.core.receive(w.epj_envelope(answer), None, NOW)
    assert w.store.visit("v-thu").status is VisitStatus.CANCELLED
    assert len(w.outbox.list()) == before
