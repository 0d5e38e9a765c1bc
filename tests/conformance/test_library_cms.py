"""The library-like peer's CMS (tests/conformance/library_cms.py) against the harness's own: each opens what the
other seals, and the peer refuses a sender's certificate the way Helsenorge.Messaging's listener reports it."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from conformance.protection import CertificateProblem, issue_credentials
from mocks.security.cms import protect, unprotect

from .library_cms import FOR_ENCRYPTION, FOR_SIGNATURE, ArCertificates, CertificateRefused, PeerProtection

NOW = datetime.now(timezone.utc)
KIT, PEER = 9_991_090, 9_986_090
BODY = b"<MsgHead>hei</MsgHead>"


def _peer(kit=None) -> tuple[PeerProtection, object]:
    kit = kit or issue_credentials(KIT, "Kit", NOW)
    own = issue_credentials(PEER, "Peer", NOW)
    ar = ArCertificates("http://unused.invalid", {(KIT, FOR_ENCRYPTION): kit.encryption.certificate,
                                                  (KIT, FOR_SIGNATURE): kit.signing.certificate})  # fmt: skip
    return PeerProtection(own.signing.certificate, own.signing.key, own.encryption.certificate, own.encryption.key,
                          ar), own  # fmt: skip


def test_the_peer_opens_what_the_harness_seals_and_the_harness_opens_what_the_peer_seals():
    kit = issue_credentials(KIT, "Kit", NOW)
    peer, own = _peer(kit)
    sealed = protect(BODY, kit.signing.certificate, kit.signing.key, own.encryption.certificate)
    assert peer.open(sealed, KIT, NOW) == BODY
    answer = peer.seal(b"<AppRec/>", KIT)
    assert b"AppRec" not in answer
    assert unprotect(answer, kit.encryption.key, kit.encryption.certificate, own.signing.certificate) == b"<AppRec/>"


def test_a_signature_by_another_key_is_refused_as_invalid_certificate():
    kit = issue_credentials(KIT, "Kit", NOW)
    impostor = issue_credentials(KIT, "Kit", NOW)  # same HER-id, not the certificate AR publishes
    peer, own = _peer(kit)
    sealed = protect(BODY, impostor.signing.certificate, impostor.signing.key, own.encryption.certificate)
    with pytest.raises(CertificateRefused, match="transport:invalid-certificate"):
        peer.open(sealed, KIT, NOW)


@pytest.mark.parametrize(("problem", "condition"), [
    (CertificateProblem.EXPIRED, "transport:expired-certificate"),
    (CertificateProblem.NO_KEY_USAGE, "transport:invalid-certificate"),
    (CertificateProblem.WRONG_USAGE, "transport:invalid-certificate"),
])  # fmt: skip
def test_a_bad_sender_certificate_in_ar_is_refused_with_the_librarys_condition(problem, condition):
    kit = issue_credentials(KIT, "Kit", NOW, problem)
    peer, own = _peer(kit)
    sealed = protect(BODY, kit.signing.certificate, kit.signing.key, own.encryption.certificate)
    with pytest.raises(CertificateRefused) as refused:
        peer.open(sealed, KIT, NOW)
    assert refused.value.condition == condition
    assert peer.opened == 0
