"""The leader's overview over a run: per service unit, what the leader saw each workday morning.

The EPJ answers the overview (:meth:`mocks.epj.core.EpjCore.overview`: open cases, and those late by the routine);
the simulated leader reads it on the first inbox round of every workday's day shift and the ledger keeps what
they saw (``leader.overview``: value the late cases, detail the open ones). This module turns those readings into
the rows ``summary.json`` and the report show, so a municipality rehearsing go-live sees which unit fell behind and
when, as its leader would have.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from simulator.ledger import Ledger

__all__ = ["UnitRow", "leader_overview"]


class UnitRow(BaseModel):
    kommunenummer: str
    name: str
    service_her_id: int
    readings: int = Field(description="Workday mornings the leader read the overview.")
    most_past_due: int = Field(description="The most late cases the leader saw on one morning.")
    worst_morning: float | None = Field(None, description="Simulated time (s) of that morning (None: never late).")
    last_past_due: int = Field(description="Late cases at the last reading.")
    last_open: int = Field(description="Open cases at the last reading.")


def leader_overview(ledger: Ledger, names: dict[str, str]) -> list[UnitRow]:
    rows: dict[tuple[str, int], UnitRow] = {}
    for t, kommune, service, late, open_ in ledger.query(
            "SELECT t, municipality, service, value, detail FROM events WHERE kind='leader.overview' ORDER BY seq"):
        key = (kommune, int(service))
        late, open_ = int(late or 0), int(open_ or 0)
        row = rows.get(key)
        if row is None:
            row = rows[key] = UnitRow(kommunenummer=kommune, name=names.get(kommune, kommune), service_her_id=key[1],
                                      readings=0, most_past_due=0, last_past_due=0, last_open=0)
        row.readings += 1
        if late > row.most_past_due:
            row.most_past_due, row.worst_morning = late, t
        row.last_past_due, row.last_open = late, open_
    return sorted(rows.values(), key=lambda r: (-r.most_past_due, r.kommunenummer, r.service_her_id))
