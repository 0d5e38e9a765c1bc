"""``digihelse conformance --protect``: the kit signs and encrypts as Helsenorge.Messaging does, and reports the
library's certificate conditions.

The fast tests run the kit and the reference EPJ on the embedded broker (one process); one slow test runs the
whole suite protected over RabbitMQ. The receive side (what the EPJ sends back is opened and verified) is also
tested on its own, with only the EPJ's signing certificate wrong, since a wrong encryption certificate already
stops the kit's send.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import typer
from cryptography import x509
from typer.testing import CliRunner

from conformance.context import Failed, TestContext
from conformance.inbox import Inbox, read
from conformance.kit import KitOptions, UsageError, load_certificates, run_kit
from conformance.protection import CertificateProblem, KitProtection, issue_credentials, publish, refusal
from conformance.results import State
from conformance.suite import all_tests
from conformance import verify
from digihelse.conformance_cli import conformance
from mocks.exchange.embedded import EmbeddedExchange
from mocks.exchange.envelope import (
    CONTENT_TYPE_PLAIN, CONTENT_TYPE_PROTECTED, Envelope, ErrorCondition, QueueKind, queue_name,
)
from mocks.harness.broker import free_port
from mocks.registry import ar_soap
from mocks.registry.core import Registry
from mocks.registry.model import CommunicationParty, PartyType
from mocks.security.certificates import SIGNING_USAGE, issue, key_usage, thumbprint
from mocks.security.cms import protect
from mocks.security.protection import Unprotector
from mocks.security.validator import CertificateErrors

from tests.conftest import XSD_DIR

SCHEMAS = XSD_DIR if XSD_DIR.is_dir() else None
KIT, EPJ = 9_991_070, 9_987_701
NOW = datetime.now(timezone.utc)
BUSINESS_QUEUES = ("_async", "_sync", "_syncreply")


def _options(**extra) -> KitOptions:
    values = dict(broker="embedded", reference=True, protect=True, kit_her_id=KIT, reference_her_id_base=9_987_700,
                  sync_timeout=2.0, apprec_timeout=3.0, manual_timeout=3.0, slow_sync_s=3.0, schemas=SCHEMAS)
    values.update(extra)
    return KitOptions(**values)


def _explain(result) -> str:
    return "\n".join(f"{t.id} {t.state.value}: {' | '.join(t.messages)[:300]}" for t in result.tests()
                     if t.state is not State.PASS)  # fmt: skip


@pytest.fixture
def wire(monkeypatch) -> list[Envelope]:
    """Everything sent on the embedded broker during the test, as it went on the wire."""
    sent: list[Envelope] = []
    original = EmbeddedExchange.send

    def spy(self, envelope: Envelope) -> None:
        sent.append(envelope.materialised())
        original(self, envelope)

    monkeypatch.setattr(EmbeddedExchange, "send", spy)
    return sent


# ------------------------------------------------------------------------------------ against the reference EPJ


def test_protected_run_against_the_reference_passes_every_test_and_nothing_goes_in_clear(wire):
    result = run_kit(_options())
    allowed_skips = set() if SCHEMAS else {"DH-RCP-002"}
    not_passed = {t.id: t.state for t in result.tests() if t.state is not State.PASS}
    assert set(not_passed) <= allowed_skips and all(s is State.SKIP for s in not_passed.values()), _explain(result)
    assert len(result.tests()) == len(all_tests())
    business = [e for e in wire if e.to.endswith(BUSINESS_QUEUES)]
    senders = {e.from_her_id for e in business}
    assert KIT in senders and senders - {KIT}, "both the kit and the reference EPJ sent business messages"
    clear = [(e.to, e.content_type) for e in business if e.content_type != CONTENT_TYPE_PROTECTED]
    assert clear == []
    assert not any(b"MsgHead" in e.body for e in business)  # encrypted, not merely labelled
    errors = [e for e in wire if e.to.endswith("_error")]
    assert errors and all(not e.body for e in errors)  # the robustness tests' transport errors stay plain, empty


@pytest.mark.parametrize(
    ("problem", "condition", "errors"),
    [
        (CertificateProblem.EXPIRED, ErrorCondition.EXPIRED_CERTIFICATE, "EndDate"),
        (CertificateProblem.NO_KEY_USAGE, ErrorCondition.INVALID_CERTIFICATE, "Usage"),
        (CertificateProblem.WRONG_USAGE, ErrorCondition.INVALID_CERTIFICATE, "Usage"),
    ],
)
def test_a_bad_published_certificate_fails_the_tests_naming_the_libraries_condition(wire, problem, condition, errors):
    result = run_kit(_options(reference_certificates=problem, only=["connectivity", "DH-MSG-001"]))
    assert {t.id: t.state for t in result.tests()} == dict.fromkeys(["DH-CON-001", "DH-CON-002", "DH-MSG-001"],
                                                                     State.FAIL)  # fmt: skip
    assert result.exit_code == 1
    for test in result.tests():
        assert test.messages[0].startswith(f"{condition.value}: the EPJ's encryption certificate in AR"), test.messages
        assert f"Certificate error(s): {errors}\"" in test.messages[0]
    assert not [e for e in wire if e.from_her_id == KIT and e.to.endswith(BUSINESS_QUEUES)]  # refused, as the library


def test_reference_certificates_need_reference_and_protect():
    with pytest.raises(ValueError, match="--reference-certificates needs --reference and --protect"):
        KitOptions(broker="embedded", reference=True, reference_certificates="expired")
    with pytest.raises(ValueError, match="reference_certificates"):
        _options(reference_certificates="revoked")
    with pytest.raises(ValueError, match="--fault no-transport-checks cannot run with --protect"):
        _options(fault="no-transport-checks")
    assert _options(fault="no-apprec").protect  # the other faults run protected


@pytest.mark.slow
def test_the_kits_certificates_are_published_in_its_served_ar():
    """A library-based EPJ fetches the kit's certificates with GetCertificateDetailsForEncryption /
    ...ForValidatingSignature from the served AR; they carry the usages the library checks for."""
    port = free_port()
    seen: dict = {}

    def announce(settings: list[tuple[str, str]]) -> None:
        url = dict(settings)["AR (SOAP 1.2, WSHttpBinding)"]
        seen["printed"] = dict(settings)["payload protection (--protect)"]
        for operation in ar_soap.CERTIFICATE_OPERATIONS:
            response = httpx.post(url, content=ar_soap.build_request(KIT, operation),
                                  headers={"content-type": ar_soap.request_content_type(ar_soap.ACTION_BASE + operation)})
            der = ar_soap.parse_certificate_details(response.content, operation)
            seen[operation] = None if der is None else x509.load_der_x509_certificate(der)

    result = run_kit(_options(registries=f"127.0.0.1:{port}", only=["DH-CON-001"]), announce=announce)
    assert result.exit_code == 0, _explain(result)
    encryption, signing = seen[ar_soap.OP_CERT_ENCRYPTION], seen[ar_soap.OP_CERT_SIGNATURE]
    assert encryption is not None and signing is not None and encryption != signing
    assert encryption.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment
    assert signing.extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment
    assert f"HER-id {KIT}" in encryption.subject.rfc4514_string()
    assert seen["printed"].endswith(f"signing {thumbprint(signing)}, encryption {thumbprint(encryption)}")


def test_command_runs_protected_and_reports_the_condition():
    app = typer.Typer(add_completion=False, rich_markup_mode=None)
    app.command(name="conformance")(conformance)
    app.command(name="version")(lambda: None)
    common = ["conformance", "--reference", "--broker", "embedded", "--protect", "--sync-timeout", "2",
              "--apprec-timeout", "3", "--only", "connectivity", "--kit-her-id", str(KIT)]
    runner = CliRunner()
    good = runner.invoke(app, common)
    assert good.exit_code == 0, good.output
    bad = runner.invoke(app, [*common, "--reference-certificates", "expired"])
    assert bad.exit_code == 1 and "transport:expired-certificate" in bad.output, bad.output
    misuse = runner.invoke(app, ["conformance", "--reference", "--broker", "embedded",
                                 "--reference-certificates", "expired"])
    assert misuse.exit_code == 2 and "--reference-certificates needs --reference and --protect" in misuse.output


@pytest.mark.rabbitmq
@pytest.mark.slow
def test_protected_run_over_rabbitmq_passes_every_test(rabbitmq):
    result = run_kit(_options(broker=rabbitmq.url, kit_her_id=9_991_071, reference_her_id_base=9_987_800))
    allowed_skips = set() if SCHEMAS else {"DH-RCP-002"}
    not_passed = {t.id for t in result.tests() if t.state is not State.PASS}
    assert not_passed <= allowed_skips, _explain(result)
    assert result.exit_code == 0


# ------------------------------------------------------------------------------------ the kit's two steps alone


def _world(epj_signing_usage=SIGNING_USAGE, *, epj_signing_expired: bool = False):
    """An AR with the kit and one EPJ service, both credentialed; only the EPJ's signing certificate varies."""
    registry = Registry()
    registry.register(CommunicationParty(KIT, "Kit", PartyType.SERVICE))
    registry.register(CommunicationParty(EPJ, "EPJ", PartyType.SERVICE))
    kit = issue_credentials(KIT, "Kit", NOW)
    epj = issue_credentials(EPJ, "EPJ", NOW)
    start, end = (NOW - timedelta(days=30), NOW - timedelta(days=1)) if epj_signing_expired else \
        (NOW - timedelta(days=1), NOW + timedelta(days=30))
    epj = replace(epj, signing=issue(EPJ, "EPJ", "signing", valid_from=start, valid_to=end, usage=epj_signing_usage))
    publish(registry, kit)
    publish(registry, epj)
    return registry, KitProtection(kit, registry, lambda: NOW), epj


def _from_epj(epj, body: bytes = b"<MsgHead/>") -> Envelope:
    return Envelope(to=queue_name(KIT, QueueKind.ASYNC), body=body, message_id="m1", subject="APPREC",
                    content_type=CONTENT_TYPE_PLAIN, from_her_id=EPJ, to_her_id=KIT, application_timestamp=NOW)


@pytest.mark.parametrize(
    ("usage", "expired", "condition", "description"),
    [
        (SIGNING_USAGE, True, ErrorCondition.EXPIRED_CERTIFICATE, "Invalid end date"),
        (None, False, ErrorCondition.INVALID_CERTIFICATE, "Invalid usage"),
        (key_usage(key_encipherment=True), False, ErrorCondition.INVALID_CERTIFICATE, "Invalid usage"),
    ],
    ids=["expired", "no-key-usage", "encryption-usage-for-signing"],
)
def test_what_the_epj_signs_with_a_bad_certificate_is_refused_with_the_condition(usage, expired, condition,
                                                                                 description):
    registry, kit, epj = _world(usage, epj_signing_expired=expired)
    plain = _from_epj(epj)
    sealed = replace(plain, body=protect(plain.body, epj.signing.certificate, epj.signing.key,
                                         kit.credentials.encryption.certificate), content_type=CONTENT_TYPE_PROTECTED)
    item = read(sealed, sealed.to, unprotect=kit.open)
    assert item.transport is not None
    assert (item.transport.condition, item.transport.description) == (condition, description)
    t = TestContext(None, all_tests()[0])  # type: ignore[arg-type]
    assert not verify.transport_ok(t, item, "the AppRec")
    assert t.failures == [f"the AppRec: a Helsenorge.Messaging receiver would refuse it with {condition.value}: "
                          f"{description}"]  # fmt: skip


def test_the_kit_opens_what_a_good_epj_sends_and_tells_a_bad_one_on_its_error_queue():
    registry, kit, epj = _world(epj_signing_expired=True)
    exchange = EmbeddedExchange()
    exchange.declare(KIT)
    exchange.declare(EPJ)
    inbox = Inbox(exchange, KIT, send=lambda e, note: exchange.send(kit.seal(e)), record=lambda e, q: None,
                  new_id=lambda: "00000000-0000-0000-0000-000000000001", clock=lambda: NOW, unprotect=kit.open)
    plain = _from_epj(epj, b"<not-a-msghead/>")
    exchange.send(replace(plain, body=protect(plain.body, epj.signing.certificate, epj.signing.key,
                                              kit.credentials.encryption.certificate),
                          content_type=CONTENT_TYPE_PROTECTED))  # fmt: skip
    inbox.poll(0.1)
    assert inbox.items[0].transport.condition is ErrorCondition.EXPIRED_CERTIFICATE
    error = exchange.receive(queue_name(EPJ, QueueKind.ERROR), 1.0)
    assert error is not None and not error.envelope.body
    assert error.envelope.properties["errorCondition"] == ErrorCondition.EXPIRED_CERTIFICATE.value
    assert error.envelope.properties["originalMessageId"] == "m1"
    # with a good signing certificate the same message opens to its plain body
    registry2, kit2, epj2 = _world()
    plain2 = _from_epj(epj2)
    opened = kit2.open(replace(plain2, body=protect(plain2.body, epj2.signing.certificate, epj2.signing.key,
                                                    kit2.credentials.encryption.certificate),
                               content_type=CONTENT_TYPE_PROTECTED))  # fmt: skip
    assert opened == b"<MsgHead/>"
    item = read(replace(plain2, body=protect(plain2.body, epj2.signing.certificate, epj2.signing.key,
                                             kit2.credentials.encryption.certificate),
                        content_type=CONTENT_TYPE_PROTECTED), plain2.to, unprotect=kit2.open)  # fmt: skip
    assert item.transport is None and item.root is not None
    assert item.envelope.body == b"<MsgHead/>" and item.envelope.content_type == CONTENT_TYPE_PROTECTED  # reports


def test_seal_encrypts_to_the_published_certificate_and_refuses_a_missing_one():
    registry, kit, epj = _world()
    out = Envelope(to=queue_name(EPJ, QueueKind.ASYNC), body=b"<MsgHead/>", message_id="k1", subject="X",
                   content_type=CONTENT_TYPE_PLAIN, from_her_id=KIT, to_her_id=EPJ, application_timestamp=NOW)
    sealed = kit.seal(out)
    assert sealed.content_type == CONTENT_TYPE_PROTECTED and b"<MsgHead/>" not in sealed.body
    assert Unprotector({EPJ: epj}, registry)(sealed, NOW) == b"<MsgHead/>"
    error = replace(out, to=queue_name(EPJ, QueueKind.ERROR), body=b"")
    assert kit.seal(error) == error.materialised()  # transport errors go plain, as the library sends them
    registry.register(CommunicationParty(EPJ + 1, "No certificates", PartyType.SERVICE))
    with pytest.raises(Failed, match=r"^transport:missing-certificate: .*none is published.*Missing"):
        kit.seal(replace(out, to_her_id=EPJ + 1, to=queue_name(EPJ + 1, QueueKind.ASYNC)))


def test_refusal_names_the_errors_as_the_library_prints_them():
    assert refusal(CertificateErrors.END_DATE) == "EndDate"
    assert refusal(CertificateErrors.USAGE | CertificateErrors.END_DATE) == "EndDate, Usage"
    assert refusal(CertificateErrors.MISSING) == "Missing"


# ------------------------------------------------------------------------------------ a vendor's EPJ


@pytest.mark.rabbitmq
@pytest.mark.slow
def test_a_vendor_epj_gives_its_certificates_and_trusts_the_kits_kept_ones(rabbitmq, tmp_path):
    """The reference EPJ started on its own, as a vendor's: it has its own AR (with the kit's certificates from a
    ``--kit-credentials`` file made beforehand) and hands the kit its public certificates (``--epj-certificates``)."""
    from conformance.reference import ReferenceEpj
    from tests.conformance.per_queue import ConnectionPerQueue
    from mocks.security.certificates import load_credentials, pem, save_credentials

    kit_her_id = 9_991_072
    kit_file = tmp_path / "kit.pem"
    save_credentials(kit_file, issue_credentials(kit_her_id, "Kit", NOW))
    received: list[str | None] = []

    class Watched(ConnectionPerQueue):
        def receive(self, queue, timeout=0.0):
            delivery = super().receive(queue, timeout)
            if delivery is not None:
                received.append(delivery.envelope.content_type)
            return delivery

    epj_exchange = Watched(lambda: rabbitmq.exchange(min_receive_wait=0.01))
    reference = ReferenceEpj(epj_exchange, kit_her_id, her_id_base=9_987_900)
    epj_ar = Registry()  # what the vendor's EPJ looks the kit up in
    epj_ar.register(CommunicationParty(kit_her_id, "Kit", PartyType.SERVICE))
    publish(epj_ar, load_credentials(kit_file, kit_her_id))
    epj = issue_credentials(reference.epj_her_id, "Vendor", NOW)
    reference.protect(epj, epj_ar)
    certificates = tmp_path / "epj-certificates.json"
    certificates.write_text(json.dumps({"signing": pem(epj.signing.certificate),
                                        "encryption": pem(epj.encryption.certificate)}))
    reference.start()
    try:
        result = run_kit(KitOptions(
            broker=rabbitmq.url, epj_her_id=reference.epj_her_id, service_her_ids=reference.service_her_ids,
            patients=reference.patients, kit_her_id=kit_her_id, sync_timeout=2.0, apprec_timeout=3.0,
            protect=True, epj_certificates=certificates, kit_credentials=kit_file,
            only=["connectivity", "DH-MSG-001", "robustness"],
        ))  # fmt: skip
    finally:
        reference.stop()
        epj_exchange.close()
    assert result.exit_code == 0, _explain(result)
    assert received and set(received) == {CONTENT_TYPE_PROTECTED}  # the kit sent nothing in clear


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"protect": True}, "--protect needs the EPJ's certificates (--epj-certificates FILE)"),
        ({"epj_certificates": "x.json"}, "--epj-certificates and --kit-credentials need --protect"),
        ({"kit_credentials": "k.pem"}, "--epj-certificates and --kit-credentials need --protect"),
    ],
)
def test_vendor_protection_options_are_checked(extra, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        KitOptions(broker="amqp://127.0.0.1:5672", epj_her_id=9_987_901, patients=["05855000123"], **extra)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not JSON"),
        ('{"signing": "not a pem"}', "[signing] not a PEM X.509 certificate"),
        ('{"signing": null, "other": 1}', "[other] Extra inputs are not permitted"),
    ],
)
def test_a_bad_certificates_file_is_a_usage_error_naming_the_field(tmp_path, content, message):
    path = tmp_path / "certificates.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=re.escape(message)):
        load_certificates(path)


def test_kit_credentials_are_made_once_and_kept(tmp_path):
    from mocks.security.certificates import load_credentials

    path = tmp_path / "kit" / "credentials.pem"
    first = run_kit(_options(kit_credentials=path, only=["DH-CON-001"]))
    assert first.exit_code == 0, _explain(first)
    made = path.read_bytes()
    assert path.stat().st_mode & 0o077 == 0  # keys: the owner's alone
    kept = load_credentials(path, KIT)
    second = run_kit(_options(kit_credentials=path, only=["DH-CON-001"]))
    assert second.exit_code == 0, _explain(second)
    assert path.read_bytes() == made
    assert kept.signing.certificate.extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment
    path.write_text("not a credential")
    with pytest.raises(UsageError, match="--kit-credentials"):
        run_kit(_options(kit_credentials=path, only=["DH-CON-001"]))
