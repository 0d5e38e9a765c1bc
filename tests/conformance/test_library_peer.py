"""A Helsenorge.Messaging-like EPJ (tests/conformance/library_peer.py) runs the kit end to end over RabbitMQ.

The peer knows only its HER-id, the broker and the AR/CPPA URLs the kit prints: it resolves the
kit's party through the kit's served AR (SOAP 1.1 Basic) and CPPA (REST), addresses every answer
from AR, refuses a process its CPA lacks, and writes the library's wire (string properties).
"""

from __future__ import annotations

import pytest

from conformance.inputs import unknown_patient_fnr
from conformance.kit import KitOptions, run_kit
from conformance.results import State
from mocks.harness.broker import free_port
from mocks.exchange.envelope import CONTENT_TYPE_PLAIN, Envelope

from .library_peer import ArClient, CppaClient, LibraryPeer, ProcessNotInCpa

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

KIT = 9_991_080
SERVICE = 9_986_001
APPLICABLE = ["connectivity", "robustness", "DH-MSG-001", "DH-RCP-001", "DH-IDM-001", "DH-TIM-001"]
"""What an EPJ with no patients, visits or staff can be judged on: the transport, the KomTest and the AppRec."""
APPLICABLE_TESTS = 10
"""The kit tests those groups and ids select."""


def passes_every_applicable_test(options: KitOptions, start_peer, peers: list[LibraryPeer], exchange) -> LibraryPeer:
    """Run the kit; ``start_peer`` starts the peer when the kit announces its settings (into ``peers``). Every
    applicable test must pass; the peer and the exchange are stopped whatever happens. Returns the peer, for the
    caller's own checks of what it saw."""
    try:
        result = run_kit(options, announce=start_peer)
    finally:
        for peer in peers:
            peer.stop()
        exchange.close()
    [peer] = peers
    states = {t.id: (t.state, t.messages) for t in result.tests()}
    assert all(state is State.PASS for state, _ in states.values()), states
    assert len(states) == APPLICABLE_TESTS
    return peer


def test_library_peer_passes_every_applicable_kit_test(rabbitmq):
    exchange = rabbitmq.exchange(min_receive_wait=0.01)
    exchange.declare(SERVICE)  # the vendor's queues exist at NHN before any run
    peers: list[LibraryPeer] = []

    def start_peer(settings: list[tuple[str, str]]) -> None:
        values = dict(settings)
        ar = ArClient(values["AR (SOAP 1.1, Basic binding: the library's default)"])
        cppa = CppaClient(values["CPPA (REST v2, no authentication)"])
        peers.append(LibraryPeer(exchange, SERVICE, ar, cppa).start())

    peer = passes_every_applicable_test(KitOptions(
            broker=rabbitmq.url, epj_her_id=SERVICE, patients=[unknown_patient_fnr(set())], kit_her_id=KIT,
            only=APPLICABLE, sync_timeout=3, apprec_timeout=5, manual_timeout=0,
            registries=f"127.0.0.1:{free_port()}",
        ), start_peer, peers, exchange)
    # it resolved the kit through AR (its own entry too) and answered only from there
    assert KIT in peer.ar.lookups and SERVICE in peer.ar.lookups
    errors = [e for e in peer.sent if e.properties.get("errorCondition")]
    assert {e.properties["errorCondition"] for e in errors} >= {"transport:not-well-formed-xml",
                                                                "transport:invalid-field-value",
                                                                "abuse:spoofing-attack"}  # fmt: skip
    for error in errors:  # the library's shape (#846)
        assert error.to == f"{KIT}_error" and error.content_type is None and error.cpa_id is None
        assert len(error.message_id) == 32 and "-" not in error.message_id and error.body == b""
    invalid = next(e for e in errors if e.properties["errorCondition"] == "transport:invalid-field-value")
    assert invalid.properties["errorConditionData"] == "Label;applicationTimeStamp;"
    answers = [e for e in peer.sent if not e.properties.get("errorCondition")]
    assert answers and all(e.cpa_id for e in answers)  # cpaId from the CPA it checked
    assert {e.to for e in answers} <= {f"{KIT}_async", f"{KIT}_syncreply"}
    # the CPA pre-check: a process the agreement lacks is refused, and nothing is sent
    before = len(peer.sent)
    with pytest.raises(ProcessNotInCpa, match="DIALOG_HELSEFAGLIG"):
        peer.send(Envelope(message_id="x", to=f"{KIT}_async", subject="DIALOG_HELSEFAGLIG", body=b"<x/>",
                           content_type=CONTENT_TYPE_PLAIN, from_her_id=SERVICE, to_her_id=KIT),
                  "DIALOG_HELSEFAGLIG", KIT)  # fmt: skip
    assert len(peer.sent) == before and peer.refused == ["DIALOG_HELSEFAGLIG"]


def test_library_peer_running_protected_opens_the_kits_messages_and_seals_its_answers(rabbitmq, tmp_path):
    """``--protect`` against the library-like peer with CMS on: it checks the kit's AR certificates, decrypts and
    verifies what the kit sends (with its own CMS code, not the harness's), and signs and encrypts its answers to
    the kit's AR-published encryption certificate, which the kit opens and verifies."""
    import json
    from datetime import datetime, timezone

    from conformance.protection import issue_credentials
    from mocks.exchange.envelope import CONTENT_TYPE_PROTECTED
    from mocks.security.certificates import pem

    from .library_cms import ArCertificates, PeerProtection

    kit, service = 9_991_081, 9_986_002
    own = issue_credentials(service, "Leverandørens hjemmetjeneste", datetime.now(timezone.utc))
    published = tmp_path / "epj-certificates.json"  # what the vendor hands the kit: public certificates only
    published.write_text(json.dumps({"signing": pem(own.signing.certificate),
                                     "encryption": pem(own.encryption.certificate)}))  # fmt: skip
    exchange = rabbitmq.exchange(min_receive_wait=0.01)
    exchange.declare(service)
    peers: list[LibraryPeer] = []

    def start_peer(settings: list[tuple[str, str]]) -> None:
        values = dict(settings)
        basic = values["AR (SOAP 1.1, Basic binding: the library's default)"]
        protection = PeerProtection(own.signing.certificate, own.signing.key, own.encryption.certificate,
                                    own.encryption.key, ArCertificates(basic))  # fmt: skip
        peers.append(LibraryPeer(exchange, service, ArClient(basic), CppaClient(values["CPPA (REST v2, no "
                                 "authentication)"]), protection).start())  # fmt: skip

    peer = passes_every_applicable_test(KitOptions(
            broker=rabbitmq.url, epj_her_id=service, patients=[unknown_patient_fnr(set())], kit_her_id=kit,
            only=APPLICABLE, sync_timeout=3, apprec_timeout=5, manual_timeout=0,
            registries=f"127.0.0.1:{free_port()}", protect=True, epj_certificates=published,
        ), start_peer, peers, exchange)
    # what the kit sent with a payload came sealed, and the peer opened it with its own key
    with_payload = [e for e in peer.received if e.content_type]
    assert with_payload and {e.content_type for e in with_payload} == {CONTENT_TYPE_PROTECTED}
    assert peer.protection.opened > 0
    # its answers (AppRecs, the KomTest reply) went out signed and encrypted; error messages carry no body
    answers = [e for e in peer.sent if not e.properties.get("errorCondition")]
    assert answers and {e.content_type for e in answers} == {CONTENT_TYPE_PROTECTED}
    assert peer.protection.sealed == len(answers)
    assert all(b"MsgHead" not in e.body for e in answers)  # nothing readable in clear
