"""CMS sign-then-encrypt on the bus, with certificates from AR: what gets through and what each fault is told."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from asn1crypto import cms as asn1_cms
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7
from fastapi import FastAPI
from fastapi.testclient import TestClient
from lxml import etree

from mocks.exchange.checks import TransportError
from mocks.exchange.embedded import EmbeddedExchange
from mocks.exchange.envelope import (
    CONTENT_TYPE_PROTECTED,
    ErrorCondition,
    QueueKind,
    queue_name,
)
from mocks.exchange.outgoing import envelope_for
from mocks.kernel.node import Node
from mocks.kernel.ports import IdSource
from mocks.registry import ar_soap, cppa_xml
from mocks.registry.core import Registry
from mocks.registry.http import ar_router, cppa_router
from mocks.registry.model import (
    HELSEPERSONELL,
    INNBYGGER,
    CommunicationParty,
    PartyNotFound,
    RegistryError,
)
from mocks.registry.store import RegistryStore
from mocks.security.certificates import (
    SIGNING_USAGE,
    Credential,
    PartyCredentials,
    der,
    harness_ca,
    issue,
    key_usage,
    key_usage_names,
    party_credentials,
    pem,
    rsa_key,
    thumbprint,
)
from mocks.security.cms import ProtectionError, protect, unprotect
from mocks.security.protection import Unprotector, protect_envelope
from mocks.security.validator import CertificateErrors, RequiredUsage, validate
from mocks.wire.apprec import apprec_for
from mocks.wire.codes import AppRecStatus
from mocks.wire.examples import example_object
from mocks.wire.msghead import parse_document

from tests.conftest import HN as HN_FIXTURES
from tests.conftest import need

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=timezone.utc)
VALID = {"valid_from": NOW - timedelta(days=1), "valid_to": NOW + timedelta(days=365)}
HN, EPJ = 9_900_002, 9_900_101
"""The example EKONTAKT's sender (helsenorge) and receiver (a home-care service)."""
HN_ERROR = queue_name(HN, QueueKind.ERROR)
HN_ASYNC = queue_name(HN, QueueKind.ASYNC)


def clock() -> datetime:
    return NOW


HN_CREDENTIALS = party_credentials(HN, "Helsenorge.no (syntetisk)", **VALID)
EPJ_CREDENTIALS = party_credentials(EPJ, "Hjemmesykepleien Testvik sone 1", **VALID)


def helsenorge() -> PartyCredentials:
    """helsenorge's genuine credentials: the ones AR publishes unless a test publishes others."""
    return HN_CREDENTIALS


def helsenorge_signing(*, usage: x509.KeyUsage = SIGNING_USAGE, **validity: datetime) -> PartyCredentials:
    """helsenorge with a new signing certificate (its encryption certificate stays the genuine one)."""
    signing = issue(HN, "Helsenorge.no (syntetisk)", "signing", usage=usage, **(validity or VALID))
    return replace(HN_CREDENTIALS, signing=signing)


def service() -> PartyCredentials:
    return EPJ_CREDENTIALS


def publish(ar: Registry, credentials: PartyCredentials) -> None:
    ar.publish_certificates(
        credentials.her_id,
        signing=der(credentials.signing.certificate),
        encryption=der(credentials.encryption.certificate),
    )


@pytest.fixture
def ar() -> Registry:
    registry = Registry()
    registry.register(CommunicationParty(her_id=HN, name="Helsenorge.no (syntetisk)", role=INNBYGGER))
    registry.register(CommunicationParty(her_id=EPJ, name="Hjemmesykepleien Testvik sone 1", role=HELSEPERSONELL))
    publish(registry, helsenorge())
    publish(registry, service())
    return registry


class Bus:
    """One exchange, helsenorge's queues, and the service's node with protection on; the core records what it saw."""

    def __init__(self, ar: Registry, own: PartyCredentials | None = None) -> None:
        self.ar = ar
        self.exchange = EmbeddedExchange()
        self.exchange.declare(HN)
        self.seen: list[etree._Element] = []
        ids = IdSource(7)

        def core(envelope, root, now):
            self.seen.append(root)
            receipt = apprec_for(parse_document(root), AppRecStatus.OK, gen_date=now, msg_id=ids())
            return [envelope_for(receipt, from_her_id=EPJ, to_her_id=HN, now=now, message_id=ids())]

        self.node = Node(self.exchange, [EPJ], core, clock, IdSource(2), unprotect=Unprotector({EPJ: own or service()}, ar))
        self._count = 0

    def plain(self):
        self._count += 1
        msg = example_object("ekontakt")
        return msg, envelope_for(msg, from_her_id=HN, to_her_id=EPJ, now=NOW, message_id=f"amqp-{self._count}").materialised()

    def send(self, envelope) -> None:
        self.exchange.send(envelope)
        self.node.pump()

    def errors(self) -> list:
        return self.exchange.peek_all(HN_ERROR)

    def receipts(self) -> list:
        return self.exchange.peek_all(HN_ASYNC)


def sealed(bus: Bus, sender: PartyCredentials | None = None):
    """A plain EKONTAKT and the same message protected by ``sender`` (helsenorge's genuine credentials by default)."""
    msg, plain = bus.plain()
    return msg, plain, protect_envelope(plain, sender or helsenorge(), bus.ar)


def refused_with(bus: Bus, envelope, condition: ErrorCondition):
    bus.send(envelope)
    [error] = bus.errors()
    assert error.properties["errorCondition"] == condition.value, error.properties["errorDescription"]
    assert error.properties["originalMessageId"] == envelope.message_id
    assert error.body == b"" and error.to_her_id == HN
    assert bus.seen == [] and bus.receipts() == [], "a refused message must never reach the core"
    assert bus.exchange.depth(queue_name(EPJ, QueueKind.ASYNC)) == 0, "a refused message is completed, not retried"
    return error


def flip(data: bytes, index: int) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 0x01
    return bytes(changed)


def ciphertext_span(data: bytes) -> range:
    """Where the encrypted content sits: the last field of the EnvelopedData."""
    encrypted = asn1_cms.ContentInfo.load(data)["content"]["encrypted_content_info"]["encrypted_content"].native
    assert data.endswith(encrypted)
    return range(len(data) - len(encrypted), len(data))


# -- the CMS itself ------------------------------------------------------------------------------


def pkcs7_open(data: bytes, receiver: PartyCredentials) -> bytes:
    """Decrypt only, to look at the SignedData inside."""
    return pkcs7.pkcs7_decrypt_der(data, receiver.encryption.certificate, receiver.encryption.key, [])


def test_protect_is_signed_data_inside_aes256_enveloped_data_for_the_recipients_certificate():
    sender, receiver = helsenorge(), service()
    body = "<MsgHead>Hei, Åse ✓\r\nlinje to\n</MsgHead>".encode()
    data = protect(body, sender.signing.certificate, sender.signing.key, receiver.encryption.certificate)

    outer = asn1_cms.ContentInfo.load(data)
    assert outer["content_type"].native == "enveloped_data"
    encrypted = outer["content"]["encrypted_content_info"]
    assert encrypted["content_encryption_algorithm"]["algorithm"].dotted == "2.16.840.1.101.3.4.1.42"  # AES-256-CBC
    [recipient] = outer["content"]["recipient_infos"]
    rid = recipient.chosen["rid"]
    assert rid.name == "issuer_and_serial_number"
    assert rid.chosen["serial_number"].native == receiver.encryption.certificate.serial_number
    assert recipient.chosen["key_encryption_algorithm"]["algorithm"].native == "rsaes_pkcs1v15"
    assert body not in data

    inner = asn1_cms.ContentInfo.load(pkcs7_open(data, receiver))
    assert inner["content_type"].native == "signed_data"
    signed = inner["content"]
    assert signed["encap_content_info"]["content"].native == body, "attached, byte for byte (no CRLF rewriting)"
    [info] = signed["signer_infos"]
    assert info["digest_algorithm"]["algorithm"].native == "sha256"
    assert [c.chosen.dump() for c in signed["certificates"]] == [der(sender.signing.certificate)]

    assert unprotect(data, receiver.encryption.key, receiver.encryption.certificate, sender.signing.certificate) == body


@pytest.mark.slow
def test_every_flipped_ciphertext_byte_is_refused():
    sender, receiver = helsenorge(), service()
    data = protect(b"<MsgHead>" + b"x" * 500 + b"</MsgHead>", sender.signing.certificate, sender.signing.key,
                   receiver.encryption.certificate)
    span = ciphertext_span(data)
    for index in span[::3]:
        with pytest.raises(ProtectionError) as refused:
            unprotect(flip(data, index), receiver.encryption.key, receiver.encryption.certificate, sender.signing.certificate)
        assert refused.value.condition is ErrorCondition.INVALID_CERTIFICATE, index


def test_a_forged_signature_with_the_genuine_certificate_embedded_is_refused():
    sender, receiver = helsenorge(), service()
    forged = protect(b"<MsgHead/>", sender.signing.certificate, rsa_key("forger"), receiver.encryption.certificate)
    with pytest.raises(ProtectionError, match="signature does not verify") as refused:
        unprotect(forged, receiver.encryption.key, receiver.encryption.certificate, sender.signing.certificate)
    assert refused.value.condition is ErrorCondition.INVALID_CERTIFICATE


def test_validator_reads_dates_and_key_usage_like_certificate_validator():
    creds = helsenorge()
    assert validate(creds.signing.certificate, RequiredUsage.NON_REPUDIATION, NOW) is CertificateErrors.NONE
    assert validate(creds.signing.certificate, RequiredUsage.KEY_ENCIPHERMENT, NOW) is CertificateErrors.USAGE
    assert validate(creds.encryption.certificate, RequiredUsage.KEY_ENCIPHERMENT, NOW) is CertificateErrors.NONE
    assert validate(None, RequiredUsage.NON_REPUDIATION, NOW) is CertificateErrors.MISSING
    later = NOW + timedelta(days=400)
    assert validate(creds.signing.certificate, RequiredUsage.KEY_ENCIPHERMENT, later) == (
        CertificateErrors.END_DATE | CertificateErrors.USAGE
    )
    assert validate(creds.signing.certificate, RequiredUsage.NON_REPUDIATION, NOW - timedelta(days=2)) is (
        CertificateErrors.START_DATE
    )
    subject = creds.signing.certificate.subject
    assert subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == f"HER-id {HN}"
    assert creds.signing.certificate.issuer == harness_ca().certificate.subject


# -- on the bus ----------------------------------------------------------------------------------


def test_protected_round_trip_reaches_the_core_as_the_plain_msghead(ar):
    bus = Bus(ar)
    msg, plain, protected = sealed(bus)
    assert protected.content_type == CONTENT_TYPE_PROTECTED
    assert b"MsgHead" not in protected.body
    bus.send(protected)
    assert bus.errors() == []
    [root] = bus.seen
    assert etree.tostring(root, method="c14n") == etree.tostring(etree.fromstring(plain.body), method="c14n")
    [receipt] = bus.receipts()
    assert parse_document(receipt.body).original_msg_id.id == msg.msg_id
    assert bus.node.stats.transport_errors == 0


def test_unprotected_xml_is_still_accepted_with_protection_on(ar):
    bus = Bus(ar)
    _, plain = bus.plain()
    bus.send(plain)
    assert len(bus.seen) == 1 and bus.errors() == []


def test_flipped_ciphertext_byte_is_refused_and_never_reaches_the_core(ar):
    bus = Bus(ar)
    _, _, protected = sealed(bus)
    last_block = ciphertext_span(protected.body)[-1]
    refused_with(bus, replace(protected, body=flip(protected.body, last_block)), ErrorCondition.INVALID_CERTIFICATE)


def test_signature_by_another_key_is_refused(ar):
    bus = Bus(ar)
    genuine = helsenorge()
    forger = replace(genuine, signing=replace(genuine.signing, key=rsa_key("forger")))
    _, _, forged = sealed(bus, forger)
    error = refused_with(bus, forged, ErrorCondition.INVALID_CERTIFICATE)
    assert "signature does not verify" in error.properties["errorDescription"]


def test_signer_other_than_ars_certificate_is_refused_naming_both(ar):
    bus = Bus(ar)
    genuine = helsenorge()
    other = helsenorge_signing().signing
    _, _, protected = sealed(bus, replace(genuine, signing=other))
    error = refused_with(bus, protected, ErrorCondition.INVALID_CERTIFICATE)
    published = x509.load_der_x509_certificate(ar.certificates(HN).signing)
    assert error.properties["errorConditionData"] == f"{thumbprint(published)};{thumbprint(other.certificate)}"


@pytest.mark.parametrize(
    ("validity", "description"),
    [
        ({"valid_from": NOW - timedelta(days=400), "valid_to": NOW - timedelta(seconds=1)}, "Invalid end date"),
        ({"valid_from": NOW + timedelta(hours=1), "valid_to": NOW + timedelta(days=365)}, "Invalid start date"),
    ],
    ids=["expired", "not-yet-valid"],
)
def test_signing_certificate_outside_its_dates_is_expired(ar, validity, description):
    sender = helsenorge_signing(**validity)
    publish(ar, sender)
    bus = Bus(ar)
    _, _, protected = sealed(bus, sender)
    error = refused_with(bus, protected, ErrorCondition.EXPIRED_CERTIFICATE)
    assert error.properties["errorDescription"] == description
    assert error.properties["errorConditionData"].endswith(thumbprint(sender.signing.certificate))


def test_signing_certificate_without_non_repudiation_is_invalid(ar):
    sender = helsenorge_signing(usage=key_usage(digital_signature=True))
    publish(ar, sender)
    bus = Bus(ar)
    _, _, protected = sealed(bus, sender)
    error = refused_with(bus, protected, ErrorCondition.INVALID_CERTIFICATE)
    assert error.properties["errorDescription"] == "Invalid usage"


def _without_key_usage(credential: Credential) -> Credential:
    """The same key and subject, re-issued by the test CA with no KeyUsage extension at all."""
    from cryptography.hazmat.primitives import hashes

    ca = harness_ca()
    cert = credential.certificate
    bare = (
        x509.CertificateBuilder().subject_name(cert.subject).issuer_name(ca.certificate.subject)
        .public_key(credential.key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(cert.not_valid_before_utc).not_valid_after(cert.not_valid_after_utc)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca.key, hashes.SHA256())
    )  # fmt: skip
    return Credential(bare, credential.key)


def test_a_certificate_without_key_usage_fails_the_usage_check():
    """Helsenorge.Registries' ``HasKeyUsage`` is false when the extension is absent, so the library refuses it."""
    bare = _without_key_usage(helsenorge().signing)
    for usage in RequiredUsage:
        assert validate(bare.certificate, usage, NOW) is CertificateErrors.USAGE


def test_signing_certificate_without_key_usage_is_invalid_on_the_bus(ar):
    sender = replace(helsenorge(), signing=_without_key_usage(helsenorge().signing))
    publish(ar, sender)
    bus = Bus(ar)
    _, _, protected = sealed(bus, sender)
    error = refused_with(bus, protected, ErrorCondition.INVALID_CERTIFICATE)
    assert error.properties["errorDescription"] == "Invalid usage"


def test_several_certificate_errors_at_once_are_invalid(ar):
    sender = helsenorge_signing(
        usage=key_usage(digital_signature=True), valid_from=NOW - timedelta(days=400), valid_to=NOW - timedelta(days=1)
    )
    publish(ar, sender)
    bus = Bus(ar)
    _, _, protected = sealed(bus, sender)
    error = refused_with(bus, protected, ErrorCondition.INVALID_CERTIFICATE)
    assert error.properties["errorDescription"] == "More than one error with certificate"


def test_no_signing_certificate_in_ar_is_missing(ar):
    sender = helsenorge()
    ar.publish_certificates(HN, signing=None, encryption=der(sender.encryption.certificate))
    bus = Bus(ar)
    _, _, protected = sealed(bus, sender)
    refused_with(bus, protected, ErrorCondition.MISSING_CERTIFICATE)


def test_sender_encryption_certificate_without_key_encipherment_is_unverified(ar):
    encryption = issue(HN, "Helsenorge.no (syntetisk)", "encryption", usage=key_usage(data_encipherment=True), **VALID)
    sender = replace(helsenorge(), encryption=encryption)
    publish(ar, sender)
    bus = Bus(ar)
    _, _, protected = sealed(bus, sender)
    error = refused_with(bus, protected, ErrorCondition.UNVERIFIED_CERTIFICATE)
    assert error.properties["errorConditionData"] == f"{HN};{thumbprint(sender.encryption.certificate)}"


def test_message_encrypted_for_someone_else_is_refused(ar):
    bus = Bus(ar)
    _, plain = bus.plain()
    sender = helsenorge()
    misdirected = protect(plain.body, sender.signing.certificate, sender.signing.key, sender.encryption.certificate)
    refused_with(bus, replace(plain, body=misdirected, content_type=CONTENT_TYPE_PROTECTED), ErrorCondition.INVALID_CERTIFICATE)


def test_triple_des_content_encryption_is_unsupported(ar):
    bus = Bus(ar)
    _, _, protected = sealed(bus)
    info = asn1_cms.ContentInfo.load(protected.body)
    info["content"]["encrypted_content_info"]["content_encryption_algorithm"] = {
        "algorithm": "tripledes_3key",
        "parameters": b"\x00" * 8,
    }
    error = refused_with(bus, replace(protected, body=info.dump(force=True)), ErrorCondition.UNSUPPORTED_MESSAGE)
    assert error.properties["errorConditionData"] == "1.2.840.113549.3.7"


def test_sender_unknown_to_ar_is_an_invalid_field_value(ar):
    bus = Bus(ar)
    _, _, protected = sealed(bus)
    unknown = Unprotector({EPJ: service()}, ar)(replace(protected, from_her_id=9_900_999), NOW)
    assert unknown == TransportError(
        ErrorCondition.INVALID_FIELD_VALUE,
        "HER-id 9900999 is not a communication party in AR; its certificates cannot be found",
        ["FromHerId", "9900999"],
    )


def test_own_decryption_certificate_fault_is_logged_not_blamed_on_the_sender(ar, caplog):
    genuine = service()
    own = replace(genuine, encryption=issue(EPJ, "Hjemmesykepleien Testvik sone 1", "encryption",
                                             usage=key_usage(data_encipherment=True), **VALID))
    publish(ar, own)
    bus = Bus(ar, own=own)
    _, _, protected = sealed(bus)
    with caplog.at_level(logging.ERROR, logger="mocks.security.protection"):
        bus.send(protected)
    assert bus.errors() == [] and len(bus.seen) == 1
    assert "local decryption certificate" in caplog.text


def test_node_keeps_serving_after_refusals(ar):
    bus = Bus(ar)
    _, _, good = sealed(bus)
    _, _, bad = sealed(bus)
    bus.send(replace(bad, body=flip(bad.body, len(bad.body) - 1)))
    bus.send(good)
    assert [e.properties["originalMessageId"] for e in bus.errors()] == [bad.message_id]
    assert len(bus.seen) == 1 and len(bus.receipts()) == 1
    assert bus.node.stats.received == 2 and bus.node.stats.transport_errors == 1 and bus.node.stats.failures == 0


def test_protection_off_answers_unsupported_message(ar):
    bus = Bus(ar)
    bus.node.unprotect = None
    _, _, protected = sealed(bus)
    refused_with(bus, protected, ErrorCondition.UNSUPPORTED_MESSAGE)


def test_sending_needs_the_receivers_published_encryption_certificate(ar):
    ar.publish_certificates(EPJ, signing=der(service().signing.certificate), encryption=None)
    with pytest.raises(ProtectionError) as refused:
        sealed(Bus(ar))
    assert refused.value.condition is ErrorCondition.MISSING_CERTIFICATE


# -- AR publishes the certificates ---------------------------------------------------------------


def test_registry_refuses_what_is_not_a_certificate_and_unknown_parties(ar):
    with pytest.raises(RegistryError) as refused:
        ar.publish_certificates(HN, signing=b"not DER", encryption=None)
    assert (refused.value.field, refused.value.rule) == ("signing", "certificate.invalid")
    with pytest.raises(PartyNotFound):
        ar.publish_certificates(9_900_999, signing=None, encryption=None)
    with pytest.raises(PartyNotFound):
        ar.certificates(9_900_999)


def test_published_certificates_survive_a_restart(tmp_path):
    path = tmp_path / "ar.sqlite"
    first = Registry(RegistryStore(path))
    first.register(CommunicationParty(her_id=HN, name="Helsenorge.no (syntetisk)", role=INNBYGGER))
    publish(first, helsenorge())
    expected = first.certificates(HN)
    first.store.close()
    again = Registry(RegistryStore(path))
    assert again.certificates(HN) == expected and expected.signing and expected.encryption


@pytest.fixture
def client(ar):
    app = FastAPI()
    app.include_router(ar_router(ar), prefix="/ar")
    app.include_router(cppa_router(ar), prefix="/cppa")
    with TestClient(app) as http:
        yield http


def test_ar_publishes_certificates_over_http(client, ar):
    creds = helsenorge()
    put = client.put(
        f"/ar/api/parties/{HN}/certificates",
        json={"signing": pem(creds.signing.certificate), "encryption": pem(creds.encryption.certificate)},
    )
    assert put.status_code == 200, put.text
    got = client.get(f"/ar/api/parties/{HN}/certificates").json()
    assert got == put.json()
    assert got["herId"] == HN
    assert got["signing"]["pem"] == pem(creds.signing.certificate)
    assert got["signing"]["thumbprint"] == thumbprint(creds.signing.certificate)
    assert got["signing"]["keyUsage"] == ["digitalSignature", "nonRepudiation"]
    assert got["encryption"]["keyUsage"] == ["keyEncipherment", "dataEncipherment"]
    assert f"OU=HER-id {HN}" in got["encryption"]["subject"]
    assert ar.certificates(HN).signing == der(creds.signing.certificate)


def test_ar_certificate_refusals_over_http(client):
    bad = client.put(f"/ar/api/parties/{HN}/certificates", json={"signing": "-----BEGIN CERTIFICATE-----\nno\n"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"] == "signing" and bad.json()["detail"][0]["rule"] == "certificate.invalid"
    assert client.get("/ar/api/parties/9900999/certificates").status_code == 404
    assert client.put("/ar/api/parties/9900999/certificates", json={}).status_code == 404


@pytest.mark.parametrize(
    ("operation", "kind"),
    [(ar_soap.OP_CERT_ENCRYPTION, "encryption"), (ar_soap.OP_CERT_SIGNATURE, "signing")],
)
def test_ar_soap_certificate_details(client, ar, operation, kind):
    def call(her_id: int):
        return client.post(
            "/ar/soap",
            content=ar_soap.build_request(her_id, operation),
            headers={"content-type": ar_soap.request_content_type(ar_soap.ACTION_BASE + operation)},
        )

    answer = call(EPJ)
    assert answer.status_code == 200
    assert ar_soap.parse_certificate_details(answer.content, operation) == getattr(ar.certificates(EPJ), kind)
    ar.publish_certificates(EPJ, signing=None, encryption=None)
    assert ar_soap.parse_certificate_details(call(EPJ).content, operation) is None
    unknown = call(9_900_999)
    assert unknown.status_code == 500
    with pytest.raises(PartyNotFound):
        ar_soap.parse_certificate_details(unknown.content, operation)


def test_party_without_certificates_publishes_nulls(client, ar):
    ar.publish_certificates(EPJ, signing=None, encryption=None)
    assert client.get(f"/ar/api/parties/{EPJ}/certificates").json() == {"herId": EPJ, "signing": None, "encryption": None}


def test_cpp_and_cpa_carry_the_certificates_in_nhns_shape(client, ar):
    ar.activate(HN, ["DIALOG_INNBYGGER_EKONTAKT"])
    ar.activate(EPJ, ["DIALOG_INNBYGGER_EKONTAKT"])
    cpp = client.get(f"/cppa/Profiles/{EPJ}")
    assert cpp.status_code == 200
    profile = cppa_xml.parse_cpp(cpp.content)
    assert profile.certificates == {"enc": ar.certificates(EPJ).encryption, "sign": ar.certificates(EPJ).signing}
    root = etree.fromstring(cpp.content)
    ns = {"tns": cppa_xml.NS_CPPA, "ds": cppa_xml.NS_DS}
    assert root.xpath("//tns:CollaborationRole/tns:ApplicationCertificateRef/@tns:certId", namespaces=ns) == ["enc"]
    assert len(root.xpath("//tns:Certificate/ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=ns)) == 2
    cpa = cppa_xml.parse_cpa(client.get(f"/cppa/Agreements/HerIds/{HN}/{EPJ}").content)
    assert {p.her_id: p.certificates["sign"] for p in cpa.parties} == {
        HN: ar.certificates(HN).signing,
        EPJ: ar.certificates(EPJ).signing,
    }


def test_nhns_cpp_sample_certificates_parse():
    profile = cppa_xml.parse_cpp(need(HN_FIXTURES / "test" / "Helsenorge.Registries.Tests" / "Files" / "CPP_93238.xml").read_bytes())
    certificates = {cert_id: x509.load_der_x509_certificate(data) for cert_id, data in profile.certificates.items()}
    assert set(certificates) == {"enc", "sign"}
    # The library tells them apart by KeyUsage: KeyEncipherment is the encryption certificate, NonRepudiation the signing one.
    assert "keyEncipherment" in key_usage_names(certificates["enc"])
    assert "nonRepudiation" in key_usage_names(certificates["sign"])


# -- the whole served harness with --protect ---------------------------------------------------------------


@pytest.mark.slow
def test_served_harness_with_protection_round_trips_messages_receipts_and_calendar_reads():
    """`digihelse serve --protect`: every message on _async/_sync queues is CMS-protected on the wire, the
    receivers open it, and the story still works: message journaled, AppRec back, calendar read live."""
    from fastapi.testclient import TestClient

    from mocks.harness.app import ServeSettings, build_app, build_harness
    from mocks.exchange.envelope import CONTENT_TYPE_PROTECTED
    from mocks.exchange.tap import TappedExchange
    from tests.mocks.harness.test_story import MONDAY_0800, Clock, login_citizen

    tapped = TappedExchange(EmbeddedExchange())
    harness = build_harness(ServeSettings(seed=7, protect=True), clock=Clock(MONDAY_0800), exchange=tapped)
    client = TestClient(build_app(harness))
    recipient = harness.world.recipients[0]
    published = client.get(f"/ar/api/parties/{recipient.service_her_id}/certificates").json()
    assert published["signing"] and published["encryption"]
    headers = login_citizen(client, recipient.relative.fnr)
    sent = client.post("/helsenorge/api/messages", headers=headers, json={
        "serviceHerId": recipient.service_her_id, "text": "Hemmelig hilsen", "onBehalfOf": recipient.fnr})
    assert sent.status_code == 202, sent.text
    harness.pump()
    msg_id = sent.json()["msgId"]
    assert sum(epj.journal_count(msg_id) for epj in harness.epjs.values()) == 1
    assert harness.helsenorge.message_delivery(msg_id).value == "delivered"
    on_wire = [e for e in tapped.sent if e.to.endswith(("_async", "_sync"))]
    assert on_wire and all(e.content_type == CONTENT_TYPE_PROTECTED for e in on_wire)
    assert not any(b"Hemmelig hilsen" in e.body for e in on_wire)  # nobody on the bus reads the text
    assert {e.subject for e in on_wire} >= {"DIALOG_INNBYGGER_EKONTAKT", "APPREC"}
    visits = client.get("/helsenorge/api/visits", headers=headers, params={"on-behalf-of": recipient.fnr}).json()
    assert visits["source"] == "live", visits["notices"]
    assert all(node.stats.transport_errors == 0 and node.stats.failures == 0 for node in harness.nodes)


@pytest.mark.slow
def test_a_restarted_harness_with_db_opens_what_was_protected_before(tmp_path):
    """`serve --db DIR --protect`: the credentials are kept beside the stores (owner-only), so a message
    protected before a restart is opened after it, and AR publishes the same certificates."""
    from mocks.harness.app import ServeSettings, build_harness
    from mocks.exchange.envelope import CONTENT_TYPE_PROTECTED, Envelope
    from mocks.security.protection import protect_envelope
    from tests.mocks.harness.test_story import MONDAY_0800, Clock

    settings = ServeSettings(seed=7, protect=True, db=tmp_path / "state")
    first = build_harness(settings, clock=Clock(MONDAY_0800))
    her_id = first.world.recipients[0].service_her_id
    before = first.registry.certificates(her_id)
    kept = tmp_path / "state" / "credentials" / f"{her_id}.pem"
    assert kept.exists() and kept.stat().st_mode & 0o077 == 0
    helsenorge = first.exchange.credentials[first.helsenorge.her_id]
    first.close()

    second = build_harness(settings, clock=Clock(MONDAY_0800 + timedelta(hours=1)))
    assert second.registry.certificates(her_id) == before
    plain = Envelope(to=f"{her_id}_async", body=b"<MsgHead/>", subject="TEST", message_id="m-restart",
                     from_her_id=second.helsenorge.her_id, to_her_id=her_id)
    sealed = protect_envelope(plain, helsenorge, first.registry)
    assert sealed.content_type == CONTENT_TYPE_PROTECTED
    node = next(n for n in second.nodes if her_id in n.her_ids)
    assert node.unprotect(sealed, MONDAY_0800 + timedelta(hours=1)) == b"<MsgHead/>"
    second.close()


def test_issue_without_usage_leaves_key_usage_out_and_the_validator_refuses_it():
    """``issue(usage=None)`` is how the kit's tests make the certificate the issue says passed: no extension at all."""
    bare = issue(HN, "Helsenorge", "signing", usage=None, **VALID)
    with pytest.raises(x509.ExtensionNotFound):
        bare.certificate.extensions.get_extension_for_class(x509.KeyUsage)
    assert key_usage_names(bare.certificate) == []
    for usage in RequiredUsage:
        assert validate(bare.certificate, usage, NOW) is CertificateErrors.USAGE
