"""What must hold in the services' stores after any run, however hard it was loaded.

A load test that only counts HTTP status codes would pass while messages sat
unreceipted on the bus or were journaled twice: a 202 says helsenorge took the
message, not that the municipality got it. These checks read the SQLite files
``digihelse serve --db DIR`` keeps — the same rows the services act on, not a
log about them — so they also work after the server has stopped, on a copy, or
on a server this process never started. They read through the stores
themselves, opened read-only (``*.open_read_only``): the stores own their
tables, so no SQL lives here.

The checks, and the rule each one stands for:

* **sent messages settled** (helsenorge → EPJ, and EPJ → helsenorge): every
  asynchronous business message a sender tracks is delivered (AppRec OK) or
  *visibly* failed (Avvist, or no receipt after every resend, which the sender's
  user sees); none is still pending longer than the grace (by default the first
  resend wait, :data:`mocks.kernel.receipts.DEFAULT_BACKOFF`).
* **delivered means received once**: a message the sender holds a positive
  AppRec for is journaled (EKONTAKT) or acted on (AVBESTILLING) by exactly one
  EPJ, or stored by helsenorge (the EPJ's Svar, Avtale, SvarAvbestilling) — a
  receipt without the message is a lost message, two journal entries a
  duplicate that de-duplication on MsgId should have prevented.
* **one AppRec per received message**: every journaled case has the AppRec the
  EPJ sent for it, naming that MsgId; no two messages share an AppRec Id.
* **stored means tracked**: every message helsenorge shows a citizen as sent
  has its row in the receipt tracker (one transaction writes both), so it is
  resent until receipted or visibly failed, never ``delivery: null``.
* **own thread**: no message is stored in another citizen's thread.
* **dead-letter queues empty**: a message there was delivered ten times and
  failed each time (or was rejected); nobody will ever process it.
* **no transport errors**: the harness's own parties never send malformed
  messages, so anything on an ``_error`` queue is a defect.
"""

from __future__ import annotations

import base64
import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from mocks.exchange.embedded import EmbeddedExchange, envelope_from_row
from mocks.exchange.envelope import Envelope
from mocks.epj.store import EpjStore
from mocks.helsenorge.model import Direction
from mocks.helsenorge.store import HelsenorgeStore
from mocks.kernel.receipts import DEFAULT_BACKOFF, DeliveryState, SentRecord

EXAMPLES = 5
"""Offending ids listed per check: enough to start looking, short enough to print."""

EKONTAKT = "DIALOG_INNBYGGER_EKONTAKT"
AVBESTILLING = "DIALOG_INNBYGGER_AVTALEAVBESTILLING"


@dataclass
class Check:
    name: str
    ok: bool
    examined: int
    detail: str
    problems: list[str] = field(default_factory=list)


@dataclass
class InvariantReport:
    db: str
    checked_at: str
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def to_dict(self) -> dict:
        return {"db": self.db, "checkedAt": self.checked_at, "ok": self.ok, "checks": [asdict(c) for c in self.checks]}


def _envelope(blob: str) -> Envelope:
    """A stored envelope (the stores' JSON row with a base64 body); the headers are what the checks need.

    An in-process simulation may store a pickled document instead of bytes
    (``pickle:`` prefix); it is never unpickled here — a checker must not
    execute what it reads — and the body is left empty.
    """
    row = json.loads(blob)
    body = row[-1]
    row[-1] = b"" if body.startswith("pickle:") else base64.b64decode(body)
    return envelope_from_row(row)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def _apprec_of(blob: str | None):
    """The AppRec inside a stored reply envelope, or None when there is none or it does not parse."""
    if not blob:
        return None
    from mocks.wire.models import AppRec
    from mocks.wire.msghead import parse_document

    try:
        document = parse_document(_envelope(blob).body)
    except Exception:  # noqa: BLE001 - a broken stored receipt is itself the finding
        return None
    return document if isinstance(document, AppRec) else None


@dataclass
class _Sent:
    msg_id: str
    state: str
    attempts: int
    subject: str | None
    sent_at: datetime | None
    receipt_status: str | None


def _tracked(records: list[SentRecord]) -> list[_Sent]:
    out = []
    for r in records:
        envelope = _envelope(r.envelope_text)
        stamp = envelope.application_timestamp
        out.append(_Sent(r.msg_id, r.state, r.attempts, envelope.subject,
                         stamp.astimezone(timezone.utc) if stamp else None, r.receipt_status))
    return out


def _settled(name: str, sent: list[_Sent], now: datetime, grace: timedelta) -> Check:
    states = Counter(s.state for s in sent)
    stuck = [s for s in sent if s.state == "pending"
             and (grace <= timedelta(0) or s.sent_at is None or now - s.sent_at > grace)]
    detail = (f"{len(sent)} sent: {states.get('delivered', 0)} delivered, {states.get('rejected', 0)} rejected "
              f"(Avvist), {states.get('failed', 0)} failed visibly, {states.get('pending', 0)} pending")
    if stuck:
        detail += (f", {len(stuck)} of them stuck (nothing may be pending after the settle wait)"
                   if grace <= timedelta(0) else f", {len(stuck)} of them pending longer than {grace.total_seconds():g} s")
    problems = [f"{s.msg_id} ({s.subject}) pending since {s.sent_at:%Y-%m-%d %H:%M:%S}Z after {s.attempts} attempt(s)"
                if s.sent_at else f"{s.msg_id} pending" for s in stuck[:EXAMPLES]]
    return Check(name, not stuck, len(sent), detail, problems)


def _latest(*groups: list[_Sent]) -> datetime | None:
    stamps = [s.sent_at for group in groups for s in group if s.sent_at is not None]
    return max(stamps) if stamps else None


def check_invariants(
    db_dir: str | Path,
    *,
    now: datetime | None = None,
    pending_grace: timedelta = DEFAULT_BACKOFF[0],
) -> InvariantReport:
    """Check the stores in ``db_dir`` (what ``digihelse serve --db`` writes).

    ``now`` is the services' clock at the time of the check; without it, the
    latest send time recorded in the stores stands in (the right reference for
    an offline check of a finished run). ``pending_grace`` is how long a message
    may wait for its AppRec; a caller that has let the system settle after the
    load passes ``timedelta(0)``: anything still pending then is stuck.
    """
    root = Path(db_dir)
    helsenorge_path = root / "helsenorge.sqlite"
    exchange_path = root / "exchange.sqlite"
    epj_paths = sorted(root.glob("epj-*.sqlite"))
    missing = [p.name for p in (helsenorge_path, exchange_path) if not p.exists()]
    if missing or not epj_paths:
        missing += [] if epj_paths else ["epj-*.sqlite"]
        raise FileNotFoundError(f"{root}: not a digihelse serve --db directory (missing {', '.join(missing)})")

    with HelsenorgeStore.open_read_only(helsenorge_path) as hn:
        hn_sent = _tracked(hn.tracker.records())
        hn_inbound = hn.inbound_log()
        untracked = hn.untracked_sent()
        stored_out = hn.message_count(Direction.OUT)
        strays = [f"{msg_id} for {recipient} in thread {thread} of {owner}"
                  for msg_id, recipient, thread, owner in hn.messages_in_foreign_threads()]
        stored_all = hn.message_count()
    epj_sent: list[_Sent] = []
    journal: dict[str, list[str]] = defaultdict(list)  # MsgId -> installations that journaled it
    received: dict[str, tuple[str, str, str | None]] = {}  # MsgId -> (installation, outcome, AppRec blob)
    for path in epj_paths:
        key = path.stem.removeprefix("epj-")
        with EpjStore.open_read_only(path) as epj:
            epj_sent += _tracked(epj.outgoing.records())
            for msg_id in epj.journaled_msg_ids():
                journal[msg_id].append(key)
            for msg_id, outcome, apprec in epj.receive_log():
                received[msg_id] = (key, outcome, apprec)

    reference = (now.astimezone(timezone.utc) if now is not None
                 else _latest(hn_sent, epj_sent) or datetime.now(timezone.utc))
    checks = [
        _settled("citizens' messages settled (helsenorge → EPJ)", hn_sent, reference, pending_grace),
        _settled("staff messages settled (EPJ → helsenorge)", epj_sent, reference, pending_grace),
        _delivered_once(hn_sent, epj_sent, journal, received, hn_inbound),
        _one_apprec(journal, received, hn_inbound),
        Check("citizens' stored messages tracked", not untracked, stored_out,
              f"{stored_out} sent messages stored, {len(untracked)} of them with no receipt tracking "
              f"(shown as sent, never sent, never marked failed)", untracked[:EXAMPLES]),
        Check("every message in its own citizen's thread", not strays, stored_all,
              f"{stored_all} messages stored, {len(strays)} in another citizen's thread", strays[:EXAMPLES]),
    ]
    checks += _queues(exchange_path)
    return InvariantReport(str(root), reference.isoformat(), checks)


def _delivered_once(hn_sent, epj_sent, journal, received, hn_inbound) -> Check:
    problems: list[str] = []
    reported: set[str] = set()
    examined = 0
    for s in hn_sent:
        if s.state != "delivered":
            continue
        examined += 1
        if s.subject == EKONTAKT:
            where = journal.get(s.msg_id, [])
            if len(where) != 1:
                reported.add(s.msg_id)
                problems.append(f"{s.msg_id} receipted OK but journaled {len(where)} times"
                                + (f" ({', '.join(where)})" if where else " (lost)"))
        elif s.msg_id not in received:
            problems.append(f"{s.msg_id} ({s.subject}) receipted OK but no EPJ has it")
    for s in epj_sent:
        if s.state != "delivered":
            continue
        examined += 1
        if s.msg_id not in hn_inbound:
            problems.append(f"{s.msg_id} ({s.subject}) receipted OK but helsenorge has no record of it")
    problems += [f"{msg_id} journaled {len(where)} times ({', '.join(where)})"
                 for msg_id, where in journal.items() if len(where) > 1 and msg_id not in reported]
    detail = (f"{examined} delivered messages: each received exactly once" if not problems
              else f"{len(problems)} of {examined} delivered messages lost or duplicated")
    return Check("delivered means received exactly once (no loss, no duplicate journal entry)",
                 not problems, examined, detail, problems[:EXAMPLES])


def _one_apprec(journal, received, hn_inbound) -> Check:
    problems: list[str] = []
    apprec_ids: Counter[str] = Counter()
    for msg_id in journal:
        key, outcome, blob = received.get(msg_id, ("?", None, None))
        rec = _apprec_of(blob)
        if outcome != "journaled":
            problems.append(f"case for {msg_id}: the EPJ's receive log says {outcome!r}")
        elif rec is None:
            problems.append(f"case for {msg_id} ({key}) has no stored AppRec")
        elif rec.original_msg_id.id != msg_id:
            problems.append(f"case for {msg_id} ({key}): its AppRec names {rec.original_msg_id.id}")
        elif rec.status.v != "1":
            problems.append(f"case for {msg_id} ({key}) was journaled but receipted with status {rec.status.v}")
        if rec is not None:
            apprec_ids[rec.id] += 1
    for msg_id, blob in hn_inbound.items():
        rec = _apprec_of(blob)
        if rec is None:
            problems.append(f"helsenorge received {msg_id} without sending an AppRec")
        elif rec.original_msg_id.id != msg_id:
            problems.append(f"helsenorge's AppRec for {msg_id} names {rec.original_msg_id.id}")
        else:
            apprec_ids[rec.id] += 1
    problems += [f"AppRec {rec_id} answers {n} different messages" for rec_id, n in apprec_ids.items() if n > 1]
    examined = len(journal) + len(hn_inbound)
    detail = (f"{len(journal)} journaled cases and {len(hn_inbound)} messages to helsenorge: one AppRec each"
              if not problems else f"{len(problems)} receipt problem(s) in {examined} received messages")
    return Check("every journaled message has exactly one AppRec", not problems, examined, detail,
                 problems[:EXAMPLES])


def _queues(path: Path) -> list[Check]:
    exchange = EmbeddedExchange(path)
    try:
        names = exchange.queues()
        dead = {q: exchange.peek_all(q) for q in names if q.endswith("_dl") and exchange.depth(q)}
        errors = {q: exchange.peek_all(q) for q in names if q.endswith("_error") and exchange.depth(q)}
    finally:
        exchange.close()
    dl_problems = [f"{q}: {e.message_id} ({e.subject}) — {e.properties.get('x-dead-letter-reason', '?')} after "
                   f"{e.properties.get('x-delivery-count', '?')} deliveries"
                   for q, envelopes in dead.items() for e in envelopes][:EXAMPLES]
    err_problems = [f"{q}: {e.properties.get('errorCondition', '?')} for {e.correlation_id or e.message_id}"
                    for q, envelopes in errors.items() for e in envelopes][:EXAMPLES]
    n_dead = sum(len(v) for v in dead.values())
    n_err = sum(len(v) for v in errors.values())
    dl_queues = sum(q.endswith("_dl") for q in names)
    err_queues = sum(q.endswith("_error") for q in names)
    return [
        Check("dead-letter queues empty", not dead, dl_queues,
              f"{dl_queues} _dl queues empty" if not dead else f"{n_dead} message(s) in {len(dead)} _dl queue(s)",
              dl_problems),
        Check("no transport errors", not errors, err_queues,
              f"{err_queues} _error queues empty" if not errors else f"{n_err} transport error(s) in {len(errors)} _error queue(s)",
              err_problems),
    ]


def pending_count(db_dir: str | Path) -> int:
    """Messages still waiting for their AppRec, both directions: what a caller waits on before checking."""
    root = Path(db_dir)
    total = 0
    helsenorge = root / "helsenorge.sqlite"
    if helsenorge.exists():
        with HelsenorgeStore.open_read_only(helsenorge) as hn:
            total += hn.tracker.counts().get(DeliveryState.PENDING, 0)
    for path in sorted(root.glob("epj-*.sqlite")):
        with EpjStore.open_read_only(path) as epj:
            total += epj.outgoing.counts().get(DeliveryState.PENDING, 0)
    return total


__all__ = ["Check", "InvariantReport", "check_invariants", "pending_count"]
