"""Protection on the bus: the sender's step before ``send`` and the receiver's step before the checks.

Both look certificates up in AR (:meth:`mocks.registry.core.Registry.certificates`),
as Helsenorge.Messaging does when a party has no CPA (``DummyCollaborationProtocolProfileFactory``
builds the counterpart's profile from AR's ``GetCertificateDetailsForEncryption``
and ``GetCertificateDetailsForValidatingSignature``).

The receiver judges, in ``MessageListener``'s order (source:
helsenorge/Helsenorge.Messaging ``src/Helsenorge.Messaging/Amqp/Receivers/MessageListener.cs``,
``HandleRawMessageAsync`` → ``ResolveProfileAsync`` → ``HandlePayload``):

1. the sender must be in AR — ``InvalidHerIdException``, ``transport:invalid-field-value``
   with data ``FromHerId;{herId}``;
2. the sender's encryption certificate (the one the receiver answers to) must
   pass ``CertificateValidator`` for KeyEncipherment — else
   ``CouldNotVerifyCertificateException`` (``Helsenorge.Registries``
   ``AddressRegistry.GetCertificateDetailsForEncryptionAsync`` and
   ``DummyCollaborationProtocolProfileFactory.ValidateCertificate``), which the
   listener reports as ``transport:unverified-certificate`` (reference/protocols.md §1.6);
3. the receiver's own decryption certificate is validated too, but only logged
   (``ReportErrorOnLocalCertificate``): a local fault must not be blamed on the sender;
4. the sender's signing certificate must pass ``CertificateValidator`` for
   NonRepudiation — else ``ReportErrorOnRemoteCertificate``'s condition
   (:func:`~mocks.security.validator.remote_certificate_condition`:
   ``transport:missing-certificate``, ``transport:expired-certificate``,
   ``transport:invalid-certificate``), data ``subject;thumbprint``;
5. decrypt and verify (:func:`~mocks.security.cms.unprotect`): DES/3DES
   ``transport:unsupported-message``; anything else ``transport:invalid-certificate``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from cryptography import x509

from mocks.exchange.base import ExchangeWrapper
from mocks.exchange.checks import TransportError
from mocks.exchange.envelope import CONTENT_TYPE_PROTECTED, Envelope, ErrorCondition
from mocks.registry.model import PartyCertificates, PartyNotFound

from mocks.security.certificates import PartyCredentials, thumbprint
from mocks.security.cms import ProtectionError, protect, unprotect
from mocks.security.validator import RequiredUsage, remote_certificate_condition, validate

log = logging.getLogger(__name__)


class CertificateRegistry(Protocol):
    """Where published certificates come from: the AR mock's :class:`~mocks.registry.core.Registry`."""

    def certificates(self, her_id: int) -> PartyCertificates: ...


@functools.lru_cache(maxsize=1024)
def _load(der: bytes) -> x509.Certificate:
    # Every message looks its sender's certificates up; parse each DER once.
    return x509.load_der_x509_certificate(der)


def _published(ar: CertificateRegistry, her_id: int | None) -> PartyCertificates:
    try:
        return ar.certificates(her_id or 0)
    except PartyNotFound:
        raise ProtectionError(
            ErrorCondition.INVALID_FIELD_VALUE,
            f"HER-id {her_id} is not a communication party in AR; its certificates cannot be found",
            ["FromHerId", str(her_id)],
        ) from None


def protect_envelope(envelope: Envelope, sender: PartyCredentials, ar: CertificateRegistry) -> Envelope:
    """The sender's step: sign with ``sender``'s signing credential, encrypt to the receiver's AR encryption
    certificate, and label the body ``application/pkcs7-mime; smime-type=signed-and-enveloped-data``.

    Like the library's send path, the receiver's certificate must be published
    (:class:`ProtectionError` ``transport:missing-certificate`` otherwise); its
    dates and usage are not judged, so a test can deliberately send to a bad one.
    """
    plain = envelope.materialised()
    published = ar.certificates(plain.to_her_id or 0)
    if published.encryption is None:
        raise ProtectionError(
            ErrorCondition.MISSING_CERTIFICATE,
            f"AR publishes no encryption certificate for HER-id {plain.to_her_id}",
            [str(plain.to_her_id)],
        )
    body = protect(plain.body, sender.signing.certificate, sender.signing.key, _load(published.encryption))
    return replace(plain, body=body, content_type=CONTENT_TYPE_PROTECTED)


@dataclass(frozen=True)
class Unprotector:
    """The receiver's step: the plain payload of a protected envelope, or the transport error to report.

    ``credentials`` holds the receiver's own credentials by the HER-ids it
    serves (one installation may use one pair for all of them).
    """

    credentials: Mapping[int, PartyCredentials]
    ar: CertificateRegistry

    def __call__(self, envelope: Envelope, now: datetime) -> bytes | TransportError:
        try:
            return self.open(envelope, now)
        except ProtectionError as exc:
            return TransportError(exc.condition, exc.description, exc.data)

    def open(self, envelope: Envelope, now: datetime) -> bytes:
        """The signed MsgHead bytes; :class:`ProtectionError` with the condition when a check fails."""
        sender = _published(self.ar, envelope.from_her_id)
        if sender.encryption is not None and validate(_load(sender.encryption), RequiredUsage.KEY_ENCIPHERMENT, now):
            raise ProtectionError(
                ErrorCondition.UNVERIFIED_CERTIFICATE,
                f"Could not verify HerId: {envelope.from_her_id} certificate "
                "(its encryption certificate in AR fails the validator for KeyEncipherment)",
                [str(envelope.from_her_id), thumbprint(_load(sender.encryption))],
            )
        own = self.credentials.get(envelope.to_her_id or 0)
        if own is None:
            raise ProtectionError(
                ErrorCondition.INVALID_CERTIFICATE,
                f"Encryption certificate not found: this receiver holds no decryption certificate for "
                f"HER-id {envelope.to_her_id}",
            )
        local = validate(own.encryption.certificate, RequiredUsage.KEY_ENCIPHERMENT, now)
        if local:
            log.error(
                "local decryption certificate %s for HER-id %s: %s (logged only, as Helsenorge.Messaging does)",
                thumbprint(own.encryption.certificate), envelope.to_her_id, local,
            )
        signing = None if sender.signing is None else _load(sender.signing)
        errors = validate(signing, RequiredUsage.NON_REPUDIATION, now)
        if errors:
            condition, description = remote_certificate_condition(errors)
            data = [] if signing is None else [signing.subject.rfc4514_string(), thumbprint(signing)]
            raise ProtectionError(condition, description, data)
        assert signing is not None  # a missing certificate is an error above
        return unprotect(envelope.body, own.encryption.key, own.encryption.certificate, signing)


class ProtectingExchange(ExchangeWrapper):
    """The sender's step for a whole harness: every message a party it holds credentials for sends to an
    ``_async`` or ``_sync`` queue goes out signed and encrypted to the receiver's AR certificate.

    Replies on ``_syncreply`` queues and transport errors stay plain (the harness's sync client and the error
    queues read them as they are). A receiver without an encryption certificate in AR gets plain text, as
    Helsenorge.Messaging's send path refuses to protect to nobody; the receiving node decides what it accepts.
    """

    PROTECTED_QUEUES = ("_async", "_sync")

    def __init__(self, inner, credentials: Mapping[int, PartyCredentials], ar: CertificateRegistry) -> None:
        super().__init__(inner)
        self.credentials = credentials
        self.ar = ar

    def send(self, envelope: Envelope) -> None:
        sender = self.credentials.get(envelope.from_her_id or 0)
        if sender is not None and envelope.to.endswith(self.PROTECTED_QUEUES):
            try:
                envelope = protect_envelope(envelope, sender, self.ar)
            except (ProtectionError, PartyNotFound) as exc:
                log.info("sending %s unprotected: %s", envelope.message_id, exc)
        self.inner.send(envelope)
