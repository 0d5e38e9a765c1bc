"""What a Helsenorge.Messaging receiver checks before the application sees a message.

A peer that gets these wrong does not get an AppRec back: it gets an empty
message on its ``_error`` queue with an ``errorCondition``. The harness must
produce exactly those reactions (so vendors can test against it) and detect them
(so the conformance kit can say which rule a vendor broke). Keeping the checks
sans-IO (no sockets, no clock, no queue) lets the embedded exchange, the AMQP
backend, the SimPy model and the unit tests share one implementation.

Order follows ``MessageListener``: header fields, then the content type and
payload protection, then XML well-formedness, then the sender in the payload
against ``fromHerId``. The first failure wins, as in the library, because a
later check cannot run on what an earlier one refused.

Payload protection is opt-in: without an ``unprotect`` step a CMS-protected
body is refused as ``transport:unsupported-message``; with one (see
:mod:`mocks.security.protection`) the step decrypts and verifies it, and its
verdict is the transport error, or the plain XML the later checks read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from lxml import etree

from mocks.wire.codes import NS_APPREC_10, NS_APPREC_11, NS_MSGHEAD
from mocks.wire.safexml import DEFAULT_MAX_BYTES, XmlRejected, parse_xml

from mocks.exchange.envelope import (
    CONTENT_TYPE_PLAIN,
    CONTENT_TYPE_PROTECTED,
    Envelope,
    ErrorCondition,
    QueueKind,
    queue_name,
)

ACCEPTED_CONTENT_TYPES: frozenset[str] = frozenset({CONTENT_TYPE_PLAIN, CONTENT_TYPE_PROTECTED})
"""What the receiver accepts on an ``_async``/``_sync`` queue: plain XML, or CMS sign-then-encrypt."""

# Application property names of the error message (AmqpCore.SendErrorAsync).
PROP_ORIGINAL_MESSAGE_ID = "originalMessageId"
PROP_RECEIVER_TIMESTAMP = "receiverTimeStamp"
PROP_ERROR_CONDITION = "errorCondition"
PROP_ERROR_DESCRIPTION = "errorDescription"
PROP_ERROR_CONDITION_DATA = "errorConditionData"


@dataclass(frozen=True, slots=True)
class TransportError:
    """One reportable receive failure, in the shape the ``_error`` message carries it."""

    condition: ErrorCondition
    description: str
    data: list[str]
    """``errorConditionData`` before ``;``-joining: field names, or [expected, received]."""


Unprotect = Callable[[Envelope], "bytes | TransportError"]
"""Removes payload protection from a ``signed-and-enveloped-data`` envelope: the plain body, or why not."""


@dataclass(frozen=True, slots=True)
class Checked:
    """The verdict on one incoming envelope, plus the parsed payload so nobody parses twice.

    ``root`` is set whenever the body parsed, even if a later check (the sender
    HER-id) failed, so a caller can still log what the message claimed to be.
    """

    root: etree._Element | None
    error: TransportError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _normalise_content_type(value: str) -> str:
    # Media types and parameter names are case-insensitive (RFC 2045) and peers
    # differ in spacing around ';'. The parameters still count: smime-type is
    # what tells signed-and-enveloped CMS apart from other variants.
    parts = [p.strip() for p in value.split(";")]
    return "; ".join(p.lower() for p in parts if p)


def missing_header_fields(envelope: Envelope) -> list[str]:
    """AMQP names of the required header fields that are absent or zero (``ValidateMessageHeader``)."""
    missing = []
    if not envelope.from_her_id:
        missing.append("fromHerId")
    if not envelope.to_her_id:
        missing.append("toHerId")
    if not (envelope.subject or "").strip():
        missing.append("subject")
    ts = envelope.application_timestamp
    # .NET's "zero" DateTime is DateTime.MinValue (0001-01-01); a peer that forgets
    # to set the field sends that rather than nothing.
    if ts is None or ts.replace(tzinfo=None) == datetime.min:
        missing.append("applicationTimeStamp")
    if not (envelope.content_type or "").strip():
        missing.append("contentType")
    return missing


def _is_protected(envelope: Envelope) -> bool:
    return _normalise_content_type(envelope.content_type or "") == _normalise_content_type(CONTENT_TYPE_PROTECTED)


def check_header(
    envelope: Envelope,
    *,
    allowed_content_types: Iterable[str] = ACCEPTED_CONTENT_TYPES,
    protection: bool = False,
) -> TransportError | None:
    """Header fields and content type: everything that can be judged without reading the body.

    ``protection`` says whether the receiver can remove CMS protection; without
    it a protected payload is ``transport:unsupported-message``.
    """
    missing = missing_header_fields(envelope)
    if missing:
        return TransportError(
            ErrorCondition.INVALID_FIELD_VALUE,
            f"required AMQP field(s) missing or zero: {', '.join(missing)}",
            missing,
        )
    content_type = _normalise_content_type(envelope.content_type or "")
    allowed = {_normalise_content_type(c) for c in allowed_content_types}
    if content_type not in allowed:
        return TransportError(
            ErrorCondition.INVALID_FIELD_VALUE,
            f"contentType {envelope.content_type!r} is not accepted here "
            f"(accepted: {', '.join(sorted(allowed))})",
            ["contentType"],
        )
    if _is_protected(envelope) and not protection:
        return TransportError(
            ErrorCondition.UNSUPPORTED_MESSAGE,
            "CMS-protected payloads (signed-and-enveloped-data) are not supported by this receiver "
            f"(protection is off); send unprotected XML with contentType {CONTENT_TYPE_PLAIN!r}",
            [envelope.content_type or ""],
        )
    return None


def _her_id_of(idents: Iterable[etree._Element], id_tag: str, type_tag: str) -> str | None:
    for ident in idents:
        type_id = ident.find(type_tag)
        if type_id is not None and (type_id.get("V") or "").strip().upper() == "HER":
            value = (ident.findtext(id_tag) or "").strip()
            if value:
                return value
    return None


def sender_her_ids(root: etree._Element) -> list[str] | None:
    """The sender's HER-ids from the payload, outermost organisation first; None if the
    document type carries no sender we know how to read.

    MsgHead: ``MsgInfo/Sender/Organisation[/Organisation…]/Ident[TypeId/@V='HER']/Id``
    (level 1 = virksomhet, level 2 = kommunikasjonspart). AppRec 1.0/1.1:
    ``Sender/HCP/Inst/Id`` and ``Sender/HCP/Inst/Dept/Id`` with ``TypeId/@V='HER'``.
    An empty list means "a known document whose sender has no HER-id".
    """
    ns = etree.QName(root).namespace
    local = etree.QName(root).localname
    if ns == NS_MSGHEAD and local == "MsgHead":
        m = f"{{{NS_MSGHEAD}}}"
        ids: list[str] = []
        org = root.find(f"{m}MsgInfo/{m}Sender/{m}Organisation")
        while org is not None:
            her = _her_id_of(org.findall(f"{m}Ident"), f"{m}Id", f"{m}TypeId")
            if her is not None:
                ids.append(her)
            org = org.find(f"{m}Organisation")
        return ids
    if ns in (NS_APPREC_10, NS_APPREC_11) and local == "AppRec":
        a = f"{{{ns}}}"
        ids = []
        inst = root.find(f"{a}Sender/{a}HCP/{a}Inst")
        if inst is not None:
            for holder in (inst, inst.find(f"{a}Dept")):
                if holder is None:
                    continue
                her = _her_id_of([holder], f"{a}Id", f"{a}TypeId")
                if her is not None:
                    ids.append(her)
        return ids
    return None


def _same_her_id(text: str, her_id: int) -> bool:
    try:
        return int(text) == her_id
    except ValueError:
        return False


def check_sender(root: etree._Element, from_her_id: int) -> TransportError | None:
    """The payload's sender must be the AMQP ``fromHerId`` (``SenderHerIdMismatchException``).

    Either organisational level may match. The AMQP ``fromHerId`` is the
    communication party that owns the sending queue, normally the level-2 HER-id,
    but parties that communicate as a whole virksomhet use the level-1 HER-id;
    Helsenorge.Messaging leaves this comparison to the application, and refusing
    a legitimate level-1 sender would be a false "spoofing" alarm. ``data`` is
    ``[expected, received]``: expected is the AMQP ``fromHerId``, received the
    innermost HER-id the payload names. Documents other than MsgHead and AppRec
    are not checked here: they carry no sender we can compare.
    """
    ids = sender_her_ids(root)
    if ids is None:
        return None
    expected = str(from_her_id)
    if not ids:
        return TransportError(
            ErrorCondition.INVALID_FIELD_VALUE,
            f"the payload's sender carries no HER-id to compare with fromHerId {expected}",
            [expected, ""],
        )
    if any(_same_her_id(her, from_her_id) for her in ids):
        return None
    received = ids[-1]
    return TransportError(
        ErrorCondition.SPOOFING,
        f"sender HER-id in the payload ({', '.join(ids)}) does not match the AMQP fromHerId {expected}",
        [expected, received],
    )


def check_incoming(
    envelope: Envelope,
    *,
    allowed_content_types: Iterable[str] = ACCEPTED_CONTENT_TYPES,
    max_bytes: int = DEFAULT_MAX_BYTES,
    unprotect: Unprotect | None = None,
) -> Checked:
    """All receiver-side transport checks on one envelope, the first failure winning.

    ``unprotect`` (opt-in) opens CMS-protected payloads before the XML checks.
    """
    error = check_header(envelope, allowed_content_types=allowed_content_types, protection=unprotect is not None)
    if error is not None:
        return Checked(root=None, error=error)
    body = envelope.body
    if unprotect is not None and _is_protected(envelope):
        opened = unprotect(envelope)
        if isinstance(opened, TransportError):
            return Checked(root=None, error=opened)
        body = opened
    try:
        root = parse_xml(body, max_bytes=max_bytes)
    except XmlRejected as exc:
        return Checked(
            root=None,
            error=TransportError(
                ErrorCondition.NOT_WELL_FORMED_XML,
                f"payload is not acceptable XML ({exc.rule}): {exc.detail}",
                [exc.rule],
            ),
        )
    assert envelope.from_her_id  # guaranteed by check_header
    return Checked(root=root, error=check_sender(root, envelope.from_her_id))


def _iso_utc(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        # A naive time is ambiguous across the harness's processes and Norway's
        # DST; refuse it rather than guess.
        raise ValueError("now must be timezone-aware")
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def transport_error_envelope(
    original: Envelope, error: TransportError, *, now: datetime, message_id: str
) -> Envelope | None:
    """The message Helsenorge.Messaging sends to the original sender's ``_error`` queue.

    A new message (not a clone, since library PR #846): empty body, the original
    subject, HER-ids swapped, the error in application properties. The queue is
    ``{fromHerId}_error``, standing in for the AR ``E_SB_ERROR`` address. Without
    a ``fromHerId`` there is no one to tell, so the result is None and the caller
    can only log and complete the message. ``correlation_id`` equals the new
    ``message_id``, as the library does for any message sent without one; the
    link to the failed message is ``originalMessageId``. ``cpa_id`` is carried
    over because the agreement between the two parties is the same either way.
    """
    if not original.from_her_id:
        return None
    return Envelope(
        message_id=message_id,
        to=queue_name(original.from_her_id, QueueKind.ERROR),
        subject=original.subject,
        body=b"",
        content_type=CONTENT_TYPE_PLAIN,
        reply_to=None,
        correlation_id=message_id,
        from_her_id=original.to_her_id,
        to_her_id=original.from_her_id,
        application_timestamp=now,
        cpa_id=original.cpa_id,
        properties={
            PROP_ORIGINAL_MESSAGE_ID: original.message_id,
            PROP_RECEIVER_TIMESTAMP: _iso_utc(now),
            PROP_ERROR_CONDITION: error.condition.value,
            PROP_ERROR_DESCRIPTION: error.description,
            PROP_ERROR_CONDITION_DATA: ";".join(error.data),
        },
    )
