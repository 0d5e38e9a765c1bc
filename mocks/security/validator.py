"""Certificate checks as Helsenorge.Registries' ``CertificateValidator`` makes them, and the conditions they map to.

``CertificateValidator.Validate(certificate, usage)`` returns bit flags
(``Abstractions/CertificateErrors.cs``): ``Missing`` for no certificate,
``StartDate``/``EndDate`` when *now* is outside the validity period, and
``Usage`` when the certificate lacks the KeyUsage bits asked for. A certificate
without a KeyUsage extension fails the usage test, as in the library
(``Helsenorge.Registries/X509Certificate2Extensions.cs`` ``HasKeyUsage`` returns
false when there is no such extension). Chain building and revocation (``Revoked``, ``RevokedUnknown``)
are not modelled: they need the issuers' CRL/OCSP services, and the harness's
test CA has none.

Which ``errorCondition`` a receiver reports for the sender's signing
certificate is ``MessageListener.ReportErrorOnRemoteCertificate`` (source:
helsenorge/Helsenorge.Messaging ``src/Helsenorge.Messaging/Amqp/Receivers/MessageListener.cs``):
a single flag picks its condition, and any combination of flags is
``transport:invalid-certificate`` ("More than one error with certificate").
"""

from __future__ import annotations

from datetime import datetime
from enum import IntFlag, StrEnum

from cryptography import x509

from mocks.exchange.envelope import ErrorCondition


class CertificateErrors(IntFlag):
    """``Helsenorge.Registries.Abstractions.CertificateErrors``, the values the harness can find."""

    NONE = 0
    START_DATE = 1
    END_DATE = 2
    USAGE = 4
    MISSING = 32


class RequiredUsage(StrEnum):
    """The .NET ``X509KeyUsageFlags`` a receiver asks for, valued as the ``x509.KeyUsage`` attribute that holds it."""

    NON_REPUDIATION = "content_commitment"
    KEY_ENCIPHERMENT = "key_encipherment"


def validate(certificate: x509.Certificate | None, usage: RequiredUsage, now: datetime) -> CertificateErrors:
    """What ``CertificateValidator.Validate`` would say about ``certificate`` at ``now`` (timezone-aware)."""
    if certificate is None:
        return CertificateErrors.MISSING
    errors = CertificateErrors.NONE
    if now < certificate.not_valid_before_utc:
        errors |= CertificateErrors.START_DATE
    if now > certificate.not_valid_after_utc:
        errors |= CertificateErrors.END_DATE
    try:
        extension = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    except x509.ExtensionNotFound:  # the library's HasKeyUsage: no extension, no usage
        return errors | CertificateErrors.USAGE
    if not getattr(extension.value, usage.value):
        errors |= CertificateErrors.USAGE
    return errors


REMOTE_CERTIFICATE_CONDITIONS: dict[CertificateErrors, tuple[ErrorCondition, str]] = {
    CertificateErrors.MISSING: (ErrorCondition.MISSING_CERTIFICATE, "Certificate is missing"),
    CertificateErrors.START_DATE: (ErrorCondition.EXPIRED_CERTIFICATE, "Invalid start date"),
    CertificateErrors.END_DATE: (ErrorCondition.EXPIRED_CERTIFICATE, "Invalid end date"),
    CertificateErrors.USAGE: (ErrorCondition.INVALID_CERTIFICATE, "Invalid usage"),
}
"""``ReportErrorOnRemoteCertificate``: condition and description for each single error."""


def remote_certificate_condition(errors: CertificateErrors) -> tuple[ErrorCondition, str]:
    """The condition and description a receiver reports for errors in the sender's signing certificate."""
    return REMOTE_CERTIFICATE_CONDITIONS.get(
        errors, (ErrorCondition.INVALID_CERTIFICATE, "More than one error with certificate")
    )
