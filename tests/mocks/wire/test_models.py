"""Wire models: XML ↔ dataclasses for MsgHead/Dialogmelding/xCal and AppRec."""

from __future__ import annotations

import copy
import random
import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from mocks.wire.apprec import apprec_error, apprec_for, apprec_to_xml, parse_apprec
from mocks.wire.codes import (
    NS_DIALOG_11,
    NS_MSGHEAD,
    NS_XCAL,
    OID_APPREC_ERROR,
    AppRecStatus,
    MessageFunction,
)
from mocks.wire.examples import (
    EXAMPLE_KINDS,
    HELSENORGE,
    HJEMMETJENESTEN,
    PATIENT,
    SYNTHETIC_HER_ID_RANGE,
    build_example,
    example_object,
    hent_planlagte_timer_example,
)
from mocks.wire.identifiers import IdentifierError, is_valid_fnr
from mocks.wire.models import (
    AppRec,
    AppRecVersion,
    CodedValue,
    DialogVersion,
    MsgHead,
    Organisation,
    Patient,
    ProcessFunction,
    VCalendar,
    VEvent,
    VisitStatus,
    WireFormatError,
    XmlPayload,
)
from mocks.wire.msghead import (
    build_avbestill_avtale,
    build_avtale,
    build_ekontakt_foresporsel,
    build_svar_avbestilling,
    build_svar_planlagte_timer,
    msghead_to_xml,
    new_msg_id,
    parse_document,
    parse_msghead,
    to_xml,
)
from mocks.wire.safexml import XmlRejected
from mocks.wire.xcal import XCAL_SCHEMA_PATH, load_xcal_schema, parse_xcal, xcal_to_xml

FIXTURES = Path(__file__).resolve().parents[4] / "shared" / "fixtures"
HN = FIXTURES / "helsenorge-Helsenorge.Messaging"
KS = FIXTURES / "ks-no-fiks-nhn-client" / "msh-client" / "src"
XSD_DIR = KS / "main" / "resources" / "xsd"
KS_SAMPLES = KS / "test" / "resources"

HN_EKONTAKT = HN / "Examples" / "SimpleSender" / "DIALOG_INNBYGGER_EKONTAKT.xml"
KS_SAMSVAR_11 = KS_SAMPLES / "dialogmelding" / "1.1" / "helsefaglig-dialog" / "samsvar-test-message.xml"
KS_DIALOG_10 = KS_SAMPLES / "dialogmelding" / "1.0" / "foresporsel-og-svar"
KS_APPREC_10_AVVIST = KS_SAMPLES / "app-rec" / "1.0" / "example-avvist.xml"
KS_APPREC_11_ALL = KS_SAMPLES / "app-rec" / "1.1" / "all-data.xml"

XCAL_KINDS = ("avtale", "planlagte-timer", "avbestilling")
MSGHEAD_KINDS = tuple(k for k in EXAMPLE_KINDS if not k.startswith("apprec"))
APPREC_KINDS = tuple(k for k in EXAMPLE_KINDS if k.startswith("apprec"))
OSLO = ZoneInfo("Europe/Oslo")
T0 = datetime(2025, 3, 10, 9, 15, tzinfo=OSLO)


def fixture(path: Path) -> bytes:
    if not path.exists():
        pytest.skip(f"public fixture not available: {path} (expected ../shared/fixtures beside the checkout)")
    return path.read_bytes()


def _schema_parser() -> etree.XMLParser:
    return etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)


@pytest.fixture(scope="module")
def message_schema() -> etree.XMLSchema:
    """Wrapper importing MsgHead, both Dialogmelding versions and our xCal subset."""
    if not XSD_DIR.is_dir():
        pytest.skip(f"KITH XSDs not available: {XSD_DIR} (expected ../shared/fixtures beside the checkout)")
    imports = {
        NS_MSGHEAD: XSD_DIR / "MsgHead-v1_2.xsd",
        NS_DIALOG_11: XSD_DIR / "dialogmelding-v1.1.xsd",
        "http://www.kith.no/xmlstds/dialog/2006-10-11": XSD_DIR / "dialogmelding-v1.0.xsd",
        NS_XCAL: XCAL_SCHEMA_PATH,
    }
    wrapper = (
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:test:wrapper">'
        + "".join(f'<xs:import namespace="{ns}" schemaLocation="{p.resolve().as_uri()}"/>' for ns, p in imports.items())
        + "</xs:schema>"
    )
    return etree.XMLSchema(etree.fromstring(wrapper.encode(), _schema_parser()))


@pytest.fixture(scope="module")
def apprec_schemas() -> dict[str, etree.XMLSchema]:
    if not XSD_DIR.is_dir():
        pytest.skip(f"KITH XSDs not available: {XSD_DIR} (expected ../shared/fixtures beside the checkout)")
    return {
        version: etree.XMLSchema(etree.parse(str(XSD_DIR / name), _schema_parser()))
        for version, name in (("1.0", "apprec-v1.0.xsd"), ("1.1", "apprec-v1.1.xsd"))
    }


def assert_valid(schema: etree.XMLSchema, root: etree._Element) -> None:
    assert schema.validate(root), "\n".join(str(e) for e in schema.error_log)


# --------------------------------------------------------------------------- examples: round trip


@pytest.mark.parametrize("kind", EXAMPLE_KINDS)
def test_example_round_trip_is_lossless_and_byte_stable(kind: str) -> None:
    data = build_example(kind)
    parsed = parse_document(data)
    assert parsed == example_object(kind)
    again = to_xml(parsed)
    assert parse_document(again) == parsed
    # Equal objects serialise to the same bytes, and the (pretty) example is already canonical.
    assert to_xml(parsed, pretty=True) == data
    assert to_xml(copy.deepcopy(parsed)) == again
    assert b"\n  <" not in again  # what goes on the bus is compact
    assert build_example(kind) == data  # deterministic


def test_unknown_example_kind_lists_valid_kinds() -> None:
    with pytest.raises(ValueError) as err:
        build_example("nope")
    for kind in EXAMPLE_KINDS:
        assert kind in str(err.value)


def test_examples_use_synthetic_identities_only() -> None:
    for kind in MSGHEAD_KINDS:
        msg = example_object(kind)
        assert isinstance(msg, MsgHead)
        for org in (msg.sender, msg.receiver, msg.sender.organisation, msg.receiver.organisation):
            assert org is not None and org.her_id in SYNTHETIC_HER_ID_RANGE
        fnr = msg.patient.fnr
        assert fnr is not None and is_valid_fnr(fnr)
        assert int(fnr[2:4]) > 80  # Test-Norge: birth month + 80
        for event in msg.calendar.events if msg.calendar else ():
            assert event.contact in SYNTHETIC_HER_ID_RANGE


def test_examples_carry_the_expected_functions_and_processes() -> None:
    expected = {
        "ekontakt": (ProcessFunction.FORESPORSEL, MessageFunction.EKONTAKT, True),
        "svar": (ProcessFunction.SVAR, MessageFunction.EKONTAKT, True),
        "avtale": (ProcessFunction.AVTALE, MessageFunction.AVTALEUTSENDING, True),
        "planlagte-timer": (ProcessFunction.SVAR_PLANLAGTE_TIMER, MessageFunction.TIMERESERVASJON, False),
        "avbestilling": (ProcessFunction.AVBESTILL_AVTALE, MessageFunction.AVTALEAVBESTILLING, True),
    }
    for kind, (function, process, ack) in expected.items():
        msg = parse_msghead(build_example(kind))
        assert (msg.function, msg.message_function, msg.ack) == (function, process, ack), kind
        assert msg.documents[0].content_description == function.value


# --------------------------------------------------------------------------- examples: schema validity


@pytest.mark.parametrize("kind", XCAL_KINDS)
def test_xcal_in_examples_validates_against_subset_xsd_alone(kind: str) -> None:
    root = etree.fromstring(build_example(kind))
    calendars = root.findall(f".//{{{NS_XCAL}}}icalendar")
    assert len(calendars) == 1
    standalone = etree.fromstring(etree.tostring(calendars[0]))
    assert_valid(load_xcal_schema(), standalone)


def test_xcal_subset_xsd_is_not_vacuous() -> None:
    root = etree.fromstring(build_example("avtale"))
    cal = etree.fromstring(etree.tostring(root.find(f".//{{{NS_XCAL}}}icalendar")))
    status = cal.find(f".//{{{NS_XCAL}}}status/{{{NS_XCAL}}}text")
    status.text = "DONE"
    assert not load_xcal_schema().validate(cal)
    status.text = "CONFIRMED"
    cal.find(f".//{{{NS_XCAL}}}contact").getparent().remove(cal.find(f".//{{{NS_XCAL}}}contact"))
    assert not load_xcal_schema().validate(cal)


def test_xcal_subset_xsd_header_says_it_is_ours() -> None:
    head = XCAL_SCHEMA_PATH.read_text(encoding="utf-8")[:1500]
    assert "NOT an official schema" in head and "RFC 6321" in head
    tree = etree.parse(str(XCAL_SCHEMA_PATH), _schema_parser()).getroot()
    assert tree.get("targetNamespace") == NS_XCAL and tree.get("elementFormDefault") == "qualified"


@pytest.mark.parametrize("kind", MSGHEAD_KINDS)
def test_example_msghead_validates_as_whole_message(kind: str, message_schema: etree.XMLSchema) -> None:
    assert_valid(message_schema, etree.fromstring(build_example(kind)))


@pytest.mark.parametrize("kind", APPREC_KINDS)
def test_example_apprec_validates(kind: str, apprec_schemas: dict[str, etree.XMLSchema]) -> None:
    rec = example_object(kind)
    assert isinstance(rec, AppRec)
    assert_valid(apprec_schemas[rec.version.value], etree.fromstring(build_example(kind)))


def test_apprec_10_output_validates(apprec_schemas: dict[str, etree.XMLSchema]) -> None:
    rec = apprec_for(example_object("avtale"), AppRecStatus.OK, version="1.0", gen_date=T0, msg_id="a-1")
    root = etree.fromstring(apprec_to_xml(rec))
    assert etree.QName(root).namespace == "http://www.kith.no/xmlstds/apprec/2004-11-21"
    assert_valid(apprec_schemas["1.0"], root)
    assert not apprec_schemas["1.1"].validate(root)
    assert parse_apprec(apprec_to_xml(rec)) == rec


def test_builders_not_in_examples_validate(message_schema: etree.XMLSchema) -> None:
    request = hent_planlagte_timer_example()
    svar_ok = build_svar_avbestilling(example_object("avbestilling"), gen_date=T0, msg_id="s-1", tekst="Avbestilt.")
    svar_no = build_svar_avbestilling(
        example_object("avbestilling"), gen_date=T0, msg_id="s-2", accepted=False, tekst="For sent."
    )
    empty = build_svar_planlagte_timer(request, events=(), gen_date=T0, msg_id="s-3")
    for msg in (request, svar_ok, svar_no, empty):
        data = msghead_to_xml(msg)
        assert_valid(message_schema, etree.fromstring(data))
        assert parse_msghead(data) == msg


# --------------------------------------------------------------------------- real fixtures


def test_hn_ekontakt_fixture_parses_to_expected_values() -> None:
    msg = parse_msghead(fixture(HN_EKONTAKT))
    assert msg.msg_id == "0d77d041-f010-4ec8-9105-f3dda92fc320"
    assert msg.msg_type == CodedValue("DIALOG_INNBYGGER_EKONTAKT", "Dialog med innbygger - eKontakt")
    assert msg.gen_date == datetime(2022, 10, 22, 14, 15, tzinfo=timezone.utc)
    assert msg.ack is True and msg.conversation_ref is None
    assert msg.sender.her_id == 115851 and msg.sender.level2_her_id == 8141333
    assert msg.sender.organisation.name == "Kenneths kommunikasjonspart 4"
    assert msg.receiver.level2_her_id == 8093244 and msg.receiver.service_her_id == 8093244
    assert msg.patient.fnr == "13116900216"
    assert (msg.patient.family_name, msg.patient.given_name) == ("Danser", "Line")
    doc = msg.documents[0]
    assert doc.content_description == "Bestille attest"
    assert doc.issue_date == datetime(2012, 11, 14, 9, 30, 47, tzinfo=timezone.utc)
    dialog = msg.dialogmelding
    assert dialog.version == DialogVersion.V1_1
    question = dialog.foresporsler[0]
    assert question.type_foresp == CodedValue("BA", "Bestille attest", "2.16.578.1.12.4.1.1.7601")
    assert question.sporsmal.startswith("Hei. Jeg skal ha eksamen neste måned")
    assert msg.function == ProcessFunction.FORESPORSEL


def test_ks_samsvar_11_fixture_parses_notat_and_keeps_attachment() -> None:
    msg = parse_msghead(fixture(KS_SAMSVAR_11))
    assert msg.gen_date == datetime(2025, 5, 13, 11, 56, 21)  # naive stays naive
    assert msg.processing_status == CodedValue("D", "Debugging")
    assert msg.patient.date_of_birth == date(2002, 7, 15)
    notat = msg.dialogmelding.notater[0]
    assert notat.tema_kodet.v == "8" and notat.tema_kodet.s == "2.16.578.1.12.4.1.1.7322"
    assert notat.tema == "EKG tatt i dag"
    attachment = msg.documents[1]
    assert (attachment.msg_type.v, attachment.mime_type, attachment.description) == ("A", "application/pdf", "small2.pdf")
    assert isinstance(attachment.content, XmlPayload)
    assert attachment.content.tag == "{http://www.kith.no/xmlstds/base64container}Base64Container"
    assert attachment.issue_date == datetime(2025, 5, 13, 11, 56, 21, 760739, tzinfo=timezone.utc)


def test_ks_dialogmelding_10_fixtures_parse_with_version() -> None:
    notat_msg = parse_msghead(fixture(KS_DIALOG_10 / "dialog-notat-webmed-test.xml"))
    assert notat_msg.dialogmelding.version == DialogVersion.V1_0
    notat = notat_msg.dialogmelding.notater[0]
    assert notat.tema_kodet.v == "99" and notat.dato_notat == date(2025, 6, 10)
    assert notat_msg.conversation_ref.ref_to_parent == "4f77040c-3610-4d17-bef1-76994ab2726b"
    assert notat_msg.gen_date.utcoffset() == timedelta(hours=3)
    assert [i.type_id.v for i in notat_msg.sender.idents] == ["HER", "ENH"]
    question_msg = parse_msghead(fixture(KS_DIALOG_10 / "dialog-foresporsel-samsvar-test.xml"))
    question = question_msg.dialogmelding.foresporsler[0]
    assert question_msg.dialogmelding.version == DialogVersion.V1_0
    assert question.type_foresp.v == "99" and "cetirizin" in question.sporsmal


def test_ks_apprec_10_avvist_fixture() -> None:
    rec = parse_apprec(fixture(KS_APPREC_10_AVVIST))
    assert rec.version == AppRecVersion.V1_0
    assert rec.status == CodedValue("2", "Avvist") and rec.status_code == AppRecStatus.AVVIST
    assert rec.errors == (CodedValue("E21", "Mottaker finnes ikke", OID_APPREC_ERROR, "Legen har sluttet"),)
    assert rec.sender.role == CodedValue("REQ", "Rekvirent")
    assert rec.sender.inst.type_id.v == "HER"  # sample has V=" HER"
    assert rec.sender.inst.persons[0].name == "Rita Lin"
    assert rec.receiver.inst.depts[0].id == "91126"
    assert rec.original_msg_id.id == "a6967e6a-8c0a-4be4-a647-c921d3086423"
    assert rec.original_msg_id.issue_date == datetime(2020, 6, 19, 17, 2, 15)


def test_ks_apprec_11_all_data_fixture() -> None:
    rec = parse_apprec(fixture(KS_APPREC_11_ALL))
    assert rec.version == AppRecVersion.V1_1 and rec.is_ok and rec.errors == ()
    assert rec.id == "f6d24037-a43f-4509-8dfa-88b578554858"
    assert (rec.sender.inst.name, rec.sender.inst.id) == ("KS-DIGITALE FELLESTJENESTER AS", "8142987")
    assert rec.sender.inst.depts[0].name == "Saksbehandling pasientopplysninger"
    assert rec.receiver.inst.persons[0].id == "9512"
    assert rec.original_msg_id.msg_type == CodedValue("DIALOG_HELSEFAGLIG", "Helsefaglig dialog")


def test_apprec_unknown_status_is_kept_as_sent() -> None:
    rec = parse_apprec(fixture(KS_SAMPLES / "app-rec" / "1.1" / "unknown-status.xml"))
    assert rec.status.v == "123" and rec.status_code is None and not rec.is_ok


ROUND_TRIP_FIXTURES = [
    HN_EKONTAKT,
    HN / "test" / "Helsenorge.Messaging.Tests" / "Files" / "Helsenorge_Message.xml",
    HN / "Examples" / "Helsenorge.Messaging.Client" / "Samples2" / "Dialogtjeneste12_Kommunikasjonstest_Request.xml",
    KS_SAMSVAR_11,
    KS_DIALOG_10 / "dialog-foresporsel-samsvar-test.xml",
    KS_DIALOG_10 / "dialog-notat-webmed-test.xml",
    KS_DIALOG_10 / "dialog-svar-webmed-test.xml",
    KS_APPREC_10_AVVIST,
    KS_APPREC_11_ALL,
    KS_SAMPLES / "app-rec" / "1.0" / "example-ok-feil-i-delmelding.xml",
    KS_SAMPLES / "app-rec" / "1.1" / "example-avvist.xml",
    HN / "test" / "Helsenorge.Messaging.Tests" / "Files" / "MetadataTests_Apprec10.xml",
    HN / "test" / "Helsenorge.Messaging.Tests" / "Files" / "MetadataTests_Apprec11.xml",
]


@pytest.mark.parametrize("path", ROUND_TRIP_FIXTURES, ids=lambda p: p.name)
def test_fixture_round_trip(path: Path) -> None:
    first = parse_document(fixture(path))
    data = to_xml(first)
    assert parse_document(data) == first
    assert to_xml(parse_document(data)) == data


@pytest.mark.parametrize(
    "path", [p for p in ROUND_TRIP_FIXTURES if "app-rec" not in str(p) and "Apprec" not in p.name], ids=lambda p: p.name
)
def test_reserialised_fixture_messages_stay_schema_valid(path: Path, message_schema: etree.XMLSchema) -> None:
    original = etree.fromstring(fixture(path))
    assert_valid(message_schema, original)
    assert_valid(message_schema, etree.fromstring(to_xml(parse_msghead(original))))


@pytest.mark.parametrize(
    ("name", "where"),
    [("missing-migversion.xml", "AppRec/MIGversion"), ("unknown-migversion.xml", "AppRec/MIGversion")],
)
def test_negative_apprec_fixtures_are_rejected(name: str, where: str) -> None:
    with pytest.raises(WireFormatError) as err:
        parse_apprec(fixture(KS_SAMPLES / "app-rec" / name))
    assert err.value.path == where


def test_negative_dialog_fixture_names_migversion() -> None:
    with pytest.raises(WireFormatError, match=r"MsgHead/MsgInfo/MIGversion: unsupported MIG version 'v1.1"):
        parse_msghead(fixture(KS_SAMPLES / "dialogmelding" / "invalid-version.xml"))


# --------------------------------------------------------------------------- apprec_for


def test_apprec_for_fills_original_msg_id_and_swaps_parties() -> None:
    original = example_object("ekontakt")
    rec = apprec_for(original, "2", errors=["E35"], gen_date=T0, msg_id="r-1")
    assert rec.original_msg_id.msg_type.v == original.msg_type.v == "DIALOG_INNBYGGER_EKONTAKT"
    assert rec.original_msg_id.issue_date == original.gen_date
    assert rec.original_msg_id.id == original.msg_id
    # the receiver of the original (the municipality) sends the receipt
    assert rec.sender.inst.id == str(HJEMMETJENESTEN.her_id)
    assert rec.sender.inst.depts[0].id == str(HJEMMETJENESTEN.organisation.her_id)
    assert rec.receiver.inst.id == str(HELSENORGE.her_id)
    assert rec.receiver.inst.depts[0].name == HELSENORGE.organisation.name
    assert rec.status == CodedValue("2", "Avvist")
    assert rec.errors == (CodedValue("E35", "Pasienten finnes ikke i mottakersystemet", OID_APPREC_ERROR),)
    assert (rec.version, rec.gen_date, rec.id) == (AppRecVersion.V1_1, T0, "r-1")


def test_apprec_for_enforces_status_error_consistency() -> None:
    original = example_object("avtale")
    with pytest.raises(ValueError, match="must not carry errors"):
        apprec_for(original, AppRecStatus.OK, errors=["E35"], gen_date=T0, msg_id="x")
    with pytest.raises(ValueError, match="needs at least one error"):
        apprec_for(original, AppRecStatus.AVVIST, gen_date=T0, msg_id="x")
    with pytest.raises(ValueError, match="8258"):
        apprec_for(original, "9", errors=["E35"], gen_date=T0, msg_id="x")
    with pytest.raises(ValueError, match="8221"):
        apprec_error("E99")


# --------------------------------------------------------------------------- parse errors


def _example_without(kind: str, local: str) -> bytes:
    root = etree.fromstring(build_example(kind))
    el = root.find(f".//{{{NS_MSGHEAD}}}{local}")
    el.getparent().remove(el)
    return etree.tostring(root)


def test_missing_msg_id_names_the_location() -> None:
    with pytest.raises(WireFormatError) as err:
        parse_msghead(_example_without("ekontakt", "MsgId"))
    assert "MsgInfo/MsgId" in str(err.value)
    assert err.value.path == "MsgHead/MsgInfo/MsgId" and err.value.rule == "required element missing"


def test_missing_receiver_names_the_location() -> None:
    with pytest.raises(WireFormatError, match=r"^MsgHead/MsgInfo/Receiver: required element missing$"):
        parse_msghead(_example_without("ekontakt", "Receiver"))


def test_wrong_root_is_rejected() -> None:
    with pytest.raises(WireFormatError, match="MsgHead"):
        parse_msghead(build_example("apprec-ok"))
    with pytest.raises(WireFormatError, match="AppRec"):
        parse_apprec(build_example("ekontakt"))
    with pytest.raises(WireFormatError, match="unsupported root element Foo"):
        parse_document(b"<Foo xmlns='urn:x'/>")


def test_bad_gen_date_and_ack_are_reported() -> None:
    data = build_example("ekontakt")
    with pytest.raises(WireFormatError, match=r"MsgHead/MsgInfo/GenDate: not an xs:dateTime"):
        parse_msghead(data.replace(b"2025-03-10T09:15:00+01:00</GenDate>", b"10.03.2025</GenDate>"))
    with pytest.raises(WireFormatError, match=r"MsgHead/MsgInfo/Ack/@V: expected J or N"):
        parse_msghead(data.replace(b'<Ack V="J"', b'<Ack V="X"'))


def test_unsafe_xml_is_refused_by_the_hardened_parser() -> None:
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><MsgHead>&e;</MsgHead>'
    with pytest.raises(XmlRejected) as err:
        parse_document(evil)
    assert err.value.rule == "xml.doctype-forbidden"


# --------------------------------------------------------------------------- xCal modelling


def _event(**overrides) -> VEvent:
    fields = dict(
        uid="3f2a0b8e-0000-4000-8000-000000000001",
        dtstamp=T0,
        dtstart=datetime(2025, 3, 13, 10, 0, tzinfo=OSLO),
        dtend=datetime(2025, 3, 13, 10, 30, tzinfo=OSLO),
        contact=9_900_101,
    )
    fields.update(overrides)
    return VEvent(**fields)


def test_completed_visit_is_confirmed_plus_x_property() -> None:
    cal = VCalendar(prodid="-//t//t//NO", events=(_event(status=VisitStatus.COMPLETED),))
    root = etree.fromstring(xcal_to_xml(cal))
    props = root.find(f".//{{{NS_XCAL}}}vevent/{{{NS_XCAL}}}properties")
    assert props.findtext(f"{{{NS_XCAL}}}status/{{{NS_XCAL}}}text") == "CONFIRMED"
    assert props.findtext(f"{{{NS_XCAL}}}x-digihelse-visit-state/{{{NS_XCAL}}}text") == "completed"
    assert props.findtext(f"{{{NS_XCAL}}}dtstart/{{{NS_XCAL}}}date-time") == "2025-03-13T09:00:00Z"
    assert parse_xcal(root) == cal
    assert_valid(load_xcal_schema(), root)


def test_delay_is_the_planned_start_plus_an_expected_start_x_property() -> None:
    late = datetime(2025, 3, 13, 10, 40, tzinfo=OSLO)
    cal = VCalendar(prodid="-//t//t//NO", events=(_event(status=VisitStatus.CONFIRMED, expected_start=late),))
    root = etree.fromstring(xcal_to_xml(cal))
    props = root.find(f".//{{{NS_XCAL}}}vevent/{{{NS_XCAL}}}properties")
    assert props.findtext(f"{{{NS_XCAL}}}dtstart/{{{NS_XCAL}}}date-time") == "2025-03-13T09:00:00Z"
    assert props.findtext(f"{{{NS_XCAL}}}x-digihelse-expected-start/{{{NS_XCAL}}}date-time") == "2025-03-13T09:40:00Z"
    assert parse_xcal(root) == cal
    assert_valid(load_xcal_schema(), root)
    assert parse_xcal(xcal_to_xml(VCalendar(prodid="p", events=(_event(),)))).events[0].expected_start is None


@pytest.mark.parametrize("minutes", [0, -5])
def test_an_expected_start_not_after_the_planned_start_is_refused(minutes: int) -> None:
    start = datetime(2025, 3, 13, 10, 0, tzinfo=OSLO)
    with pytest.raises(ValueError, match="expected_start .* must be after dtstart"):
        _event(expected_start=start + timedelta(minutes=minutes))


def test_completed_state_with_cancelled_status_is_rejected() -> None:
    cal = VCalendar(prodid="p", events=(_event(status=VisitStatus.COMPLETED),))
    data = xcal_to_xml(cal).replace(b"<text>CONFIRMED</text>", b"<text>CANCELLED</text>")
    with pytest.raises(WireFormatError, match="x-digihelse-visit-state: visit state 'completed' requires STATUS"):
        parse_xcal(data)


def test_xcal_parser_accepts_tzid_local_time() -> None:
    data = (
        f'<icalendar xmlns="{NS_XCAL}"><vcalendar><properties><prodid><text>p</text></prodid>'
        "<version><text>2.0</text></version></properties><components><vevent><properties>"
        "<uid><text>u</text></uid><dtstamp><date-time>2025-03-10T08:15:00Z</date-time></dtstamp>"
        "<dtstart><parameters><tzid><text>Europe/Oslo</text></tzid></parameters>"
        "<date-time>2025-07-01T10:00:00</date-time></dtstart>"
        "<dtend><date-time>2025-07-01T08:30:00Z</date-time></dtend>"
        "<contact><text>9900101</text></contact></properties></vevent></components></vcalendar></icalendar>"
    ).encode()
    event = parse_xcal(data).events[0]
    assert event.dtstart == datetime(2025, 7, 1, 8, 0, tzinfo=timezone.utc)  # CEST = UTC+2
    assert b"2025-07-01T08:00:00Z" in xcal_to_xml(parse_xcal(data))


def test_vevent_rejects_naive_or_inverted_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _event(dtstart=datetime(2025, 3, 13, 10, 0))
    with pytest.raises(ValueError, match="after dtstart"):
        _event(dtend=datetime(2025, 3, 13, 9, 0, tzinfo=OSLO))
    with pytest.raises(ValueError, match="HER-id"):
        _event(contact=0)


def test_avbestilling_and_svar_avbestilling_carry_the_appointment_uid() -> None:
    avtale = example_object("avtale")
    avbestilling = parse_msghead(build_example("avbestilling"))
    pushed = avtale.calendar.events[0]
    cancel = avbestilling.calendar
    assert cancel.method == "CANCEL"
    assert cancel.events[0].uid == pushed.uid and cancel.events[0].status == VisitStatus.CANCELLED
    assert cancel.events[0].contact == pushed.contact == HJEMMETJENESTEN.service_her_id
    assert avbestilling.dialogmelding.foresporsler[0].begrunnelse == "Jeg er på sykehuset den dagen."
    refused = build_svar_avbestilling(avbestilling, gen_date=T0, msg_id="s", accepted=False, tekst="Nei")
    assert refused.calendar.events[0].status == VisitStatus.CONFIRMED
    assert refused.conversation_ref.ref_to_parent == avbestilling.msg_id
    assert (refused.sender, refused.receiver) == (avbestilling.receiver, avbestilling.sender)
    assert refused.function == ProcessFunction.SVAR_AVBESTILLING


def test_planlagte_timer_lists_completed_and_planned_visits() -> None:
    msg = parse_msghead(build_example("planlagte-timer"))
    statuses = [e.status for e in msg.calendar.events]
    assert statuses == [VisitStatus.COMPLETED, VisitStatus.CONFIRMED, VisitStatus.CONFIRMED, VisitStatus.TENTATIVE]
    assert {e.staff_name for e in msg.calendar.events} == {"Eirik Solberg"}
    request = hent_planlagte_timer_example()
    assert msg.conversation_ref.ref_to_parent == request.msg_id
    window = request.dialogmelding.foresporsler[0]
    assert (window.fra_dato, window.til_dato) == (date(2025, 3, 9), date(2025, 3, 16))
    assert request.ack is False and request.function == ProcessFunction.HENT_PLANLAGTE_TIMER


# --------------------------------------------------------------------------- builders


def test_svar_references_the_original_and_echoes_the_question() -> None:
    question = example_object("ekontakt")
    svar = parse_msghead(build_example("svar"))
    assert svar.conversation_ref.ref_to_parent == question.msg_id
    assert svar.conversation_ref.ref_to_conversation == question.msg_id
    assert (svar.sender, svar.receiver, svar.patient) == (question.receiver, question.sender, question.patient)
    notat = svar.dialogmelding.notater[0]
    assert notat.foresporsel == question.dialogmelding.foresporsler[0]
    assert notat.tema_kodet == question.dialogmelding.foresporsler[0].type_foresp


def test_builders_check_the_process() -> None:
    with pytest.raises(ValueError, match="Avtale is not a function of DIALOG_INNBYGGER_EKONTAKT"):
        build_avtale(
            sender=HJEMMETJENESTEN,
            receiver=HELSENORGE,
            patient=PATIENT,
            events=_event(),
            gen_date=T0,
            msg_id="m",
            process=MessageFunction.EKONTAKT,
        )
    timereservasjon = build_avbestill_avtale(
        sender=HELSENORGE,
        receiver=HJEMMETJENESTEN,
        patient=PATIENT,
        event=_event(),
        gen_date=T0,
        msg_id="m",
        process=MessageFunction.TIMERESERVASJON,
    )
    assert timereservasjon.message_function == MessageFunction.TIMERESERVASJON
    with pytest.raises(ValueError, match="SvarAvbestilling is not a function of DIALOG_INNBYGGER_TIMERESERVASJON"):
        build_svar_avbestilling(timereservasjon, gen_date=T0, msg_id="n")


def test_convenience_constructors_validate_identifiers() -> None:
    with pytest.raises(IdentifierError):
        Organisation.with_her_id("Feil", 0)
    with pytest.raises(IdentifierError):
        Patient.with_fnr("Nordvik", "Ingrid", "07834121277")  # wrong check digit
    assert Organisation.with_her_id("OK", 9_900_123).her_id == 9_900_123
    assert Patient.with_fnr("Nordvik", "Ingrid", PATIENT.fnr).idents[0].type_id.v == "FNR"


def test_new_msg_id_is_uuid4_and_reproducible() -> None:
    a = [new_msg_id(rng=random.Random(7)) for _ in range(2)]
    assert a[0] == a[1]
    assert uuid.UUID(a[0]).version == 4
    fixed = uuid.UUID("12345678-1234-4234-8234-123456789abc")
    assert new_msg_id(uuid=fixed) == str(fixed)
    assert uuid.UUID(new_msg_id()).version == 4


def test_illegal_xml_characters_are_refused_on_write() -> None:
    msg = build_ekontakt_foresporsel(
        sender=HELSENORGE, receiver=HJEMMETJENESTEN, patient=PATIENT, sporsmal="bad \x00 byte", gen_date=T0, msg_id="m"
    )
    with pytest.raises(WireFormatError, match="Sporsmal: text contains characters not allowed in XML"):
        to_xml(msg)


# --------------------------------------------------------------------------- property test


def _xml_char(c: str) -> bool:
    o = ord(c)
    return o in (0x9, 0xA, 0xD) or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or o >= 0x10000


xml_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("<>&]]>'\"æøåÆØÅ\t\r\n ")),
        st.characters(codec="utf-8").filter(_xml_char),
    ),
    max_size=200,
) | st.sampled_from(["]]>", "<![CDATA[x]]>", "&amp;", "\r\n", "  ", ""])


@settings(max_examples=200, deadline=None)
@given(text=xml_text)
def test_sporsmal_text_survives_round_trip_exactly(text: str) -> None:
    msg = build_ekontakt_foresporsel(
        sender=HELSENORGE, receiver=HJEMMETJENESTEN, patient=PATIENT, sporsmal=text, gen_date=T0, msg_id="m-1"
    )
    parsed = parse_msghead(to_xml(msg))
    assert parsed.dialogmelding.foresporsler[0].sporsmal == text
    assert parsed == msg


def test_replace_keeps_models_comparable() -> None:
    # Frozen dataclasses: a changed copy is a different, still serialisable message.
    msg = example_object("ekontakt")
    other = replace(msg, msg_id="another")
    assert other != msg and parse_msghead(to_xml(other)).msg_id == "another"
