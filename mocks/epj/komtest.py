"""The Kommunikasjonstest (``DIALOG_INNBYGGER_TEST``): the connectivity check every EPJ must answer.

Helsenorge and NHN use it before go-live to prove the round trip over the bus;
the CPA declares it synchronous and without AppRec.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from mocks.exchange.envelope import Envelope
from mocks.exchange.outgoing import sync_reply_for
from mocks.wire.codes import MessageFunction
from mocks.wire.models import MsgHead, message_type
from mocks.wire.msghead import build_svar

if TYPE_CHECKING:
    from mocks.epj.core import EpjCore


def komtest_answer(
    core: EpjCore, envelope: Envelope, msg: MsgHead, *, now: datetime, msg_id: str
) -> Envelope | None:
    """The Svar to a ``DIALOG_INNBYGGER_TEST`` Foresporsel, or None when it is not one for us.

    The reply is a Dialogmelding Notat in the same process, parties swapped and
    ConversationRef set (the Kommunikasjonstest sample's shape), ``Ack`` N: the
    CPA declares no AppRec for this process. Only a service of this EPJ
    answers, so a test to a HER-id the EPJ does not serve times out, as it would
    on the real bus.
    """
    if msg.msg_type.v != MessageFunction.TEST or envelope.reply_to is None or envelope.from_her_id is None:
        return None
    dialog = msg.dialogmelding
    if dialog is None or not dialog.foresporsler or core.store.service(envelope.to_her_id) is None:
        return None
    # build_svar checks the process table, which has no TEST row: build it as an
    # eKontakt Svar (same shape) and put the TEST process back on.
    as_ekontakt = replace(msg, msg_type=message_type(MessageFunction.EKONTAKT))
    svar = build_svar(
        as_ekontakt, tekst="Kommunikasjonstest mottatt.", gen_date=now, msg_id=msg_id,
        tema_kodet=dialog.foresporsler[0].type_foresp,
    )  # fmt: skip
    svar = replace(svar, msg_type=msg.msg_type, ack=False)
    return sync_reply_for(envelope, svar, now=now, message_id=msg_id)
