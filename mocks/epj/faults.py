"""The reference EPJ as a system under test: its node handlers, with or without a known fault.

The conformance kit is only worth something if it catches the mistakes real
EPJs make, so its own tests run it against the reference EPJ broken on purpose,
one way at a time, and require that exactly the tests covering that mistake
fail. The faults are wrappers around :class:`~mocks.epj.core.EpjCore` and the
:class:`~mocks.kernel.node.Node` handlers, never changes to the core: the core stays
the one correct implementation, and each fault is a few lines that show how a
vendor could get it wrong.

The connectivity test (``DIALOG_INNBYGGER_TEST`` Foresporsel with TypeForesp
``KT`` → Svar on the synchronous channel) needs nothing here: the core answers it
in ``EpjCore.receive_sync`` (:mod:`mocks.epj.komtest`), and
:meth:`ReferenceHandlers.on_sync` hands every synchronous request to the core.

:class:`HandheldFault` is the one fault that is not on the wire: what the EPJ
tells the visiting employee's handheld. The kit cannot see a handheld, so it is
no :class:`Fault` (the kit must catch every one of those); the simulation's
``no_wasted_trip`` check sees it instead. It is played through the hook the
core takes at construction (``EpjCore(handheld=...)``), not by changing the core.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from enum import StrEnum

from lxml import etree

from mocks.exchange.envelope import Envelope
from mocks.exchange.outgoing import envelope_for
from mocks.kernel.node import Node
from mocks.kernel.ports import Clock, IdSource
from mocks.wire.apprec import apprec_error, apprec_for, apprec_status
from mocks.wire.codes import AppRecStatus, MessageFunction
from mocks.wire.models import AppRec, MsgHead, WireFormatError
from mocks.wire.msghead import parse_document, to_xml
from mocks.wire.safexml import XmlRejected, parse_xml

from mocks.epj.core import EpjCore
from mocks.epj.model import HandheldNotice

DEFAULT_SLOW_SYNC_S = 3.0
_AVVIST_DETAIL = "avvist av feilprofil avvist-everything"


class Fault(StrEnum):
    """One way a vendor's EPJ can get DigiHelse wrong (each breaks one family of requirements)."""

    NO_APPREC = "no-apprec"
    WRONG_ORIGINAL_MSGID = "wrong-original-msgid"
    AVVIST_EVERYTHING = "avvist-everything"
    JOURNALS_DUPLICATES = "journals-duplicates"
    SLOW_SYNC = "slow-sync"
    NO_TRANSPORT_CHECKS = "no-transport-checks"


FAULT_DESCRIPTIONS: dict[Fault, str] = {
    Fault.NO_APPREC: "journals and answers, but never sends an AppRec",
    Fault.WRONG_ORIGINAL_MSGID: "puts the AMQP message-id in AppRec OriginalMsgId/Id instead of the MsgHead MsgId",
    Fault.AVVIST_EVERYTHING: "answers every business message with AppRec status 2 (Avvist, X99) and does nothing",
    Fault.JOURNALS_DUPLICATES: "does not de-duplicate on MsgId: a redelivered message is journaled and acted on again",
    Fault.SLOW_SYNC: "answers synchronous requests only after the caller's timeout",
    Fault.NO_TRANSPORT_CHECKS: "skips the receiver's transport checks (headers, well-formed XML, sender) "
    "and never reports to the sender's _error queue",
}


class HandheldFault(StrEnum):
    """One way an EPJ can fail the visiting employee: the handheld is not on the wire, so only a simulation sees it."""

    DROP_NOTICE = "drop-handheld-notice"


HANDHELD_FAULT_DESCRIPTIONS: dict[HandheldFault, str] = {
    HandheldFault.DROP_NOTICE: "moves and cancels visits in the work list but never tells the visiting employee's "
    "handheld, so staff drive to visits that were cancelled in time (a wasted trip, 'bomtur')",
}


def _drop_notice(_notice: HandheldNotice) -> None:
    """The notice never reaches the handheld."""
    return None


def handheld_hook(fault: HandheldFault | None) -> Callable[[HandheldNotice], HandheldNotice | None] | None:
    """What to pass as ``EpjCore(handheld=...)`` for ``fault`` (None for a correct EPJ)."""
    if fault is None:
        return None
    if fault is HandheldFault.DROP_NOTICE:
        return _drop_notice
    raise ValueError(f"unknown handheld fault {fault!r}; known: {', '.join(f.value for f in HandheldFault)}")


def fault(name: str | None) -> Fault | None:
    """The fault called ``name`` (None for none); ``ValueError`` names the known ones."""
    if name is None or name == "":
        return None
    try:
        return Fault(name)
    except ValueError:
        raise ValueError(f"unknown fault profile {name!r}; known: {', '.join(f.value for f in Fault)}") from None


def _document(envelope: Envelope, root: object) -> MsgHead | AppRec | None:
    """What the body is, if it parses; faults must never crash on what the core would refuse."""
    if isinstance(root, (MsgHead, AppRec)):
        return root  # a simulation's bus hands the parsed document over
    try:
        element = root if isinstance(root, etree._Element) else parse_xml(envelope.body)
        return parse_document(element)
    except (XmlRejected, WireFormatError, ValueError):
        return None


def _given(root: object) -> object:
    """What the caller already parsed (an element from the transport checks, a document from a simulation's
    bus), for the core to reuse; anything else is parsed again from the body."""
    return root if isinstance(root, (etree._Element, MsgHead, AppRec)) else None


class ReferenceHandlers:
    """The reference EPJ's ``on_async``/``on_sync`` for a :class:`Node`, optionally with one fault."""

    def __init__(
        self,
        core: EpjCore,
        *,
        ids: IdSource,
        fault: Fault | None = None,
        slow_sync_s: float = DEFAULT_SLOW_SYNC_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.core = core
        self.ids = ids
        self.fault = fault
        self.slow_sync_s = slow_sync_s
        self._sleep = sleep
        self._lock = threading.Lock()
        self._deliveries: dict[str, int] = {}
        self._aliases: dict[str, list[str]] = {}

    # ------------------------------------------------------------------ asynchronous

    def on_async(self, envelope: Envelope, root: object, now) -> list[Envelope]:
        if self.fault is Fault.AVVIST_EVERYTHING:
            return self._avvist(envelope, root, now)
        if self.fault is Fault.JOURNALS_DUPLICATES:
            return self._without_dedup(envelope, root, now)
        out = self.core.receive(envelope, _given(root), now)
        if self.fault is Fault.NO_APPREC:
            return [e for e in out if e.subject != MessageFunction.APPREC]
        if self.fault is Fault.WRONG_ORIGINAL_MSGID:
            return [self._amqp_id_as_original(e, envelope) if e.subject == MessageFunction.APPREC else e for e in out]
        return out

    def _avvist(self, envelope: Envelope, root: object, now) -> list[Envelope]:
        msg = _document(envelope, root)
        if not isinstance(msg, MsgHead):
            # What the core refuses anyway (unreadable MsgHeads) is refused with X99 too; AppRecs settle as usual.
            out = self.core.receive(envelope, _given(root), now)
            return [self._as_x99(e) if e.subject == MessageFunction.APPREC else e for e in out]
        to_her_id = envelope.from_her_id or msg.sender.service_her_id
        from_her_id = envelope.to_her_id or msg.receiver.service_her_id
        if to_her_id is None or from_her_id is None:
            return []
        profile = self.core.profile
        rec = apprec_for(
            msg, AppRecStatus.AVVIST, [apprec_error("X99", _AVVIST_DETAIL)], profile.apprec_version, gen_date=now,
            msg_id=self.ids(), software_name=profile.software_name, software_version=profile.software_version,
        )  # fmt: skip
        return [envelope_for(rec, from_her_id=from_her_id, to_her_id=to_her_id, now=now, message_id=rec.id)]

    @staticmethod
    def _as_x99(out: Envelope) -> Envelope:
        rec = parse_document(out.body)
        if not isinstance(rec, AppRec):
            return out
        rejected = replace(rec, status=apprec_status(AppRecStatus.AVVIST), errors=(apprec_error("X99", _AVVIST_DETAIL),))
        return replace(out, body=to_xml(rejected))

    def _without_dedup(self, envelope: Envelope, root: object, now) -> list[Envelope]:
        """Every delivery is new to this EPJ: a repeated MsgId is journaled under an internal alias.

        The core de-duplicates on MsgId, so the only way to make it forget is to
        show it a MsgId it has not seen; what goes back out names the real MsgId
        again, as a sloppy EPJ that keys its journal on something else would.
        """
        msg = _document(envelope, root)
        if not isinstance(msg, MsgHead):
            return self.core.receive(envelope, _given(root), now)
        with self._lock:
            seen = self._deliveries.get(msg.msg_id, 0)
            self._deliveries[msg.msg_id] = seen + 1
            alias = f"{msg.msg_id}-dup{seen}" if seen else None
            if alias is not None:
                self._aliases.setdefault(msg.msg_id, []).append(alias)
        if alias is None:
            return self.core.receive(envelope, msg, now)
        out = self.core.receive(envelope, replace(msg, msg_id=alias), now)
        return [replace(e, body=e.body.replace(alias.encode(), msg.msg_id.encode())) for e in out]

    @staticmethod
    def _amqp_id_as_original(out: Envelope, incoming: Envelope) -> Envelope:
        rec = parse_document(out.body)
        if not isinstance(rec, AppRec):
            return out
        wrong = replace(rec, original_msg_id=replace(rec.original_msg_id, id=incoming.message_id))
        return replace(out, body=to_xml(wrong))

    # ------------------------------------------------------------------ synchronous

    def on_sync(self, envelope: Envelope, root: object, now) -> Envelope | None:
        if self.fault is Fault.SLOW_SYNC:
            self._sleep(self.slow_sync_s)
        return self.core.receive_sync(envelope, _given(root), now)

    # ------------------------------------------------------------------ what the journal says

    def journal_count(self, msg_id: str) -> int:
        """Cases journaled for one incoming MsgId, counting what a fault journaled under an alias."""
        with self._lock:
            aliases = list(self._aliases.get(msg_id, ()))
        return self.core.journal_count(msg_id) + sum(self.core.journal_count(a) for a in aliases)

    def tick(self, now) -> list[Envelope]:
        return self.core.due_resends(now)

    # ------------------------------------------------------------------ the node

    def node(self, exchange, her_ids: list[int], clock: Clock) -> Node:
        """The receive loops for ``her_ids``; without transport checks for that fault."""
        cls = _UncheckedNode if self.fault is Fault.NO_TRANSPORT_CHECKS else Node
        return cls(exchange, list(her_ids), self.on_async, clock, self.ids, on_sync=self.on_sync, on_tick=self.tick)


class _UncheckedNode(Node):
    """A node that hands every delivery straight to the application: no header, XML or sender checks.

    Nothing goes to the sender's ``_error`` queue; whatever the core makes of
    the body is what happens (a malformed body is silently dropped, a spoofed or
    header-less message is processed as if it were fine).
    """

    def process(self, delivery, *, sync: bool) -> None:
        envelope = delivery.envelope
        self.stats.received += 1
        try:
            now = self.clock()
            if sync:
                reply = self.on_sync(envelope, None, now) if self.on_sync else None
                self._send([reply] if reply is not None else [])
            else:
                self._send(self.on_async(envelope, None, now))
            self.exchange.ack(delivery)
        except Exception:  # noqa: BLE001 - as Node: redeliver, never lose
            self.stats.failures += 1
            self.exchange.release(delivery)


__all__ = [
    "DEFAULT_SLOW_SYNC_S",
    "FAULT_DESCRIPTIONS",
    "Fault",
    "HANDHELD_FAULT_DESCRIPTIONS",
    "HandheldFault",
    "ReferenceHandlers",
    "fault",
    "handheld_hook",
]
