"""CMS in the kit (``--protect``): sign-then-encrypt what the kit sends, open and verify what comes back.

Production traffic between helsenorge and an EPJ is always signed and encrypted
(Helsenorge.Messaging's ``SignThenEncryptMessageProtection``), so a kit that only
sends plain XML never meets the certificate half of the library. With
``--protect`` the kit holds its own signing and encryption credentials, publishes
the certificates in its AR (served with ``--registries``, so the EPJ can look
them up with ``GetCertificateDetailsForEncryption`` /
``GetCertificateDetailsForValidatingSignature``), and uses the EPJ's certificates
from the same AR.

Sending follows ``AmqpCore.SendAsync`` (source: helsenorge/Helsenorge.Messaging
``src/Helsenorge.Messaging/Amqp/AmqpCore.cs``): the receiver's encryption
certificate is validated for KeyEncipherment first, and a failing one stops the
send with "Remote encryption certificate … is not valid. Certificate error(s): …"
(``EventIds.RemoteCertificate``). The kit turns that into a failed test naming
the errors and the condition a receiver would report for such a certificate.
Receiving is :class:`mocks.security.protection.Unprotector`, the harness's
``MessageListener`` order: what fails becomes the item's transport error (the
tests name it, and the kit sends it to the EPJ's ``_error`` queue as the library
would).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography import x509

from mocks.exchange.checks import TransportError
from mocks.exchange.envelope import CONTENT_TYPE_PROTECTED, Envelope, QueueKind
from mocks.registry.core import Registry
from mocks.security.certificates import (
    ENCRYPTION_USAGE, SIGNING_USAGE, PartyCredentials, der, party_credentials, thumbprint,
)
from mocks.security.cms import protect
from mocks.security.protection import Unprotector
from mocks.security.validator import CertificateErrors, RequiredUsage, remote_certificate_condition, validate

from conformance.context import Failed

VALIDITY = timedelta(days=365)
"""How long the certificates the kit issues are valid (from one day before the run)."""


class CertificateProblem(StrEnum):
    """How the reference EPJ's published certificates are made wrong (``--reference-certificates``), to see what
    the kit reports for each of the library's certificate conditions."""

    VALID = "valid"
    EXPIRED = "expired"
    """Both certificates ended a day ago: ``CertificateErrors.EndDate`` → ``transport:expired-certificate``."""
    NO_KEY_USAGE = "no-key-usage"
    """Both certificates lack the KeyUsage extension: ``Usage`` → ``transport:invalid-certificate``."""
    WRONG_USAGE = "wrong-usage"
    """The usages swapped (the signing certificate has KeyEncipherment, the encryption one NonRepudiation):
    ``Usage`` → ``transport:invalid-certificate``."""


def issue_credentials(her_id: int, organisation: str, now: datetime,
                      problem: CertificateProblem = CertificateProblem.VALID) -> PartyCredentials:
    """A party's two credentials valid around ``now``, or wrong in the way ``problem`` names."""
    start, end = now - timedelta(days=1), now + VALIDITY
    signing, encryption = SIGNING_USAGE, ENCRYPTION_USAGE
    if problem is CertificateProblem.EXPIRED:
        start, end = now - VALIDITY, now - timedelta(days=1)
    elif problem is CertificateProblem.NO_KEY_USAGE:
        signing = encryption = None
    elif problem is CertificateProblem.WRONG_USAGE:
        signing, encryption = ENCRYPTION_USAGE, SIGNING_USAGE
    return party_credentials(her_id, organisation, valid_from=start, valid_to=end,
                             signing_usage=signing, encryption_usage=encryption)  # fmt: skip


def publish(registry: Registry, credentials: PartyCredentials) -> None:
    """Publish a party's certificates (never its keys) in AR, as the EPJ will look them up."""
    registry.publish_certificates(credentials.her_id, signing=der(credentials.signing.certificate),
                                  encryption=der(credentials.encryption.certificate))  # fmt: skip


def refusal(errors: CertificateErrors) -> str:
    """The library's ``CertificateErrors`` in its own ``ToString()`` form (``EndDate``, ``Usage, EndDate`` …)."""
    names = {CertificateErrors.START_DATE: "StartDate", CertificateErrors.END_DATE: "EndDate",
             CertificateErrors.USAGE: "Usage", CertificateErrors.MISSING: "Missing"}  # fmt: skip
    return ", ".join(name for flag, name in names.items() if flag in errors)


@dataclass(frozen=True)
class KitProtection:
    """The kit's credentials and the AR it finds the EPJ's certificates in."""

    credentials: PartyCredentials
    registry: Registry
    clock: Callable[[], datetime]

    @property
    def unprotector(self) -> Unprotector:
        return Unprotector({self.credentials.her_id: self.credentials}, self.registry)

    def open(self, envelope: Envelope) -> bytes | TransportError:
        """The plain body of a protected envelope the EPJ sent, or the transport error the library would report."""
        return self.unprotector(envelope, self.clock())

    def seal(self, envelope: Envelope) -> Envelope:
        """``envelope`` signed by the kit and encrypted to the receiver's AR encryption certificate.

        Transport errors (empty bodies on ``_error`` queues) go as they are, as the library sends them.
        Raises :class:`~conformance.context.Failed` when the EPJ's published encryption certificate fails the
        validator, as ``AmqpCore.SendAsync`` refuses to send.
        """
        plain = envelope.materialised()
        if plain.to.endswith("_" + QueueKind.ERROR.value) or not plain.body:
            return plain
        to = plain.to_her_id or 0
        published = self.registry.certificates(to).encryption
        certificate = None if published is None else x509.load_der_x509_certificate(published)
        errors = validate(certificate, RequiredUsage.KEY_ENCIPHERMENT, self.clock())
        if errors:
            condition, description = remote_certificate_condition(errors)
            named = "none is published" if certificate is None else (
                f"{certificate.subject.rfc4514_string()} (thumbprint {thumbprint(certificate)}, valid "
                f"{certificate.not_valid_before_utc:%Y-%m-%d}–{certificate.not_valid_after_utc:%Y-%m-%d})")
            raise Failed(
                f"{condition.value}: the EPJ's encryption certificate in AR for HER-id {to}: {named}. "
                f"Helsenorge.Messaging will not send to it (\"Remote encryption certificate … is not valid. "
                f"Certificate error(s): {refusal(errors)}\"); a receiver reports such a certificate as "
                f"{condition.value} ({description})"
            )
        assert certificate is not None
        body = protect(plain.body, self.credentials.signing.certificate, self.credentials.signing.key, certificate)
        return replace(plain, body=body, content_type=CONTENT_TYPE_PROTECTED)


__all__ = ["CertificateProblem", "KitProtection", "issue_credentials", "publish", "refusal"]
