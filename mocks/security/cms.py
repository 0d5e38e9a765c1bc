"""CMS sign-then-encrypt, as Helsenorge.Messaging's ``SignThenEncryptMessageProtection`` does it.

Protect (source: helsenorge/Helsenorge.Messaging
``src/Helsenorge.Messaging/Security/SignThenEncryptMessageProtection.cs``):

1. ``SignedCms(new ContentInfo(data))`` signed by the sender's signing
   certificate, content attached — here a SignedData with SHA-256 and RSA
   PKCS#1 v1.5 that embeds the signer's certificate, as ``CmsSigner`` does;
2. ``EnvelopedCms`` over those bytes for one ``CmsRecipient`` identified by
   issuer and serial number (RSA key transport to the recipient's encryption
   certificate), content encrypted with AES-256-CBC (OID 2.16.840.1.101.3.4.1.42,
   ``MessagingEncryptionType.AES256``, the library's default).

Unprotect reverses it: refuse DES and 3DES (``RejectionMessagingEncryptionType``,
``UnsupportedMessageException`` → ``transport:unsupported-message``), decrypt,
check that the expected signer (the certificate AR publishes for the sender)
signed it, verify the signature. The library raises ``SecurityException`` when
decryption fails and ``CertificateMessagePayloadException`` (a
``SecurityException``) when the signer is not the expected certificate; its
``MessageListener`` reports every ``SecurityException`` as
``transport:invalid-certificate``. A SignedData that does not decode or whose
signature does not verify surfaces in .NET as ``CryptographicException``, which
the library leaves to its retry path (ten redeliveries, then the dead-letter
queue); the harness reports those as ``transport:invalid-certificate`` at once,
because retrying cannot change the verdict and the sender learns why.

``cryptography`` builds both structures and decrypts, but has no SignedData
verification, so the SignedData is read with ``asn1crypto``: it declares the
RFC 5652 structures (no hand-written ASN.1 here), parses lazily, and is pure
Python. The signature itself is checked with ``cryptography``.
"""

from __future__ import annotations

from asn1crypto import cms as asn1_cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7

from mocks.exchange.envelope import ErrorCondition

from mocks.security.certificates import der, thumbprint

REJECTED_CONTENT_ENCRYPTION = {
    "1.3.14.3.2.7": "DES",
    "1.2.840.113549.3.7": "3DES",
}
"""Content-encryption OIDs a receiver refuses (``RejectionMessagingEncryptionType`` DES | TripleDES)."""

_DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class ProtectionError(Exception):
    """Protection could not be removed; ``condition`` is the ``errorCondition`` the sender is told,
    ``data`` its ``errorConditionData`` (thumbprints or an OID)."""

    def __init__(self, condition: ErrorCondition, description: str, data: list[str] | None = None) -> None:
        super().__init__(f"{condition.value}: {description}")
        self.condition = condition
        self.description = description
        self.data = data or []


def protect(
    body: bytes,
    signer_cert: x509.Certificate,
    signer_key: rsa.RSAPrivateKey,
    recipient_cert: x509.Certificate,
) -> bytes:
    """DER of an EnvelopedData (AES-256-CBC, RSA key transport) around an attached SignedData (SHA-256) of ``body``.

    Binary mode throughout: the MsgHead bytes are signed and delivered exactly
    as given, never rewritten to MIME's canonical CRLF line endings.
    """
    signed = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(body)
        .add_signer(signer_cert, signer_key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )
    return (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(signed)
        .set_content_encryption_algorithm(algorithms.AES256)
        .add_recipient(recipient_cert)
        .encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )


def _invalid(description: str, *data: str) -> ProtectionError:
    return ProtectionError(ErrorCondition.INVALID_CERTIFICATE, description, list(data))


def _check_content_encryption(data: bytes) -> None:
    try:
        info = asn1_cms.ContentInfo.load(data)
        if info["content_type"].native != "enveloped_data":
            raise _invalid(f"payload is CMS {info['content_type'].native}, not enveloped-data")
        oid = info["content"]["encrypted_content_info"]["content_encryption_algorithm"]["algorithm"].dotted
    except (ValueError, TypeError, KeyError) as exc:
        raise _invalid(f"payload is not a CMS EnvelopedData: {exc}") from None
    if oid in REJECTED_CONTENT_ENCRYPTION:
        raise ProtectionError(
            ErrorCondition.UNSUPPORTED_MESSAGE,
            f"EnvelopedCms was encrypted with disabled ContentEncryptionAlgorithm: "
            f"{REJECTED_CONTENT_ENCRYPTION[oid]} : {oid}",
            [oid],
        )


def _decrypt(data: bytes, recipient_key: rsa.RSAPrivateKey, recipient_cert: x509.Certificate) -> bytes:
    # cryptography decrypts AES-128/256-CBC; any other cipher fails here like a wrong key would in .NET
    # (CryptographicException → SecurityException), except DES/3DES, refused by name before.
    try:
        return pkcs7.pkcs7_decrypt_der(data, recipient_cert, recipient_key, [])
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:  # no matching recipient, bad padding, cipher
        raise _invalid(
            f"message could not be decrypted with certificate {thumbprint(recipient_cert)} "
            f"(serial {recipient_cert.serial_number:X}): {exc}",
            thumbprint(recipient_cert),
        ) from None


def _signed_data(content: bytes) -> asn1_cms.SignedData:
    info = asn1_cms.ContentInfo.load(content)
    if info["content_type"].native != "signed_data":
        raise _invalid(f"decrypted content is CMS {info['content_type'].native}, not signed-data")
    return info["content"]


def _same_issuer_and_serial(sid: asn1_cms.SignerIdentifier, cert: x509.Certificate) -> bool:
    if sid.name != "issuer_and_serial_number":
        return False
    issuer_and_serial = sid.chosen
    return (
        issuer_and_serial["serial_number"].native == cert.serial_number
        and issuer_and_serial["issuer"].dump() == cert.issuer.public_bytes()
    )


def _verify_signer(signed: asn1_cms.SignedData, expected: x509.Certificate) -> bytes:
    content = signed["encap_content_info"]["content"].native
    if content is None:
        raise _invalid("SignedData carries no content (a detached signature)")
    embedded = [c.chosen.dump() for c in signed["certificates"] or () if c.name == "certificate"]
    if der(expected) not in embedded:
        # SignThenEncryptMessageProtection looks the expected certificate up by serial number among the
        # embedded ones; the harness wants the very certificate, since the certificate set is not signed
        # and a same-serial look-alike (or a damaged copy) is not the one AR publishes.
        actual = next((thumbprint(c) for c in embedded[-1:]), "")
        raise _invalid(
            f"expected signing certificate {thumbprint(expected)}, but the message was signed with {actual or 'none'}",
            thumbprint(expected),
            actual,
        )
    infos = list(signed["signer_infos"])
    if len(infos) != 1 or not _same_issuer_and_serial(infos[0]["sid"], expected):
        raise _invalid(f"the signature is not made by the expected signing certificate {thumbprint(expected)}")
    _verify_signature(infos[0], content, expected)
    return content


def _verify_signature(info: asn1_cms.SignerInfo, content: bytes, expected: x509.Certificate) -> None:
    digest_name = info["digest_algorithm"]["algorithm"].native
    digest = _DIGESTS.get(digest_name)
    if digest is None or info["signature_algorithm"].signature_algo != "rsassa_pkcs1v15":
        raise _invalid(f"unsupported signature algorithm {info['signature_algorithm']['algorithm'].native}/{digest_name}")
    attributes = info["signed_attrs"]
    if attributes:
        computed = hashes.Hash(digest())
        computed.update(content)
        wanted = ("message_digest", "content_type")  # decoding the others (S/MIME capabilities …) costs time for nothing
        values = {name: a["values"][0].native for a in attributes if (name := a["type"].native) in wanted}
        if values.get("message_digest") != computed.finalize() or values.get("content_type") != "data":
            raise _invalid("the message digest does not match the content: the message was altered after signing")
        # RFC 5652 §5.4: the signature covers the attributes' DER with the SET OF tag, not the [0] IMPLICIT one.
        signed_bytes = b"\x31" + attributes.dump()[1:]
    else:
        signed_bytes = content
    public_key = expected.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise _invalid("the expected signing certificate does not hold an RSA key")
    try:
        public_key.verify(info["signature"].native, signed_bytes, padding.PKCS1v15(), digest())
    except InvalidSignature:
        raise _invalid("the signature does not verify with the expected signing certificate") from None


def unprotect(
    data: bytes,
    recipient_key: rsa.RSAPrivateKey,
    recipient_cert: x509.Certificate,
    expected_signer_cert: x509.Certificate,
) -> bytes:
    """The signed content of a sign-then-encrypt message, or :class:`ProtectionError`.

    ``recipient_key``/``recipient_cert`` are the receiver's decryption
    credential; ``expected_signer_cert`` is the signing certificate AR publishes
    for the sender. Certificate validity and usage are judged by the caller
    (:mod:`mocks.security.protection`), as the library does before it decrypts.
    """
    _check_content_encryption(data)
    content = _decrypt(data, recipient_key, recipient_cert)
    try:
        return _verify_signer(_signed_data(content), expected_signer_cert)
    except (ValueError, TypeError, KeyError) as exc:  # asn1crypto parses lazily: garbage shows up on first use
        raise _invalid(f"decrypted content is not a valid CMS SignedData: {exc}") from None
