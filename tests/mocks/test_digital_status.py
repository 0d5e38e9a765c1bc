"""DIALOG_INNBYGGER_DIGITALBRUKER: the EPJ asks whether a patient is digitally active, helsenorge answers."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from mocks.wire.codes import MessageFunction
from mocks.wire.models import ProcessFunction
from mocks.wire.msghead import build_sjekk_status, build_status_svar, digital_status_of, msghead_to_xml, parse_document
from mocks.wire.validate import validate_bytes
from domain.calendar import OSLO
from tests.mocks.epj import test_epj
from tests.mocks.helsenorge import test_helsenorge
from tests.mocks.helsenorge.test_helsenorge import w  # noqa: F401  (the fixture: helsenorge with Ingrid, Per, Kari, Ola)
from mocks.helsenorge.memory_store import helsenorge_store
from mocks.kernel.memory import STORE_KINDS


@pytest.fixture(params=STORE_KINDS)
def store_kind(request, monkeypatch) -> str:
    """Both services on each store kind (the contract suites' fixtures live in their own directories)."""
    monkeypatch.setattr(test_epj.World, "kind", request.param)
    return request.param


@pytest.fixture
def new_store(store_kind):
    return lambda **kwargs: helsenorge_store(store_kind, **kwargs)

NOW = datetime(2025, 3, 10, 10, 0, tzinfo=OSLO)


def test_sjekk_status_and_status_svar_are_valid_documents_that_say_the_status():
    request = build_sjekk_status(sender=test_epj.HJEMMETJENESTEN, receiver=test_epj.HELSENORGE,
                                 patient=test_epj.PATIENT, gen_date=NOW, msg_id="q-1")
    body = msghead_to_xml(request)
    assert validate_bytes(body).valid
    parsed = parse_document(body)
    assert parsed.message_function is MessageFunction.DIGITALBRUKER and parsed.function is ProcessFunction.SJEKK_STATUS
    assert parsed.ack  # asynchronous, with AppRec
    for active in (True, False):
        answer = msghead_to_xml(build_status_svar(parsed, active=active, gen_date=NOW, msg_id=f"a-{active}"))
        assert validate_bytes(answer).valid
        reply = parse_document(answer)
        assert digital_status_of(reply) is active and reply.conversation_ref.ref_to_parent == "q-1"
    with pytest.raises(ValueError, match="expected a SjekkStatus"):
        build_status_svar(parse_document(msghead_to_xml(build_status_svar(parsed, active=True, gen_date=NOW,
                                                                            msg_id="x"))), active=True,
                          gen_date=NOW, msg_id="y")


def _ask(world, fnr: str, now: datetime = NOW):
    request = build_sjekk_status(
        sender=test_helsenorge.EPJ, receiver=world.core.sender,
        patient=test_helsenorge.Patient.with_fnr("Testesen", "X", fnr), gen_date=now, msg_id=world.epj_ids())
    out = world.core.receive(world.epj_envelope(request, now), None, now)
    return request, out


def test_helsenorge_answers_active_for_a_user_with_consent_and_not_for_others(w):  # noqa: F811
    world = w
    request, out = _ask(world, world.ingrid)
    assert [e.subject for e in out] == ["APPREC", MessageFunction.DIGITALBRUKER]
    assert parse_document(out[0].body).is_ok
    answer = parse_document(out[1].body)
    assert answer.function is ProcessFunction.STATUS_SVAR and digital_status_of(answer) is True
    assert world.store.tracker.get(answer.msg_id) is not None  # resent until the EPJ's AppRec
    # Someone who never logged in to helsenorge: receipted OK and answered "not active", never Avvist.
    stranger = test_helsenorge.fnr_born(date(1950, 6, 1), 300)
    _request, out = _ask(world, stranger)
    assert parse_document(out[0].body).is_ok and digital_status_of(parse_document(out[1].body)) is False
    # A user whose consent is not in force (given today: it works from tomorrow).
    late = world.person(date(1960, 2, 2), "Sigrid", consent=False)
    world.core.give_consent(late, NOW)
    assert digital_status_of(parse_document(_ask(world, late)[1][1].body)) is False
    assert digital_status_of(parse_document(_ask(world, late, NOW + timedelta(days=1, hours=1))[1][1].body)) is True


def test_the_epj_asks_remembers_the_answer_and_receipts_it():
    epj = test_epj.World()
    [out] = epj.core.check_digital_status(test_epj.PATIENT.fnr, staff_id="s1", now=NOW)
    request = parse_document(out.body)
    assert request.function is ProcessFunction.SJEKK_STATUS and out.to_her_id == test_epj.HN
    assert epj.core.delivery(request.msg_id) is not None
    assert epj.core.digital_status(test_epj.PATIENT.fnr) is None
    answer = build_status_svar(request, active=True, gen_date=NOW, msg_id="svar-1")
    replies = test_epj.deliver(epj, answer, now=NOW)
    assert [e.subject for e in replies] == ["APPREC"] and test_epj.apprec_of(replies[0]).is_ok
    assert epj.core.digital_status(test_epj.PATIENT.fnr) == (True, NOW)
    # Only for a patient of the actor's own service.
    with pytest.raises(Exception, match="does not receive services"):
        epj.core.check_digital_status(test_epj.PATIENT.fnr, staff_id="x1", now=NOW)
