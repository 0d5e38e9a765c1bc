"""The library-like peer's payload protection, written from Helsenorge.Messaging's documented behaviour.

``SignThenEncryptMessageProtection`` (``Helsenorge.Messaging``): the sender signs the payload with its
own signing certificate (``SignedCms``, SHA-256, content attached) and encrypts the signed bytes to the
receiver's encryption certificate (``EnvelopedCms``), labelling the message
``application/pkcs7-mime; smime-type=signed-and-enveloped-data``. The receiver looks the sender up in AR
(``GetCertificateDetailsForValidatingSignature`` / ``…ForEncryption``), checks that certificate with
``CertificateValidator`` (dates, then KeyUsage: NonRepudiation to verify a signature; a certificate
without the KeyUsage extension fails), decrypts with its own key and verifies the signature against the
AR certificate. The conditions it reports (``MessageListener``): ``transport:expired-certificate``,
``transport:invalid-certificate``, ``transport:missing-certificate``.

Independent of the harness's own CMS code (:mod:`mocks.security.cms`): signing and encryption are
``cryptography``'s PKCS#7 builders, decryption is ``pkcs7_decrypt_der``, and the signature is checked here
over the SignedData with ``asn1crypto``, so the kit is judged by a second implementation.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from asn1crypto import cms as asn1_cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7
from lxml import etree

PROTECTED = "application/pkcs7-mime; smime-type=signed-and-enveloped-data"
NS_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
NS_CP = "http://register.nhn.no/CommunicationParty"
NS_CERT = "http://register.nhn.no/CertificateDetails"
FOR_ENCRYPTION = "GetCertificateDetailsForEncryption"
FOR_SIGNATURE = "GetCertificateDetailsForValidatingSignature"


class CertificateRefused(Exception):
    """What the library's listener reports: ``condition`` (``transport:…``) and a description."""

    def __init__(self, condition: str, description: str) -> None:
        super().__init__(f"{condition}: {description}")
        self.condition = condition
        self.description = description


def _usage_ok(certificate: x509.Certificate, usage: str) -> bool:
    try:
        key_usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return False  # the library's CertificateValidator: no KeyUsage extension is a Usage error
    return bool(getattr(key_usage, usage))


def check(certificate: x509.Certificate | None, usage: str, now: datetime) -> None:
    """``CertificateValidator.Validate`` as the listener reports it: missing, expired (dates), invalid (usage)."""
    if certificate is None:
        raise CertificateRefused("transport:missing-certificate", "Certificate is missing")
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise CertificateRefused("transport:expired-certificate", "Certificate has expired or is not yet valid")
    if not _usage_ok(certificate, usage):
        raise CertificateRefused("transport:invalid-certificate", f"Certificate lacks KeyUsage {usage}")


@dataclass
class ArCertificates:
    """AR's certificate operations over SOAP 1.1 (Basic binding), cached per HER-id as the library caches them."""

    basic_url: str
    _cache: dict[tuple[int, str], x509.Certificate | None] = field(default_factory=dict)

    def get(self, her_id: int, operation: str) -> x509.Certificate | None:
        key = (her_id, operation)
        if key not in self._cache:
            body = (f'<s:Envelope xmlns:s="{NS_SOAP11}"><s:Body><{operation} xmlns="{NS_CP}"><herId>{her_id}</herId>'
                    f"</{operation}></s:Body></s:Envelope>")  # fmt: skip
            response = httpx.post(self.basic_url, content=body.encode(), timeout=10, headers={
                "Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{NS_CP}/ICommunicationPartyService/{operation}"'})  # fmt: skip
            response.raise_for_status()
            text = etree.fromstring(response.content).findtext(f".//{{{NS_CERT}}}Certificate")
            der = base64.b64decode("".join(text.split())) if text and text.strip() else None
            self._cache[key] = None if der is None else x509.load_der_x509_certificate(der)
        return self._cache[key]


@dataclass
class PeerProtection:
    """The peer's own signing and decryption credentials (certificate and key each) and where it finds others'."""

    signing_certificate: x509.Certificate
    signing_key: object
    decryption_certificate: x509.Certificate
    decryption_key: object
    ar: ArCertificates
    opened: int = 0
    sealed: int = 0

    def seal(self, body: bytes, to_her_id: int) -> bytes:
        """Sign, then encrypt to the receiver's AR encryption certificate (missing: the library refuses to send)."""
        recipient = self.ar.get(to_her_id, FOR_ENCRYPTION)
        if recipient is None:
            raise CertificateRefused("transport:missing-certificate", f"no encryption certificate for {to_her_id}")
        signed = (pkcs7.PKCS7SignatureBuilder().set_data(body)
                  .add_signer(self.signing_certificate, self.signing_key, hashes.SHA256())
                  .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary]))  # fmt: skip
        sealed = (pkcs7.PKCS7EnvelopeBuilder().set_data(signed).set_content_encryption_algorithm(algorithms.AES256)
                  .add_recipient(recipient).encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary]))  # fmt: skip
        self.sealed += 1
        return sealed

    def open(self, body: bytes, from_her_id: int, now: datetime) -> bytes:
        """The sender's certificates from AR checked, the payload decrypted and its signature verified."""
        check(self.ar.get(from_her_id, FOR_ENCRYPTION), "key_encipherment", now)
        signer = self.ar.get(from_her_id, FOR_SIGNATURE)
        check(signer, "content_commitment", now)  # NonRepudiation
        try:
            signed = pkcs7.pkcs7_decrypt_der(body, self.decryption_certificate, self.decryption_key, [])
        except ValueError as exc:
            raise CertificateRefused("transport:invalid-certificate", f"cannot decrypt: {exc}") from None
        content = verify(signed, signer)
        self.opened += 1
        return content


def verify(signed_der: bytes, signer: x509.Certificate) -> bytes:
    """The attached content of a CMS SignedData whose one signer is ``signer`` (by issuer and serial), its
    signature (RSA PKCS#1 v1.5 over the DER SET of signed attributes, SHA-256) and message digest checked."""
    try:
        signed = asn1_cms.ContentInfo.load(signed_der)["content"]
        content = signed["encap_content_info"]["content"].native
        [info] = list(signed["signer_infos"])
        sid = info["sid"].chosen
        if sid["serial_number"].native != signer.serial_number:
            raise ValueError("signed by another certificate than the one AR publishes")
        attributes = info["signed_attrs"]
        digest = next(a["values"][0].native for a in attributes if a["type"].native == "message_digest")
        if digest != hashlib.sha256(content).digest():
            raise ValueError("message digest does not match the content")
        to_verify = b"\x31" + attributes.dump()[1:]  # signed over as a SET, not as the [0] it is stored in
        signer.public_key().verify(info["signature"].native, to_verify, padding.PKCS1v15(), hashes.SHA256())
    except Exception as exc:  # noqa: BLE001 - every way a signature can be wrong is the same condition
        raise CertificateRefused("transport:invalid-certificate", f"signature does not verify: {exc}") from None
    return content
