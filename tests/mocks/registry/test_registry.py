"""AR and CPPA: one parser for NHN's samples and our answers, registry rules, routing refusal, HTTP adapters."""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime, timedelta, timezone

import pytest
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from fastapi.testclient import TestClient
from lxml import etree

from mocks.registry import ar_soap, cppa_xml
from mocks.registry.core import Registry, cpa_id
from mocks.registry.http import ar_router, cppa_router
from mocks.registry.model import (
    HELSEPERSONELL,
    INNBYGGER,
    CommunicationParty,
    NoAgreement,
    NoProfile,
    PartyNotFound,
    PartyType,
    RegistryError,
)
from mocks.registry.processes import DIGIHELSE_PROCESSES, PROCESSES
from mocks.registry.seed import (
    HELSENORGE_HER_ID,
    HELSENORGE_ORG_HER_ID,
    SYNTHETIC_HER_ID_RANGE,
    default_parties,
    municipality_her_id,
    seed,
)
from mocks.registry.store import RegistryStore
from mocks.wire.safexml import XmlRejected

from tests.conftest import HN, KS, need

AR_SAMPLES = KS / "adresseregisteret-client" / "src" / "test" / "resources"
HN_FILES = HN / "test" / "Helsenorge.Registries.Tests" / "Files"
CPA_FIXTURE = "CPA_v2_51795e2c-9d39-44e0-9168-5bee38f20819.xml"

EKONTAKT = "DIALOG_INNBYGGER_EKONTAKT"
TIMERESERVASJON = "DIALOG_INNBYGGER_TIMERESERVASJON"
AVTALEUTSENDING = "DIALOG_INNBYGGER_AVTALEUTSENDING"
AVTALEAVBESTILLING = "DIALOG_INNBYGGER_AVTALEAVBESTILLING"
TEST = "DIALOG_INNBYGGER_TEST"

ULSTEIN = municipality_her_id("1516")
ULSTEIN_HJEMMESYKEPLEIE = municipality_her_id("1516", 1)
VOLDA_PRAKTISK = municipality_her_id("1577", 2)
HAREID_HJEMMESYKEPLEIE = municipality_her_id("1517", 1)


def ar_sample(name: str) -> bytes:
    return need(AR_SAMPLES / f"get-communication-party-details-{name}-response.xml").read_bytes()


@pytest.fixture
def registry() -> Registry:
    reg = Registry(her_id_range=SYNTHETIC_HER_ID_RANGE)
    seed(reg)
    return reg


# -- the AR client parser on NHN's published answers -------------------------------------------


@pytest.mark.parametrize(
    ("name", "her_id", "party_type", "parent", "parent_name", "display", "municipality", "valid"),
    [
        ("service", 8094866, PartyType.SERVICE, 112374, "Norsk Helsenett SF", "Meldingsvalidering", "5001", True),
        ("organzation", 8142987, PartyType.ORGANIZATION, None, None, "KS-DIGITALE FELLESTJENESTER AS", "0301", False),
        ("person", 115522, PartyType.PERSON, 84556, "Tysnes Helsesenter", "Anne-Marie Bach", None, True),
        ("with-parent", 55555, PartyType.ORGANIZATION, 987654, "Overordnet Organisasjon", "Et legekontor", "4601", False),
        ("no-parent", 12345, PartyType.ORGANIZATION, None, None, "Et legekontor", "4601", False),
    ],
)
def test_ar_fixture_responses_parse(name, her_id, party_type, parent, parent_name, display, municipality, valid):
    details = ar_soap.parse_communication_party_details(ar_sample(name))
    assert details.her_id == her_id
    assert details.type is party_type
    assert details.parent_her_id == parent
    assert details.parent_name == parent_name
    assert details.name == display  # DisplayName, else Name
    assert details.active is True
    assert details.is_valid_communication_party is valid
    if municipality is not None:
        assert details.municipality == municipality
    # None of KS's samples is on the service bus: no E_SB_* address, no queue.
    assert (details.async_queue_name, details.sync_queue_name, details.error_queue_name) == (None, None, None)


def test_organization_fixture_reads_its_own_fields_not_its_nested_services():
    details = ar_soap.parse_communication_party_details(ar_sample("organzation"))
    assert details.her_id == 8142987
    assert details.name == "KS-DIGITALE FELLESTJENESTER AS"  # DisplayName is nil there


def test_ar_fixture_not_found_fault_raises_party_not_found():
    with pytest.raises(PartyNotFound) as caught:
        ar_soap.parse_communication_party_details(ar_sample("not-found"))
    assert "eksisterer ikke" in caught.value.message


def test_helsenorge_bare_communication_party_gives_queue_names():
    data = need(HN_FILES / "CommunicationDetails_93238.xml").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # BOM and all
    details = ar_soap.parse_communication_party_details(data)
    assert details.her_id == 93238
    assert details.type is PartyType.PERSON
    assert details.name == "Alexander Dahl"
    assert details.parent_her_id == 93237
    assert details.parent_name == "DD fastlege UTV MUG"
    assert details.parent_organization_number == 999944999
    assert details.async_queue_name == "93238_async"
    assert details.sync_queue_name == "93238_sync"
    assert details.error_queue_name == "93238_error"
    assert details.municipality == "0301"  # AR wrote "301"


def test_client_parser_refuses_unsafe_xml():
    with pytest.raises(XmlRejected):
        ar_soap.parse_communication_party_details(b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>')


def test_other_faults_are_not_mistaken_for_not_found():
    fault = ar_soap.soap_fault("boom", code="s:Receiver", error_code="InternalError", message="boom")
    with pytest.raises(ar_soap.ArFault) as caught:
        ar_soap.parse_communication_party_details(fault)
    assert caught.value.error_code == "InternalError"


# -- our AR answers, read back with the same parser ----------------------------------------------


def test_our_response_for_a_seeded_service_parses_back(registry):
    party = registry.get(ULSTEIN_HJEMMESYKEPLEIE)
    xml = ar_soap.communication_party_details_response(
        party, registry.parent_of(party), server_time=datetime(2025, 1, 2, 3, 4, tzinfo=timezone.utc)
    )
    details = ar_soap.parse_communication_party_details(xml)
    assert details.her_id == ULSTEIN_HJEMMESYKEPLEIE
    assert details.name == "Hjemmesykepleie Ulstein"
    assert details.type is PartyType.SERVICE
    assert details.parent_her_id == ULSTEIN
    assert details.parent_name == "Ulstein kommune"
    assert details.municipality == "1516"
    assert details.active and details.is_valid_communication_party
    assert details.async_queue_name == f"{ULSTEIN_HJEMMESYKEPLEIE}_async"
    assert details.sync_queue_name == f"{ULSTEIN_HJEMMESYKEPLEIE}_sync"
    assert details.error_queue_name == f"{ULSTEIN_HJEMMESYKEPLEIE}_error"


def test_our_response_has_the_fixture_shape(registry):
    party = registry.get(ULSTEIN_HJEMMESYKEPLEIE)
    root = etree.fromstring(ar_soap.communication_party_details_response(party, registry.parent_of(party)))
    ns = {"s": ar_soap.NS_SOAP12, "cp": ar_soap.NS_CP, "b": ar_soap.NS_COMMON}
    result = root.find("s:Body/cp:GetCommunicationPartyDetailsResponse/cp:GetCommunicationPartyDetailsResult", ns)
    assert result.get(f"{{{ar_soap.NS_XSI}}}type") == "Service"
    codes = {
        a.findtext("b:TypeCodeValue", namespaces=ns): (a.findtext("b:Type/b:CodeText", namespaces=ns), a.findtext("b:Type/b:OID", namespaces=ns))
        for a in result.findall("cp:ElectronicAddresses/b:ElectronicAddress", ns)
    }
    assert codes == {
        "E_SB_ASYNC": ("Asynkron AMQP kø", "9044"),
        "E_SB_SYNC": ("Synkron AMQP kø", "9044"),
        "E_SB_ERROR": ("Feilmelding AMQP kø", "9044"),
    }
    assert result.findtext("cp:Municipality/b:OID", namespaces=ns) == "3402"
    assert result.findtext("cp:Type", namespaces=ns) == "Service"


def test_person_is_written_with_wcf_i_type_and_reads_back():
    person = CommunicationParty(her_id=9_990_001, name="Kari Nordmann", type=PartyType.PERSON)
    xml = ar_soap.communication_party_details_response(person)
    assert b'i:type="OrganizationPerson"' in xml
    details = ar_soap.parse_communication_party_details(xml)
    assert details.type is PartyType.PERSON and details.parent_her_id is None and details.municipality is None


def test_organization_response_lists_services_but_parses_as_the_organization(registry):
    org = registry.get(ULSTEIN)
    xml = ar_soap.communication_party_details_response(org, None, registry.children(ULSTEIN))
    assert xml.count(b"<HerId>") == 3
    details = ar_soap.parse_communication_party_details(xml)
    assert details.her_id == ULSTEIN and details.type is PartyType.ORGANIZATION and details.parent_her_id is None


def _fault_shape(xml: bytes) -> tuple:
    root = etree.fromstring(xml)
    ns = {"s": ar_soap.NS_SOAP12, "c": ar_soap.NS_COMMON}
    fault = root.find("s:Body/s:Fault", ns)
    text = fault.find("s:Reason/s:Text", ns)
    return (
        root.tag,
        fault.findtext("s:Code/s:Value", namespaces=ns).strip(),
        text.get("{http://www.w3.org/XML/1998/namespace}lang"),
        fault.findtext("s:Detail/c:GenericFault/c:ErrorCode", namespaces=ns).strip(),
        fault.findtext("s:Detail/c:GenericFault/c:Message", namespaces=ns).strip(),
        [etree.QName(e).localname for e in fault.iter() if isinstance(e.tag, str)],
    )


def test_not_found_fault_has_the_fixture_structure():
    assert _fault_shape(ar_soap.not_found_fault()) == _fault_shape(ar_sample("not-found"))
    with pytest.raises(PartyNotFound):
        ar_soap.parse_communication_party_details(ar_soap.not_found_fault())


def test_request_round_trip_and_dispatch():
    body = ar_soap.build_request(9915161)
    call = ar_soap.parse_request(body, ar_soap.request_content_type())
    assert call == ar_soap.SoapRequest("GetCommunicationPartyDetails", 9915161)
    # Without an action parameter the body element names the operation.
    assert ar_soap.parse_request(body, "application/soap+xml").operation == "GetCommunicationPartyDetails"
    assert ar_soap.action_from_content_type('application/soap+xml;charset=utf-8;action="urn:x/Ping"') == "urn:x/Ping"
    assert ar_soap.action_from_content_type("application/soap+xml; action=urn:x/Ping") == "urn:x/Ping"


def test_request_without_her_id_or_soap11_envelope():
    empty = (
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
        b'<GetCommunicationPartyDetails xmlns="http://register.nhn.no/CommunicationParty"/></s:Body></s:Envelope>'
    )
    assert ar_soap.parse_request(empty).her_id is None
    soap11 = b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>'
    with pytest.raises(ar_soap.SoapRequestError) as caught:
        ar_soap.parse_request(soap11)
    assert caught.value.subcode == "s:VersionMismatch"
    # Where SOAP 1.1 is accepted, the action comes from the SOAPAction header (quotes stripped by the caller).
    call = ar_soap.parse_request(SOAP11_DETAILS, "text/xml", soap_action=ar_soap.ACTION_BASE + "GetOrganizationDetails",
                                 versions=("1.1",))  # fmt: skip
    assert (call.operation, call.her_id, call.version) == ("GetOrganizationDetails", 9915161, "1.1")
    with pytest.raises(ar_soap.SoapRequestError) as caught:
        ar_soap.parse_request(ar_soap.build_request(1), versions=("1.1",))
    assert caught.value.subcode == "s:VersionMismatch"


SOAP11_DETAILS = (
    b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body>'
    b'<GetCommunicationPartyDetails xmlns="http://register.nhn.no/CommunicationParty"><herId>9915161</herId>'
    b"</GetCommunicationPartyDetails></e:Body></e:Envelope>"
)


# -- CPP / CPA ---------------------------------------------------------------------------------


def test_our_cpp_declares_each_process_with_its_actions(registry):
    profile = cppa_xml.parse_cpp(cppa_xml.build_cpp(registry.get(HELSENORGE_HER_ID)))
    assert profile.her_id == HELSENORGE_HER_ID
    processes = profile.processes()
    assert set(processes) == DIGIHELSE_PROCESSES
    assert processes[EKONTAKT] == {"Foresporsel", "Svar", "Apprec"}
    assert processes[TIMERESERVASJON] == {"HentPlanlagteTimer", "SvarPlanlagteTimer"}
    assert processes[AVTALEUTSENDING] == {"Avtale", "Apprec"}
    assert processes[AVTALEAVBESTILLING] == {"AvbestillAvtale", "SvarAvbestilling", "Apprec"}
    assert processes[TEST] == {"Foresporsel", "Svar"}
    assert all(profile.roles_in(p) == {INNBYGGER} for p in processes)


def test_cpp_directions_channels_and_endpoints(registry):
    profile = cppa_xml.parse_cpp(cppa_xml.build_cpp(registry.get(ULSTEIN_HJEMMESYKEPLEIE)))
    roles = {r.process: r for r in profile.roles}
    timer = roles[TIMERESERVASJON]
    assert timer.role == HELSEPERSONELL
    assert [b.action for b in timer.can_receive] == ["HentPlanlagteTimer"]
    assert [b.action for b in timer.can_send] == ["SvarPlanlagteTimer"]
    assert all(b.sync and b.endpoint.endswith(f"{ULSTEIN_HJEMMESYKEPLEIE}_sync") for b in timer.can_send)
    utsending = roles[AVTALEUTSENDING]
    assert {b.action for b in utsending.can_send} == {"Avtale"}
    assert {b.action for b in utsending.can_receive} == {"Apprec"}
    assert all(not b.sync and b.endpoint == f"sb.test.nhn.no/DigitalDialog/{ULSTEIN_HJEMMESYKEPLEIE}_async" for b in utsending.can_send)
    assert all(b.time_to_perform == "P180M" for r in profile.roles for b in (*r.can_send, *r.can_receive))


def test_fixture_cpp_parses():
    data = need(HN_FILES / "CPP_93238.xml").read_bytes()
    processes = cppa_xml.parse_cpp_processes(data)
    assert processes["DIALOG_INNBYGGER_EKONTAKT"] == {"DIALOG_INNBYGGER_EKONTAKT", "APPREC"}
    assert processes["DIALOG_INNBYGGER_BEHANDLEROVERSIKT"] == {"Hent", "Svar"}
    assert "DIALOG_INNBYGGER_TEST" in processes and "DIALOG_INNBYGGER_TIMERESERVASJON" in processes
    profile = cppa_xml.parse_cpp(data)
    assert profile.her_id == 93238
    test_role = next(r for r in profile.roles if r.process == "DIALOG_INNBYGGER_TEST")
    assert all(b.sync and b.endpoint == "sb.test.nhn.no/DigitalDialog/93238_sync" for b in test_role.can_send)


def test_fixture_cpa_parses():
    parsed = cppa_xml.parse_cpa(need(HN_FILES / CPA_FIXTURE).read_bytes())
    cpa, parties, processes, time_to_perform = parsed
    assert cpa == "51795e2c-9d39-44e0-9168-5bee38f20819"
    assert [p.her_id for p in parties] == [8093240, 8093238]
    assert {"Foresporsel", "Svar", "Apprec"} <= processes["DIALOG_INNBYGGER_EKONTAKT"]
    assert {"HentLedigeTimer", "AvbestillAvtale", "SvarLedigeTimer"} <= processes["DIALOG_INNBYGGER_TIMERESERVASJON"]
    assert time_to_perform == timedelta(minutes=180)
    assert parties[1].endpoints["syncAMQPChannelC2_8093238"] == "sb.test.nhn.no/NHNTESTServiceBus/8093238_sync"


def test_cpa_holds_only_common_processes_with_opposite_roles(registry):
    partial = CommunicationParty(
        her_id=9_915_163, name="Helsestasjon Ulstein", parent_her_id=ULSTEIN, municipality="1516",
        processes=frozenset({EKONTAKT, TEST}),
    )
    registry.register(partial)
    agreement = registry.agreement(partial.her_id, HELSENORGE_HER_ID)
    assert agreement.processes == {EKONTAKT, TEST}
    parsed = cppa_xml.parse_cpa(cppa_xml.build_cpa(agreement.cpa_id, agreement.first, agreement.second, agreement.processes))
    assert set(parsed.processes) == {EKONTAKT, TEST}
    assert parsed.cpa_id == agreement.cpa_id
    roles = {p.her_id: p.roles_in(EKONTAKT) for p in parsed.parties}
    assert roles == {HELSENORGE_HER_ID: {INNBYGGER}, partial.her_id: {HELSEPERSONELL}}
    assert parsed.time_to_perform == timedelta(hours=3)


def test_no_cpa_between_same_roles_or_without_common_process(registry):
    with pytest.raises(NoAgreement) as caught:
        registry.agreement(ULSTEIN_HJEMMESYKEPLEIE, VOLDA_PRAKTISK)  # both Helsepersonell
    assert str(ULSTEIN_HJEMMESYKEPLEIE) in caught.value.message and str(VOLDA_PRAKTISK) in caught.value.message
    with pytest.raises(NoAgreement):
        registry.agreement(HELSENORGE_HER_ID, HAREID_HJEMMESYKEPLEIE)
    with pytest.raises(PartyNotFound):
        registry.agreement(HELSENORGE_HER_ID, 9_999_999)


def test_cpa_id_is_deterministic_and_order_independent(registry):
    assert cpa_id(HELSENORGE_HER_ID, ULSTEIN_HJEMMESYKEPLEIE) == cpa_id(ULSTEIN_HJEMMESYKEPLEIE, HELSENORGE_HER_ID)
    assert cpa_id(HELSENORGE_HER_ID, ULSTEIN_HJEMMESYKEPLEIE) != cpa_id(HELSENORGE_HER_ID, VOLDA_PRAKTISK)
    forward = registry.agreement(HELSENORGE_HER_ID, ULSTEIN_HJEMMESYKEPLEIE)
    backward = registry.agreement(ULSTEIN_HJEMMESYKEPLEIE, HELSENORGE_HER_ID)
    assert forward == backward
    assert registry.agreement_by_id(forward.cpa_id) == forward
    assert registry.agreement_by_id(forward.cpa_id.upper()) == forward
    with pytest.raises(NoAgreement):
        registry.agreement_by_id("00000000-0000-0000-0000-000000000000")


def test_profile_of_a_party_without_processes_is_refused(registry):
    with pytest.raises(NoProfile):
        registry.profile(HAREID_HJEMMESYKEPLEIE)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("P180M", timedelta(minutes=180)), ("PT180M", timedelta(minutes=180)), ("P1DT2H", timedelta(days=1, hours=2)), ("PT30S", timedelta(seconds=30))],
)
def test_duration_reading(text, expected):
    assert cppa_xml.parse_duration(text) == expected


@pytest.mark.parametrize("text", ["P", "PT", "P1Y", "180", ""])
def test_duration_refusals(text):
    with pytest.raises(ValueError):
        cppa_xml.parse_duration(text)


# -- registry rules ------------------------------------------------------------------------------


def _rule(registry: Registry, party: CommunicationParty) -> tuple[str, str]:
    with pytest.raises(RegistryError) as caught:
        registry.register(party)
    return caught.value.field, caught.value.rule


def test_registration_edges(registry):
    ok = dict(her_id=9_915_169, name="Dagsenter Ulstein", parent_her_id=ULSTEIN, municipality="1516")
    assert _rule(registry, CommunicationParty(**{**ok, "her_id": ULSTEIN_HJEMMESYKEPLEIE})) == ("her_id", "herid.duplicate")
    assert _rule(registry, CommunicationParty(**{**ok, "parent_her_id": 9_999_998})) == ("parent_her_id", "parent.unknown")
    assert _rule(registry, CommunicationParty(**{**ok, "her_id": "0123"})) == ("her_id", "herid.format")
    assert _rule(registry, CommunicationParty(**{**ok, "municipality": "123"})) == ("municipality", "municipality.format")
    assert _rule(registry, CommunicationParty(**{**ok, "municipality": "15a6"})) == ("municipality", "municipality.format")
    assert _rule(registry, CommunicationParty(**{**ok, "name": "  "})) == ("name", "name.empty")
    assert _rule(registry, CommunicationParty(**{**ok, "her_id": 8_093_238})) == ("her_id", "herid.range")
    assert _rule(registry, CommunicationParty(**{**ok, "parent_her_id": 9_915_169})) == ("parent_her_id", "parent.self")
    assert _rule(registry, CommunicationParty(**{**ok, "processes": frozenset({"DIALOG_INNBYGGER_EKONTAKTT"})})) == (
        "processes",
        "process.unknown",
    )
    assert _rule(registry, CommunicationParty(**{**ok, "role": "Fastlege"})) == ("role", "role.unknown")  # type: ignore[arg-type]
    # Nothing refused was stored, and a correct one still goes in.
    assert registry.find(9_915_169) is None
    stored = registry.register(CommunicationParty(**{**ok, "processes": frozenset({"Dialog_Innbygger_Ekontakt"})}))
    assert stored.processes == {EKONTAKT}


def test_name_with_characters_xml_cannot_carry_is_refused(registry):
    party = CommunicationParty(her_id=9_915_168, name="Bad\x01name", parent_her_id=ULSTEIN)
    assert _rule(registry, party) == ("name", "name.characters")


def test_concurrent_registrations_store_each_party_once(tmp_path):
    registry = Registry(RegistryStore(tmp_path / "ar.sqlite"))
    outcomes: list[str] = []
    lock = threading.Lock()

    def register(her_id: int) -> None:
        try:
            registry.register(CommunicationParty(her_id=her_id, name=f"Tjeneste {her_id}"))
            result = "ok"
        except RegistryError as exc:
            result = exc.rule
        with lock:
            outcomes.append(result)

    # 40 distinct HER-ids, each attempted twice from different threads.
    threads = [threading.Thread(target=register, args=(9_990_100 + i % 40,)) for i in range(80)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["herid.duplicate"] * 40 + ["ok"] * 40
    assert len(registry.store) == 40 and len(Registry(registry.store).parties()) == 40


_xml_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("&<>\"'\t"), min_size=1, max_size=40
).filter(lambda s: s.strip() and s == s.strip())


@settings(max_examples=60, deadline=None)
@given(
    her_id=st.integers(min_value=1, max_value=999_999_999),
    name=_xml_text,
    party_type=st.sampled_from(list(PartyType)),
    municipality=st.none() | st.from_regex(r"\A[0-9]{4}\Z"),
    active=st.booleans(),
)
def test_any_registrable_party_round_trips_through_ar_soap(her_id, name, party_type, municipality, active):
    party = Registry().register(
        CommunicationParty(her_id=her_id, name=name, type=party_type, municipality=municipality, active=active)
    )
    details = ar_soap.parse_communication_party_details(ar_soap.communication_party_details_response(party))
    assert (details.her_id, details.name, details.type, details.municipality, details.active) == (
        her_id,
        name,
        party_type,
        municipality,
        active,
    )
    assert details.async_queue_name == f"{her_id}_async"


@given(st.integers(min_value=1, max_value=999_999_999), st.integers(min_value=1, max_value=999_999_999))
def test_cpa_id_ignores_order(a, b):
    assert cpa_id(a, b) == cpa_id(b, a)


def test_string_her_id_is_normalised():
    reg = Registry()
    stored = reg.register(CommunicationParty(her_id="8093238", name="Test"))  # type: ignore[arg-type]
    assert stored.her_id == 8093238 and reg.get(8093238).async_queue.endswith("/8093238_async")


def test_unknown_party_raises(registry):
    with pytest.raises(PartyNotFound) as caught:
        registry.get(9_999_999)
    assert "9999999" in str(caught.value)


def test_route_refusal_to_a_municipality_without_digihelse(registry):
    refusal = registry.route_check(HELSENORGE_HER_ID, HAREID_HJEMMESYKEPLEIE, EKONTAKT)
    assert refusal is not None
    assert refusal.rule == "route.process-not-activated"
    assert str(HAREID_HJEMMESYKEPLEIE) in refusal.message and EKONTAKT in refusal.message
    assert "Hareid" in refusal.message
    assert registry.route_check(HELSENORGE_HER_ID, ULSTEIN_HJEMMESYKEPLEIE, EKONTAKT) is None
    assert registry.route_check(ULSTEIN_HJEMMESYKEPLEIE, HELSENORGE_HER_ID, "Dialog_Innbygger_Avtaleutsending") is None


def test_route_refusal_edges(registry):
    assert registry.route_check(HELSENORGE_HER_ID, 9_999_999, EKONTAKT).rule == "route.unknown-receiver"
    assert registry.route_check(9_999_999, ULSTEIN_HJEMMESYKEPLEIE, EKONTAKT).rule == "route.unknown-sender"
    assert registry.route_check(ULSTEIN_HJEMMESYKEPLEIE, VOLDA_PRAKTISK, EKONTAKT).rule == "route.same-role"
    registry.update(dataclasses.replace(registry.get(ULSTEIN_HJEMMESYKEPLEIE), active=False))
    refusal = registry.route_check(HELSENORGE_HER_ID, ULSTEIN_HJEMMESYKEPLEIE, EKONTAKT)
    assert refusal.rule == "route.receiver-inactive" and str(ULSTEIN_HJEMMESYKEPLEIE) in refusal.message


def test_activation_lets_routing_through(registry):
    registry.activate(HAREID_HJEMMESYKEPLEIE, [EKONTAKT])
    assert registry.route_check(HELSENORGE_HER_ID, HAREID_HJEMMESYKEPLEIE, EKONTAKT) is None
    assert registry.route_check(HELSENORGE_HER_ID, HAREID_HJEMMESYKEPLEIE, TIMERESERVASJON) is not None
    assert registry.agreement(HELSENORGE_HER_ID, HAREID_HJEMMESYKEPLEIE).processes == {EKONTAKT}
    registry.deactivate(HAREID_HJEMMESYKEPLEIE, [EKONTAKT])
    assert registry.route_check(HELSENORGE_HER_ID, HAREID_HJEMMESYKEPLEIE, EKONTAKT) is not None


# -- seed ----------------------------------------------------------------------------------------


def test_seed_is_deterministic_and_covers_the_story(registry):
    parties = default_parties()
    assert [p.her_id for p in parties] == [p.her_id for p in default_parties()]
    assert all(p.her_id in SYNTHETIC_HER_ID_RANGE for p in parties)
    assert len({p.her_id for p in parties}) == len(parties)
    helsenorge = registry.get(HELSENORGE_HER_ID)
    assert helsenorge.role == INNBYGGER and helsenorge.processes == DIGIHELSE_PROCESSES
    assert registry.get(HELSENORGE_ORG_HER_ID).type is PartyType.ORGANIZATION
    vendors = {p.vendor for p in parties if p.type is PartyType.ORGANIZATION and p.vendor}
    assert vendors == {"Gerica", "Profil", "DIPS Front", "CosDoc"}
    not_activated = [p for p in parties if p.type is PartyType.SERVICE and not p.processes]
    assert {p.municipality for p in not_activated} == {"1517"}
    assert seed(registry) == []  # idempotent
    assert set(PROCESSES) == DIGIHELSE_PROCESSES


# -- store -------------------------------------------------------------------------------------


def test_store_persists_across_reopen(tmp_path):
    path = tmp_path / "ar.sqlite"
    with RegistryStore(path) as store:
        registry = Registry(store)
        seed(registry)
        registry.activate(HAREID_HJEMMESYKEPLEIE, [EKONTAKT])
    with RegistryStore(path) as store:
        assert len(store) == len(default_parties())
        reopened = Registry(store)
        assert reopened.get(HAREID_HJEMMESYKEPLEIE).processes == {EKONTAKT}
        assert reopened.get(HELSENORGE_HER_ID) == next(p for p in default_parties() if p.her_id == HELSENORGE_HER_ID)
        assert [p.her_id for p in store.children(ULSTEIN)] == [ULSTEIN_HJEMMESYKEPLEIE, ULSTEIN_HJEMMESYKEPLEIE + 1]
        assert seed(reopened) == []
        assert store.get(9_999_999) is None


def test_store_round_trips_every_field(tmp_path):
    store = RegistryStore(tmp_path / "x.sqlite")
    party = CommunicationParty(
        her_id=9_990_010, name="Æøå kommune", type=PartyType.ORGANIZATION, municipality="0301",
        municipality_name="Oslo", active=False, processes=frozenset({EKONTAKT}), role=INNBYGGER,
        vendor="Gerica", async_queue="h/q_async",
    )
    store.add(party)
    assert store.get(party.her_id) == party
    with pytest.raises(KeyError):
        store.add(party)
    with pytest.raises(KeyError):
        store.update(dataclasses.replace(party, her_id=9_990_011))
    store.close()


# -- HTTP --------------------------------------------------------------------------------------


@pytest.fixture
def app_client(registry):
    registered: list[CommunicationParty] = []
    app = FastAPI()
    clock = lambda: datetime(2025, 6, 3, 8, 0, tzinfo=timezone.utc)  # noqa: E731
    app.include_router(ar_router(registry, registered.append, clock=clock), prefix="/ar")
    app.include_router(cppa_router(registry), prefix="/cppa")
    with TestClient(app) as client:
        yield client, registered


def _soap_post(client, body: bytes, content_type: str | None = None):
    return client.post("/ar/soap", content=body, headers={"content-type": content_type or ar_soap.request_content_type()})


def test_http_soap_lookup(app_client):
    client, _ = app_client
    response = _soap_post(client, ar_soap.build_request(ULSTEIN_HJEMMESYKEPLEIE))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/soap+xml")
    details = ar_soap.parse_communication_party_details(response.content)
    assert details.her_id == ULSTEIN_HJEMMESYKEPLEIE and details.async_queue_name == f"{ULSTEIN_HJEMMESYKEPLEIE}_async"
    assert b"<ServerTime>2025-06-03T08:00:00+00:00</ServerTime>" in response.content


def test_http_soap_unknown_her_id_is_a_500_fault(app_client):
    client, _ = app_client
    response = _soap_post(client, ar_soap.build_request(9_999_999))
    assert response.status_code == 500
    assert _fault_shape(response.content) == _fault_shape(ar_soap.not_found_fault())
    with pytest.raises(PartyNotFound):
        ar_soap.parse_communication_party_details(response.content)


def test_http_soap_refusals(app_client):
    client, _ = app_client
    assert _soap_post(client, ar_soap.build_request(1), "text/plain").status_code == 415
    # /soap/Basic is NHN's BasicHttpBinding: SOAP 1.1 only
    refused = client.post("/ar/soap/Basic", content=ar_soap.build_request(1), headers={"content-type": ar_soap.request_content_type()})
    assert refused.status_code == 415 and "text/xml" in refused.text
    bad = _soap_post(client, b"<not xml", "application/soap+xml")
    assert bad.status_code == 400 and b"Fault" in bad.content
    xxe = _soap_post(client, b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>', "application/soap+xml")
    assert xxe.status_code == 400 and b"xml.doctype-forbidden" in xxe.content
    other = _soap_post(client, ar_soap.build_request(1), ar_soap.request_content_type(ar_soap.ACTION_BASE + "GetChangeLog"))
    assert other.status_code == 500 and b"ActionNotSupported" in other.content


@pytest.mark.parametrize("path", ["/ar/soap", "/ar/soap/Basic"])
def test_http_soap11_is_answered_in_soap11(app_client, path):
    client, _ = app_client
    headers = {"content-type": "text/xml; charset=utf-8", "SOAPAction": f'"{ar_soap.ACTION_GET_DETAILS}"'}
    found = client.post(path, content=SOAP11_DETAILS.replace(b"9915161", str(ULSTEIN_HJEMMESYKEPLEIE).encode()),
                        headers=headers)  # fmt: skip
    assert found.status_code == 200 and found.headers["content-type"].startswith("text/xml")
    root = etree.fromstring(found.content)
    assert root.tag == "{http://schemas.xmlsoap.org/soap/envelope/}Envelope"
    assert root.findtext(".//{http://register.nhn.no/CommunicationParty}HerId") == str(ULSTEIN_HJEMMESYKEPLEIE)
    missing = client.post(path, content=SOAP11_DETAILS.replace(b"9915161", b"9999999"), headers=headers)
    assert missing.status_code == 500
    fault = etree.fromstring(missing.content).find(".//{http://schemas.xmlsoap.org/soap/envelope/}Fault")
    assert fault.findtext("faultcode") == "s:Client" and fault.findtext("faultstring") == ar_soap.NOT_FOUND_MESSAGE
    assert fault.findtext("detail/{http://register.nhn.no/Common}GenericFault/{http://register.nhn.no/Common}ErrorCode") == ar_soap.ERROR_INVALID_HERID


def test_http_party_list_shape(app_client, registry):
    client, _ = app_client
    response = client.get("/ar/api/parties")
    assert response.status_code == 200
    parties = response.json()
    assert [p["herId"] for p in parties] == [p.her_id for p in registry.parties()]
    service = next(p for p in parties if p["herId"] == ULSTEIN_HJEMMESYKEPLEIE)
    assert {"herId", "name", "type", "parentHerId", "municipality", "queues", "processes", "active"} <= service.keys()
    assert service["queues"] == {
        "async": f"sb.test.nhn.no/DigitalDialog/{ULSTEIN_HJEMMESYKEPLEIE}_async",
        "sync": f"sb.test.nhn.no/DigitalDialog/{ULSTEIN_HJEMMESYKEPLEIE}_sync",
        "error": f"sb.test.nhn.no/DigitalDialog/{ULSTEIN_HJEMMESYKEPLEIE}_error",
    }
    assert service["type"] == "Service" and service["parentHerId"] == ULSTEIN and service["municipality"] == "1516"
    assert service["processes"] == sorted(DIGIHELSE_PROCESSES)
    one = client.get(f"/ar/api/parties/{ULSTEIN_HJEMMESYKEPLEIE}")
    assert one.status_code == 200 and one.json() == service
    missing = client.get("/ar/api/parties/9999999")
    assert missing.status_code == 404 and "9999999" in missing.json()["detail"]


def test_http_register_calls_on_register_once(app_client, registry):
    client, registered = app_client
    body = {"herId": 9_915_165, "name": "Hjemmehjelp Ulstein", "parentHerId": ULSTEIN, "municipality": "1516",
            "processes": [EKONTAKT]}
    response = client.post("/ar/api/parties", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["queues"]["async"].endswith("/9915165_async")
    assert [p.her_id for p in registered] == [9_915_165]
    assert registry.get(9_915_165).processes == {EKONTAKT}
    duplicate = client.post("/ar/api/parties", json=body)
    assert duplicate.status_code == 409
    assert duplicate.json()["detail"][0] == {**duplicate.json()["detail"][0], "field": "herId", "rule": "herid.duplicate"}
    assert len(registered) == 1
    # The new party is visible over SOAP right away.
    assert ar_soap.parse_communication_party_details(_soap_post(client, ar_soap.build_request(9_915_165)).content).her_id == 9_915_165


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"herId": "0123"}, "herId", "herid.format"),
        ({"municipality": "123"}, "municipality", "municipality.format"),
        ({"parentHerId": 9_999_998}, "parentHerId", "parent.unknown"),
        ({"name": ""}, "name", "name.empty"),
        ({"role": "Fastlege"}, "role", "request.literal_error"),
        ({"herId": None}, "herId", None),
        ({"surprise": 1}, "surprise", "request.extra_forbidden"),
    ],
)
def test_http_register_refusals_name_field_and_rule(app_client, change, field, rule):
    client, registered = app_client
    body = {"herId": 9_915_166, "name": "Test", "parentHerId": ULSTEIN, "municipality": "1516", **change}
    response = client.post("/ar/api/parties", json=body)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(e["field"].startswith(field) and (rule is None or e["rule"] == rule) for e in errors), errors
    assert registered == []


def test_http_register_refuses_non_json(app_client):
    client, _ = app_client
    response = client.post("/ar/api/parties", content=b"{", headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["detail"][0]["rule"] == "request.json_invalid"


def test_http_cppa_endpoints(app_client):
    client, _ = app_client
    cpp = client.get(f"/cppa/Profiles/{ULSTEIN_HJEMMESYKEPLEIE}")
    assert cpp.status_code == 200 and cpp.headers["content-type"].startswith("application/xml")
    assert set(cppa_xml.parse_cpp_processes(cpp.content)) == DIGIHELSE_PROCESSES
    pair = client.get(f"/cppa/Agreements/HerIds/{HELSENORGE_HER_ID}/{ULSTEIN_HJEMMESYKEPLEIE}")
    reverse = client.get(f"/cppa/Agreements/HerIds/{ULSTEIN_HJEMMESYKEPLEIE}/{HELSENORGE_HER_ID}")
    assert pair.status_code == reverse.status_code == 200
    assert pair.content == reverse.content
    parsed = cppa_xml.parse_cpa(pair.content)
    by_id = client.get(f"/cppa/Agreements/{parsed.cpa_id}")
    assert by_id.status_code == 200 and by_id.content == pair.content


def test_http_cppa_not_found(app_client):
    client, _ = app_client
    assert client.get("/cppa/Profiles/9999999").status_code == 404
    no_profile = client.get(f"/cppa/Profiles/{HAREID_HJEMMESYKEPLEIE}")
    assert no_profile.status_code == 404 and str(HAREID_HJEMMESYKEPLEIE) in no_profile.json()["detail"]
    no_common = client.get(f"/cppa/Agreements/HerIds/{HELSENORGE_HER_ID}/{HAREID_HJEMMESYKEPLEIE}")
    assert no_common.status_code == 404
    detail = no_common.json()["detail"]
    assert str(HELSENORGE_HER_ID) in detail and str(HAREID_HJEMMESYKEPLEIE) in detail
    assert client.get("/cppa/Agreements/HerIds/9999999/9900001").status_code == 404
    assert client.get("/cppa/Agreements/not-a-cpa").status_code == 404
