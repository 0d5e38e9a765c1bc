"""Test certificates made at run time: a test CA, and per HER-id a signing and an encryption certificate.

NHN's parties hold Buypass or Commfides enterprise certificates: one with
KeyUsage NonRepudiation for signing and one with KeyEncipherment for
encryption (Helsenorge.Messaging ``Documentation/KrypteringOgSignering.md``). The
harness cannot ship private keys (the library's own demo ``.p12`` files are not
ours to copy), so it issues look-alikes from its own CA whenever it needs them.

Every validity period and key usage is a parameter, because the receiver's
verdicts (expired, not yet valid, wrong usage) are exactly what the tests and a
vendor's conformance run need to provoke. Keys are random; only their generation
is cached (:func:`rsa_key`), so no verdict ever depends on which key was drawn.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

KEY_SIZE = 2048
CA_NAME = "DigiHelse harness test CA"


def key_usage(
    *,
    digital_signature: bool = False,
    content_commitment: bool = False,
    key_encipherment: bool = False,
    data_encipherment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    """An X.509 KeyUsage with only the named bits set (``content_commitment`` is .NET's NonRepudiation)."""
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=key_encipherment,
        data_encipherment=data_encipherment,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


SIGNING_USAGE = key_usage(digital_signature=True, content_commitment=True)
ENCRYPTION_USAGE = key_usage(key_encipherment=True, data_encipherment=True)


@functools.cache
def rsa_key(label: str) -> rsa.RSAPrivateKey:
    """One RSA-2048 key per label, generated once per process.

    Generating a key takes tens of milliseconds, and a test run issues dozens
    of certificates; certificates differ in validity and usage, not in keys, so
    sharing keys by label keeps the tests fast. Use a new label where a test
    needs a key nobody else holds (a forger's).
    """
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)


@dataclass(frozen=True, slots=True)
class Credential:
    """A certificate and its private key: what a party keeps in its certificate store."""

    certificate: x509.Certificate
    key: rsa.RSAPrivateKey


@dataclass(frozen=True, slots=True)
class PartyCredentials:
    """A communication party's two credentials, as Helsenorge.Messaging's ``SigningCertificate`` and
    ``DecryptionCertificate`` settings name them; AR publishes the certificates, never the keys."""

    her_id: int
    signing: Credential
    encryption: Credential


@functools.cache
def harness_ca() -> Credential:
    """The harness's self-signed CA, one per process. Nothing trusts it: the receiver checks what
    Helsenorge.Messaging checks (dates, key usage, the certificate AR publishes), not a chain."""
    key = rsa_key("ca")
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "NO"), x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    start = datetime(2000, 1, 1, tzinfo=timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start.replace(year=2100))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Credential(certificate, key)


def issue(
    her_id: int,
    organisation: str,
    purpose: str,
    *,
    valid_from: datetime,
    valid_to: datetime,
    usage: x509.KeyUsage | None,
    key_label: str | None = None,
    ca: Credential | None = None,
) -> Credential:
    """An end-entity certificate for ``her_id`` signed by the test CA.

    The subject names the organisation and the HER-id (``O=…, OU=HER-id …,
    CN=… <purpose>``) so a person reading an ``_error`` message or a CPP can tell
    whose certificate it is. ``valid_from``/``valid_to`` must be timezone-aware.
    ``usage=None`` leaves the KeyUsage extension out, as a certificate the library refuses.
    """
    ca = ca or harness_ca()
    key = rsa_key(key_label or f"{her_id}:{purpose}")
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "NO"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"HER-id {her_id}"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{organisation} {purpose}"),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(usage, critical=True)
    return Credential(builder.sign(ca.key, hashes.SHA256()), key)


def party_credentials(
    her_id: int,
    organisation: str,
    *,
    valid_from: datetime,
    valid_to: datetime,
    signing_usage: x509.KeyUsage | None = SIGNING_USAGE,
    encryption_usage: x509.KeyUsage | None = ENCRYPTION_USAGE,
) -> PartyCredentials:
    """A signing and an encryption credential for one party, valid over the same period."""
    return PartyCredentials(
        her_id,
        issue(her_id, organisation, "signing", valid_from=valid_from, valid_to=valid_to, usage=signing_usage),
        issue(her_id, organisation, "encryption", valid_from=valid_from, valid_to=valid_to, usage=encryption_usage),
    )


def der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


_KEY_USAGE_NAMES = {
    "digital_signature": "digitalSignature",
    "content_commitment": "nonRepudiation",
    "key_encipherment": "keyEncipherment",
    "data_encipherment": "dataEncipherment",
    "key_agreement": "keyAgreement",
    "key_cert_sign": "keyCertSign",
    "crl_sign": "cRLSign",
}


def key_usage_names(certificate: x509.Certificate) -> list[str]:
    """The KeyUsage bits set, in RFC 5280's names (``nonRepudiation``, ``keyEncipherment`` …); empty without the extension."""
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return []
    return [name for attribute, name in _KEY_USAGE_NAMES.items() if getattr(usage, attribute)]


def thumbprint(certificate: x509.Certificate | bytes) -> str:
    """SHA-1 of the DER (a certificate or its DER bytes), upper-case hex: .NET's ``X509Certificate2.Thumbprint``,
    how the library's logs and configuration name a certificate."""
    data = certificate if isinstance(certificate, bytes) else der(certificate)
    return hashlib.sha1(data).hexdigest().upper()  # an identifier, not a security hash


def save_credentials(path: Path, credentials: PartyCredentials) -> None:
    """Keep a party's two credentials as PEM (certificate, then unencrypted key) so a restarted harness opens what
    was protected before it stopped. Test keys only: the file is readable by its owner alone."""
    parts = []
    for credential in (credentials.signing, credentials.encryption):
        parts.append(credential.certificate.public_bytes(serialization.Encoding.PEM))
        parts.append(credential.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_bytes(b"".join(parts))


def load_credentials(path: Path, her_id: int) -> PartyCredentials:
    """What :func:`save_credentials` wrote."""
    data = path.read_bytes()
    certificates = x509.load_pem_x509_certificates(data)
    marker = b"-----BEGIN PRIVATE KEY-----"
    keys = [serialization.load_pem_private_key(marker + chunk.split(b"-----END PRIVATE KEY-----")[0]
                                               + b"-----END PRIVATE KEY-----\n", password=None)
            for chunk in data.split(marker)[1:]]
    if len(certificates) != 2 or len(keys) != 2:
        raise ValueError(f"{path}: expected a signing and an encryption credential (certificate and key each)")
    return PartyCredentials(her_id, Credential(certificates[0], keys[0]), Credential(certificates[1], keys[1]))
