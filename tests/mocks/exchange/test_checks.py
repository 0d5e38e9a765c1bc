"""The receiver refuses what Helsenorge.Messaging refuses, with the same errorCondition and data."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from mocks.exchange.checks import (
    ACCEPTED_CONTENT_TYPES,
    Checked,
    TransportError,
    check_incoming,
    sender_her_ids,
    transport_error_envelope,
)
from mocks.exchange.envelope import (
    CONTENT_TYPE_PLAIN,
    CONTENT_TYPE_PROTECTED,
    CONTENT_TYPE_SOAP,
    Envelope,
    ErrorCondition,
)
from mocks.wire.codes import NS_APPREC_10, NS_APPREC_11, NS_MSGHEAD
from mocks.wire.safexml import parse_xml

from tests.conftest import HN, need

LEVEL1 = 115851
LEVEL2 = 8141333
HELSENORGE = 8093244
EKONTAKT_FIXTURE = HN / "Examples" / "SimpleSender" / "DIALOG_INNBYGGER_EKONTAKT.xml"
APPREC10_FIXTURE = HN / "test" / "Helsenorge.Messaging.Tests" / "Files" / "MetadataTests_Apprec10.xml"

HEADER_FIELDS = ["fromHerId", "toHerId", "subject", "applicationTimeStamp", "contentType"]


def _org(name: str, her_id: int | None, inner: str = "") -> str:
    ident = (
        f'<Ident><Id>{her_id}</Id><TypeId V="HER" DN="HER-id" S="2.16.578.1.12.4.1.1.9051"/></Ident>'
        if her_id is not None
        else '<Ident><Id>974600951</Id><TypeId V="ENH" DN="Organisasjonsnummeret"/></Ident>'
    )
    return f"<Organisation><OrganisationName>{name}</OrganisationName>{ident}{inner}</Organisation>"


def msghead(sender_l1: int | None = LEVEL1, sender_l2: int | None = LEVEL2) -> bytes:
    inner = _org("Hjemmetjenesten", sender_l2) if sender_l2 is not None else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<MsgHead xmlns="{NS_MSGHEAD}">
  <MsgInfo>
    <Type V="DIALOG_INNBYGGER_EKONTAKT" DN="Dialog med innbygger - eKontakt"/>
    <MIGversion>v1.2 2006-05-24</MIGversion>
    <GenDate>2024-05-02T08:30:00Z</GenDate>
    <MsgId>0d77d041-f010-4ec8-9105-f3dda92fc320</MsgId>
    <Sender>{_org("Testkommune", sender_l1, inner)}</Sender>
    <Receiver>{_org("Norsk helsenett", 115851, _org("Helsenorge.no", HELSENORGE))}</Receiver>
  </MsgInfo>
</MsgHead>""".encode()


def apprec(ns: str, inst: int, dept: int | None) -> bytes:
    dept_xml = (
        f'<Dept><Name>Hjemmetjenesten</Name><Id>{dept}</Id><TypeId V="HER" DN="HER-id"/></Dept>' if dept else ""
    )
    return f"""<AppRec xmlns="{ns}">
  <MsgType V="APPREC"/>
  <GenDate>2024-05-02T08:31:00Z</GenDate>
  <Id>A76D8934-D4BA-4A22-8F5D-5DF5E3FC5756</Id>
  <Sender><Role V="REQ"/><HCP><Inst>
    <Name>Testkommune</Name><Id>{inst}</Id><TypeId V="HER" DN="HER-id"/>{dept_xml}
  </Inst></HCP></Sender>
  <Receiver><Role V="RECEIVER"/><HCP><Inst>
    <Name>Helsenorge</Name><Id>{HELSENORGE}</Id><TypeId V="HER"/>
  </Inst></HCP></Receiver>
  <Status V="1" DN="OK"/>
</AppRec>""".encode()


def incoming(body: bytes | None = None, **kwargs) -> Envelope:
    fields = dict(
        message_id="amqp-1",
        to=f"{HELSENORGE}_async",
        subject="DIALOG_INNBYGGER_EKONTAKT",
        body=msghead() if body is None else body,
        content_type=CONTENT_TYPE_PLAIN,
        reply_to=f"{LEVEL2}_async",
        from_her_id=LEVEL2,
        to_her_id=HELSENORGE,
        application_timestamp=datetime(2024, 5, 2, 8, 30, tzinfo=timezone.utc),
    )
    fields.update(kwargs)
    return Envelope(**fields)


def error_of(envelope: Envelope, **kwargs) -> TransportError:
    checked = check_incoming(envelope, **kwargs)
    assert checked.error is not None, "expected the receiver to refuse this envelope"
    assert not checked.ok
    return checked.error


# -- header fields --------------------------------------------------------

MISSING = {
    "fromHerId": {"from_her_id": None},
    "toHerId": {"to_her_id": 0},
    "subject": {"subject": ""},
    "applicationTimeStamp": {"application_timestamp": None},
    "contentType": {"content_type": None},
}


@pytest.mark.parametrize("field", HEADER_FIELDS)
def test_each_missing_header_field_alone(field: str):
    err = error_of(incoming(**MISSING[field]))
    assert err.condition is ErrorCondition.INVALID_FIELD_VALUE
    assert err.data == [field]
    assert field in err.description


def test_all_missing_header_fields_are_listed_together():
    everything = {k: v for change in MISSING.values() for k, v in change.items()}
    err = error_of(incoming(**everything))
    assert err.condition is ErrorCondition.INVALID_FIELD_VALUE
    assert err.data == HEADER_FIELDS
    assert all(name in err.description for name in HEADER_FIELDS)


def test_zero_her_ids_and_dotnet_min_timestamp_count_as_missing():
    err = error_of(incoming(from_her_id=0, application_timestamp=datetime.min, subject="  "))
    assert err.data == ["fromHerId", "subject", "applicationTimeStamp"]


# -- content type ---------------------------------------------------------


def test_protected_payload_is_reported_as_unsupported_for_now():
    err = error_of(incoming(body=b"\x30\x82\x01\x00", content_type=CONTENT_TYPE_PROTECTED))
    assert err.condition is ErrorCondition.UNSUPPORTED_MESSAGE
    assert "CMS" in err.description


def test_content_type_comparison_ignores_case_and_spacing():
    assert check_incoming(incoming(content_type="Text/Plain")).ok
    err = error_of(incoming(content_type="application/PKCS7-mime;smime-type=signed-and-enveloped-data"))
    assert err.condition is ErrorCondition.UNSUPPORTED_MESSAGE


@pytest.mark.parametrize("content_type", ["application/xml", CONTENT_TYPE_SOAP, "application/pkcs7-mime"])
def test_other_content_types_are_invalid_field_values(content_type: str):
    err = error_of(incoming(content_type=content_type))
    assert err.condition is ErrorCondition.INVALID_FIELD_VALUE
    assert err.data == ["contentType"]


def test_allowed_content_types_can_be_narrowed():
    err = error_of(incoming(content_type=CONTENT_TYPE_PROTECTED), allowed_content_types={CONTENT_TYPE_PLAIN})
    assert err.condition is ErrorCondition.INVALID_FIELD_VALUE
    assert err.data == ["contentType"]
    assert CONTENT_TYPE_PLAIN in ACCEPTED_CONTENT_TYPES


# -- XML ------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"Hei, dette er ikke XML", b"", b"<MsgHead><MsgInfo></MsgHead>"])
def test_non_xml_body_is_not_well_formed(body: bytes):
    err = error_of(incoming(body=body))
    assert err.condition is ErrorCondition.NOT_WELL_FORMED_XML
    assert "xml.not-well-formed" in err.description
    assert err.data == ["xml.not-well-formed"]


def test_doctype_body_is_refused_with_the_parser_rule():
    body = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    err = error_of(incoming(body=body))
    assert err.condition is ErrorCondition.NOT_WELL_FORMED_XML
    assert "xml.doctype-forbidden" in err.description
    assert "DOCTYPE" in err.description


def test_oversized_body_is_refused_with_the_parser_rule():
    err = error_of(incoming(), max_bytes=100)
    assert err.condition is ErrorCondition.NOT_WELL_FORMED_XML
    assert "xml.too-large" in err.description


# -- sender HER-id --------------------------------------------------------


@pytest.mark.parametrize("from_her_id", [LEVEL2, LEVEL1])
def test_valid_ekontakt_passes_with_either_level(from_her_id: int):
    checked = check_incoming(incoming(from_her_id=from_her_id))
    assert checked == Checked(root=checked.root, error=None)
    assert checked.ok
    assert checked.root is not None and checked.root.tag == f"{{{NS_MSGHEAD}}}MsgHead"


def test_level1_only_sender_matches_level1():
    assert check_incoming(incoming(body=msghead(sender_l2=None), from_her_id=LEVEL1)).ok
    err = error_of(incoming(body=msghead(sender_l2=None), from_her_id=LEVEL2))
    assert err.condition is ErrorCondition.SPOOFING
    assert err.data == [str(LEVEL2), str(LEVEL1)]


def test_public_ekontakt_sample_passes():
    body = need(EKONTAKT_FIXTURE).read_bytes()
    assert sender_her_ids(parse_xml(body)) == [str(LEVEL1), str(LEVEL2)]
    assert check_incoming(incoming(body=body, from_her_id=LEVEL2)).ok
    assert check_incoming(incoming(body=body, from_her_id=LEVEL1)).ok


def test_spoofed_sender_is_an_abuse_report_with_expected_and_received():
    checked = check_incoming(incoming(from_her_id=999999))
    assert checked.error is not None
    assert checked.error.condition is ErrorCondition.SPOOFING
    assert checked.error.data == ["999999", str(LEVEL2)]
    assert "999999" in checked.error.description
    assert checked.root is not None, "the parsed payload is still handed back for logging"


def test_sender_without_any_her_id_cannot_be_verified():
    err = error_of(incoming(body=msghead(sender_l1=None, sender_l2=None)))
    assert err.condition is ErrorCondition.INVALID_FIELD_VALUE
    assert err.data == [str(LEVEL2), ""]


@pytest.mark.parametrize("ns", [NS_APPREC_10, NS_APPREC_11])
def test_apprec_sender_is_inst_or_dept(ns: str):
    body = apprec(ns, inst=LEVEL1, dept=LEVEL2)
    env = incoming(body=body, subject="APPREC")
    assert check_incoming(replace(env, from_her_id=LEVEL1)).ok
    assert check_incoming(replace(env, from_her_id=LEVEL2)).ok
    err = error_of(replace(env, from_her_id=HELSENORGE))
    assert err.condition is ErrorCondition.SPOOFING
    assert err.data == [str(HELSENORGE), str(LEVEL2)]


def test_apprec_without_dept_uses_inst():
    body = apprec(NS_APPREC_11, inst=LEVEL2, dept=None)
    assert check_incoming(incoming(body=body, subject="APPREC")).ok
    assert error_of(incoming(body=body, subject="APPREC", from_her_id=LEVEL1)).data == [str(LEVEL1), str(LEVEL2)]


def test_public_apprec10_sample_sender():
    root = parse_xml(need(APPREC10_FIXTURE).read_bytes())
    assert sender_her_ids(root) == ["59", "90998"]


def test_unknown_document_types_are_not_sender_checked():
    assert check_incoming(incoming(body=b"<Annet xmlns='urn:x'><Id>1</Id></Annet>")).ok


# -- error message --------------------------------------------------------

NOW = datetime(2024, 5, 2, 10, 30, 15, tzinfo=timezone(timedelta(hours=2)))


def test_transport_error_envelope_fields():
    original = incoming(from_her_id=999999, cpa_id="51795e2c-0000-0000-0000-000000000001")
    error = check_incoming(original).error
    assert error is not None
    out = transport_error_envelope(original, error, now=NOW, message_id="err-1")
    assert out is not None
    assert out.body == b""
    assert out.to == "999999_error"
    assert out.subject == original.subject
    assert (out.from_her_id, out.to_her_id) == (HELSENORGE, 999999)
    assert out.message_id == "err-1"
    assert out.application_timestamp == NOW
    assert out.cpa_id == original.cpa_id
    assert out.properties == {
        "originalMessageId": "amqp-1",
        "receiverTimeStamp": "2024-05-02T08:30:15Z",
        "errorCondition": "abuse:spoofing-attack",
        "errorDescription": error.description,
        "errorConditionData": f"999999;{LEVEL2}",
    }


def test_transport_error_envelope_joins_missing_fields():
    original = incoming(subject=None, content_type=None)
    error = check_incoming(original).error
    out = transport_error_envelope(original, error, now=NOW, message_id="err-2")
    assert out.properties["errorConditionData"] == "subject;contentType"
    assert out.properties["errorCondition"] == "transport:invalid-field-value"
    assert out.subject is None


def test_no_error_envelope_without_a_sender():
    original = incoming(from_her_id=None)
    error = check_incoming(original).error
    assert transport_error_envelope(original, error, now=NOW, message_id="err-3") is None


def test_error_envelope_needs_an_aware_time():
    original = incoming(from_her_id=999999)
    error = check_incoming(original).error
    with pytest.raises(ValueError):
        transport_error_envelope(original, error, now=datetime(2024, 5, 2, 8, 30), message_id="err-4")
