"""Deterministic example documents, one per kind, with synthetic people only.

* People: Test-Norge synthetic fødselsnummer (birth month + 80, see
  :func:`mocks.wire.identifiers.synthetic_fnr`); hard-coded Norwegian names.
* Parties: HER-ids from :data:`SYNTHETIC_HER_ID_RANGE` (9 900 000–9 999 999),
  a range this project reserves for made-up parties. Real HER-ids are
  allocated far below it, so examples cannot address a real party.
* Time: fixed Europe/Oslo timestamps; ids from seeded random generators.
  :func:`build_example` returns the same bytes on every call.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from mocks.wire.apprec import apprec_error, apprec_for, apprec_to_xml
from mocks.wire.codes import AppRecStatus
from mocks.wire.identifiers import synthetic_fnr
from mocks.wire.models import AppRec, MsgHead, Organisation, Patient, VEvent, VisitStatus
from mocks.wire.msghead import (
    build_avbestill_avtale,
    build_avtale,
    build_ekontakt_foresporsel,
    build_hent_planlagte_timer,
    build_svar,
    build_svar_planlagte_timer,
    msghead_to_xml,
    new_msg_id,
)

EXAMPLE_KINDS = ("ekontakt", "svar", "avtale", "planlagte-timer", "avbestilling", "apprec-ok", "apprec-avvist")

SYNTHETIC_HER_ID_RANGE = range(9_900_000, 10_000_000)
"""HER-ids the harness hands out to synthetic parties (documented reservation)."""

OSLO = ZoneInfo("Europe/Oslo")

HELSENORGE = Organisation.with_her_id(
    "Syntetisk helsenettpart",
    9_900_001,
    Organisation.with_her_id("Helsenorge.no (syntetisk)", 9_900_002),
)
"""The citizen portal side (Innbygger role)."""

HJEMMETJENESTEN = Organisation.with_her_id(
    "Testvik kommune (syntetisk)",
    9_900_100,
    Organisation.with_her_id("Hjemmesykepleien Testvik sone 1 (syntetisk)", 9_900_101),
)
"""The municipal home-care service (Helsepersonell role)."""


def _first_synthetic_fnr(birth: date, start: int) -> str:
    for individual in range(start, start + 50):
        fnr = synthetic_fnr(birth, individual)
        if fnr is not None:
            return fnr
    raise AssertionError("no valid synthetic fnr in range")  # pragma: no cover - 1 in 6 fail


PATIENT = Patient.with_fnr("Nordvik", "Ingrid", _first_synthetic_fnr(date(1941, 3, 7), 212), middle_name="Marie")

STAFF_NAME = "Eirik Solberg"
ADDRESS = "Fjellveien 12, 9990 Testvik"


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=OSLO)


def _ids(kind: str) -> random.Random:
    return random.Random(f"digihelse-example:{kind}")


def _visit(
    rng: random.Random, day: int, hour: int, minutes: int, summary: str, status: VisitStatus, stamp: datetime
) -> VEvent:
    return VEvent(
        uid=new_msg_id(rng=rng),
        dtstamp=stamp,
        dtstart=_at(day, hour),
        dtend=_at(day, hour, minutes),
        contact=HJEMMETJENESTEN.service_her_id or 0,
        summary=summary,
        location=ADDRESS,
        status=status,
        staff_name=STAFF_NAME,
        categories=("Hjemmesykepleie",),
        sequence=0,
    )


def _ekontakt() -> MsgHead:
    return build_ekontakt_foresporsel(
        sender=HELSENORGE,
        receiver=HJEMMETJENESTEN,
        patient=PATIENT,
        emne_sporsmal="Besøk torsdag",
        sporsmal="Hei! Kan dere komme etter kl. 10 på torsdag? Jeg skal på øyekontroll & må ta bussen <tidlig>.",
        gen_date=_at(10, 9, 15),
        msg_id=new_msg_id(rng=_ids("ekontakt")),
    )


def _svar() -> MsgHead:
    return build_svar(
        _ekontakt(),
        tekst="Hei Ingrid. Vi kommer mellom kl. 10 og 11 på torsdag. Hilsen hjemmesykepleien.",
        gen_date=_at(10, 11, 2),
        msg_id=new_msg_id(rng=_ids("svar")),
    )


def _avtale_event() -> VEvent:
    rng = _ids("avtale-event")
    return _visit(rng, 13, 10, 30, "Hjemmesykepleie: medisiner og tilsyn", VisitStatus.CONFIRMED, _at(10, 11, 0))


def _avtale() -> MsgHead:
    return build_avtale(
        sender=HJEMMETJENESTEN,
        receiver=HELSENORGE,
        patient=PATIENT,
        events=_avtale_event(),
        gen_date=_at(10, 11, 0),
        msg_id=new_msg_id(rng=_ids("avtale")),
    )


def _hent_planlagte_timer() -> MsgHead:
    return build_hent_planlagte_timer(
        sender=HELSENORGE,
        receiver=HJEMMETJENESTEN,
        patient=PATIENT,
        fra_dato=date(2025, 3, 9),
        til_dato=date(2025, 3, 16),
        gen_date=_at(11, 18, 40),
        msg_id=new_msg_id(rng=_ids("hent-planlagte-timer")),
    )


def _planlagte_timer() -> MsgHead:
    stamp = _at(11, 18, 40)
    rng = _ids("planlagte-timer-events")
    events = (
        _visit(rng, 11, 8, 30, "Morgenstell", VisitStatus.COMPLETED, stamp),
        _visit(rng, 12, 8, 30, "Morgenstell", VisitStatus.CONFIRMED, stamp),
        replace(_avtale_event(), dtstamp=stamp),  # the visit pushed by the "avtale" example
        _visit(rng, 14, 19, 20, "Kveldsbesøk", VisitStatus.TENTATIVE, stamp),
    )
    return build_svar_planlagte_timer(
        _hent_planlagte_timer(), events=events, gen_date=stamp, msg_id=new_msg_id(rng=_ids("planlagte-timer"))
    )


def _avbestilling() -> MsgHead:
    return build_avbestill_avtale(
        sender=HELSENORGE,
        receiver=HJEMMETJENESTEN,
        patient=PATIENT,
        event=_avtale_event(),
        begrunnelse="Jeg er på sykehuset den dagen.",
        gen_date=_at(12, 7, 5),
        msg_id=new_msg_id(rng=_ids("avbestilling")),
    )


def _apprec_ok() -> AppRec:
    # Helsenorge acknowledges the appointment the service pushed.
    return apprec_for(
        _avtale(), AppRecStatus.OK, gen_date=_at(10, 11, 0).replace(second=4), msg_id=new_msg_id(rng=_ids("apprec-ok"))
    )


def _apprec_avvist() -> AppRec:
    # The EPJ cannot match the patient of an incoming eKontakt message.
    return apprec_for(
        _ekontakt(),
        AppRecStatus.AVVIST,
        errors=[apprec_error("E35")],
        gen_date=_at(10, 9, 15).replace(second=3),
        msg_id=new_msg_id(rng=_ids("apprec-avvist")),
    )


_BUILDERS = {
    "ekontakt": _ekontakt,
    "svar": _svar,
    "avtale": _avtale,
    "planlagte-timer": _planlagte_timer,
    "avbestilling": _avbestilling,
    "apprec-ok": _apprec_ok,
    "apprec-avvist": _apprec_avvist,
}
assert tuple(_BUILDERS) == EXAMPLE_KINDS


def example_object(kind: str) -> MsgHead | AppRec:
    """The model object behind :func:`build_example` (same kinds)."""
    try:
        builder = _BUILDERS[kind]
    except KeyError:
        raise ValueError(f"unknown example kind {kind!r}; valid kinds: {', '.join(EXAMPLE_KINDS)}") from None
    return builder()


def build_example(kind: str) -> bytes:
    """A complete, schema-valid document of ``kind`` (one of :data:`EXAMPLE_KINDS`)."""
    obj = example_object(kind)
    return msghead_to_xml(obj, pretty=True) if isinstance(obj, MsgHead) else apprec_to_xml(obj, pretty=True)


def hent_planlagte_timer_example() -> MsgHead:
    """The request the ``planlagte-timer`` example answers."""
    return _hent_planlagte_timer()


__all__ = [
    "EXAMPLE_KINDS",
    "HELSENORGE",
    "HJEMMETJENESTEN",
    "PATIENT",
    "SYNTHETIC_HER_ID_RANGE",
    "build_example",
    "example_object",
    "hent_planlagte_timer_example",
]
