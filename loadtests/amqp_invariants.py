"""The invariants of an AMQP load run, read from the wire (the ledgers of :mod:`loadtests.amqp_party`).

An EPJ under load is only correct if it stays correct, so after the run:

* every business message the broker confirmed (``ack`` expected) got **exactly one** AppRec whose
  ``OriginalMsgId`` is its MsgId — none missing, none twice;
* no AppRec names a MsgId the load never sent (a wrong ``OriginalMsgId``) — a message whose
  user was stopped while the broker confirmed it counts as sent (``sending`` on the ledger);
* nothing arrived on the kit's ``_error`` queue (the load provokes no transport error,
  so any is the EPJ refusing a well-formed message).

An Avvist AppRec is counted and shown, and fails its Locust request; it is a receipt,
so it does not break "exactly one".
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    problems: list[str] = field(default_factory=list)


@dataclass
class WireReport:
    sent: int
    apprecs: int
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "sent": self.sent, "apprecs": self.apprecs, "checks": [asdict(c) for c in self.checks]}


def read_ledgers(paths: list[Path]) -> list[dict]:
    records: list[dict] = []
    for path in paths:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                line = line.strip()
                if not line:
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:  # a process killed mid-line: say so, do not guess
                    records.append({"kind": "unreadable", "problem": f"{path.name}:{number} is not JSON"})
    return records


def check_wire(records: list[dict], *, examples: int = 5) -> WireReport:
    sent = [r for r in records if r.get("kind") == "sent"]
    expecting = {r["msg_id"] for r in sent if r.get("ack")}
    all_sent = {r["msg_id"] for r in sent} | {r["msg_id"] for r in records if r.get("kind") == "sending"}
    apprecs = [r for r in records if r.get("kind") == "apprec"]
    per_original = Counter(r.get("original") for r in apprecs)
    missing = sorted(m for m in expecting if per_original[m] == 0)
    twice = sorted(m for m in expecting if per_original[m] > 1)
    unknown = sorted(str(o) for o in per_original if o not in all_sent)
    errors = [r for r in records if r.get("kind") == "error"]
    avvist = [r for r in apprecs if r.get("status") not in ("1", None)]
    unreadable = [r for r in records if r.get("kind") == "unreadable"]
    checks = [
        Check("every message exactly one AppRec", not missing and not twice,
              f"{len(expecting)} business messages sent, {len(expecting) - len(missing)} receipted; "
              f"{len(missing)} without an AppRec, {len(twice)} with more than one",
              [f"no AppRec: {m}" for m in missing[:examples]] + [f"AppRec ×{per_original[m]}: {m}" for m in twice[:examples]]),
        Check("AppRec OriginalMsgId names a message sent", not unknown,
              f"{len(apprecs)} AppRecs, {len(unknown)} naming a MsgId the load never sent",
              [f"unknown OriginalMsgId {o}" for o in unknown[:examples]]),
        Check("nothing on the _error queue", not errors, f"{len(errors)} transport error(s)",
              [f"{e.get('original')}: {e.get('properties', {}).get('errorCondition', '')}" for e in errors[:examples]]),
        Check("every message read", not unreadable, f"{len(unreadable)} unreadable",
              [str(r.get("problem")) for r in unreadable[:examples]]),
    ]  # fmt: skip
    if avvist:
        checks.append(Check("AppRecs Avvist (status 2/3; failed requests, not an invariant)", True,
                            f"{len(avvist)} Avvist", [str(r.get("original")) for r in avvist[:examples]]))
    return WireReport(len(sent), len(apprecs), checks)
