"""Helsenorge's rules for DigiHelse as pure functions.

Each rule either returns quietly or raises :class:`Refused` naming itself
(``login.level``, ``fullmakt.giver-age`` …), so the HTTP adapter, the SimPy
model and the tests all report the same reason for the same refusal, and a
verdict can be traced to one function here. Nothing reads the clock: every
check takes ``now``; days are Europe/Oslo days.

Rule ids:

=============================== ==============================================================
``login.eid-unknown``           the eID is not one helsenorge knows
``login.level``                 security level below 4 (MinID) for someone 16+
``login.under-16``              children under 16 cannot log in for DigiHelse; parents act
``consent.age``                 consent needs age 16+
``consent.missing``             no consent, or it was withdrawn
``consent.pending``             consent given, not effective until the next Oslo day 00:00
``consent.self-only``           only the citizen can give or withdraw their own consent
``fullmakt.self``               a fullmakt to oneself
``fullmakt.scope``              empty/unknown scope, or the scope lacks what the proxy tries
``fullmakt.giver-age``          giver under 16
``fullmakt.receiver-age``       receiver under 18
``fullmakt.confidential-address`` giver or receiver has a confidential address
``fullmakt.expired``            valid_to is before today (or is given in the past)
``fullmakt.ended``              ended by the giver or the receiver
``fullmakt.giver-consent``      the giver has no effective consent: no access to pass on
``fullmakt.not-transitive``     acting (or giving a fullmakt) via someone else's fullmakt
``fullmakt.missing``            no fullmakt, no parental relation
``fullmakt.not-party``          only the giver or the receiver may end a fullmakt
``parent.child-age``            the child has turned 16
``parent.confidential-address`` the child has a confidential address
``cancel.after-cutoff``         past the cancellation deadline (deadline in the message)
=============================== ==============================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from domain.calendar import OSLO, cancellation_deadline

from mocks.helsenorge.model import SCOPES, Citizen, ConsentRecord, Fullmakt
from mocks.helsenorge.people import age_at, birthday, oslo_date


class Refused(Exception):
    """A rule said no. ``rule`` is a stable id; ``details`` carries machine-readable extras (e.g. a deadline)."""

    def __init__(self, rule: str, message: str, **details: str) -> None:
        # args = (rule, message): code that re-raises a copy as type(exc)(*exc.args) — SimPy does — gets one back
        super().__init__(rule, message)
        self.rule = rule
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "message": self.message, **self.details}


EID_LEVELS: dict[str, int] = {
    "bankid": 4,
    "bankid-mobil": 4,
    "buypass": 4,
    "commfides": 4,
    "minid": 3,
}
"""eIDs and their security level. A parameter, not a fixed enum: the product list changes over time."""

REQUIRED_LEVEL = 4
LOGIN_AGE = 16
CONSENT_AGE = 16
GIVER_AGE = 16
RECEIVER_AGE = 18
PARENT_UNTIL_AGE = 16


def _iso(value: datetime) -> str:
    return value.astimezone(OSLO).isoformat()


# --------------------------------------------------------------------------- login


def check_login(eid: str, birth_date: date, now: datetime) -> int:
    """The security level to put in the token, or why the login is refused.

    Helsenorge refuses MinID (level 3) for adults. For 16–17-year-olds we
    refuse it too: DigiHelse needs "Full tilgang" consent, which needs level 4,
    so a level-3 session could not use the service anyway. Children under 16
    cannot log in for DigiHelse at all: a parent acts for them.
    """
    level = EID_LEVELS.get(eid.lower())
    if level is None:
        raise Refused("login.eid-unknown", f"unknown eID {eid!r}; use one of {', '.join(sorted(EID_LEVELS))}")
    age = age_at(birth_date, now)
    if age < LOGIN_AGE:
        raise Refused(
            "login.under-16",
            f"children under {LOGIN_AGE} cannot log in to DigiHelse (age {age}); a parent acts on their behalf",
        )
    if level < REQUIRED_LEVEL:
        raise Refused(
            "login.level",
            f"{eid} gives security level {level}; helsenorge requires level {REQUIRED_LEVEL} "
            "(BankID, BankID på mobil, Buypass, Commfides) for anyone 16 or older",
        )
    return level


# --------------------------------------------------------------------------- consent


def consent_effective_from(given_at: datetime) -> datetime:
    """00:00 Europe/Oslo on the day after ``given_at``: the nightly sync sets up the connection."""
    day = oslo_date(given_at) + timedelta(days=1)
    return datetime.combine(day, time(0, 0), tzinfo=OSLO)


def check_consent_age(citizen: Citizen, now: datetime) -> None:
    age = age_at(citizen.birth_date, now)
    if age < CONSENT_AGE:
        raise Refused("consent.age", f"consent to dialogtjenester needs age {CONSENT_AGE} or older (age {age})")


def check_consent(consent: ConsentRecord | None, now: datetime, *, whose: str = "the citizen") -> None:
    """Full consent ("dialogtjenester og personlig helsearkiv") that is in force at ``now``."""
    if consent is None or consent.state(now) == "withdrawn":
        raise Refused(
            "consent.missing",
            f"{whose} has not consented to dialogtjenester og personlig helsearkiv (full access)",
        )
    if consent.state(now) == "pending":
        raise Refused(
            "consent.pending",
            f"consent given at {_iso(consent.given_at)} takes effect at {_iso(consent.effective_from)} "
            "(helsenorge and the municipality's system connect overnight)",
            effective_from=_iso(consent.effective_from),
        )


# --------------------------------------------------------------------------- fullmakt


def normalise_scope(scope: Iterable[str]) -> frozenset[str]:
    values = frozenset(s.strip().lower() for s in scope)
    unknown = values - SCOPES
    if not values or unknown:
        raise Refused(
            "fullmakt.scope",
            f"scope must be a non-empty subset of {sorted(SCOPES)}"
            + (f"; unknown: {sorted(unknown)}" if unknown else ""),
        )
    return values


def check_fullmakt_grant(
    giver: Citizen, receiver: Citizen, scope: Iterable[str], valid_to: date | None, now: datetime
) -> frozenset[str]:
    """May ``giver`` give ``receiver`` a fullmakt now? Returns the normalised scope."""
    if giver.fnr == receiver.fnr:
        raise Refused("fullmakt.self", "a fullmakt must name someone other than the giver")
    values = normalise_scope(scope)
    giver_age = age_at(giver.birth_date, now)
    if giver_age < GIVER_AGE:
        raise Refused(
            "fullmakt.giver-age",
            f"the giver must be {GIVER_AGE} or older (is {giver_age}; turns {GIVER_AGE} on "
            f"{birthday(giver.birth_date, GIVER_AGE).isoformat()})",
        )
    receiver_age = age_at(receiver.birth_date, now)
    if receiver_age < RECEIVER_AGE:
        raise Refused(
            "fullmakt.receiver-age",
            f"the receiver must be {RECEIVER_AGE} or older (is {receiver_age}; turns {RECEIVER_AGE} on "
            f"{birthday(receiver.birth_date, RECEIVER_AGE).isoformat()})",
        )
    if giver.confidential_address:
        raise Refused(
            "fullmakt.confidential-address",
            "people with a confidential address can neither give nor be represented by a fullmakt",
        )
    if receiver.confidential_address:
        raise Refused(
            "fullmakt.confidential-address",
            "people with a confidential address cannot represent others by fullmakt",
        )
    if valid_to is not None and valid_to < oslo_date(now):
        raise Refused("fullmakt.expired", f"valid_to {valid_to.isoformat()} is already in the past")
    return values


def check_fullmakt_access(
    fullmakt: Fullmakt,
    giver: Citizen,
    receiver: Citizen,
    scope: str,
    now: datetime,
    giver_consent: ConsentRecord | None,
) -> None:
    """Does this fullmakt let ``receiver`` do ``scope`` for ``giver`` right now?

    Checked at every use, not only when given: a fullmakt that has ended or
    expired, a confidential address that appeared later, or a giver who
    withdrew consent all take effect at once.
    """
    state = fullmakt.state(now)
    if state == "ended":
        raise Refused(
            "fullmakt.ended",
            f"fullmakt {fullmakt.id} was ended at {_iso(fullmakt.ended_at)} by {fullmakt.ended_by}",
        )
    if state == "expired":
        raise Refused(
            "fullmakt.expired", f"fullmakt {fullmakt.id} was valid to {fullmakt.valid_to.isoformat()}"
        )
    if state == "future":
        raise Refused("fullmakt.missing", f"fullmakt {fullmakt.id} is valid from {_iso(fullmakt.valid_from)}")
    if giver.confidential_address or receiver.confidential_address:
        raise Refused(
            "fullmakt.confidential-address",
            "nobody can act by fullmakt for, or as, a person with a confidential address",
        )
    if scope not in fullmakt.scope:
        raise Refused(
            "fullmakt.scope",
            f"fullmakt {fullmakt.id} covers {sorted(fullmakt.scope)}, not {scope!r}",
        )
    try:
        check_consent(giver_consent, now, whose="the giver")
    except Refused as exc:
        raise Refused(
            "fullmakt.giver-consent",
            f"a proxy never has more access than the giver: {exc.message}",
            **exc.details,
        ) from None


# --------------------------------------------------------------------------- parents


def check_parent_access(child: Citizen, now: datetime) -> None:
    """Parents act for children under 16, except a child with a confidential address."""
    if child.confidential_address:
        raise Refused(
            "parent.confidential-address", "nobody can act for a child with a confidential address"
        )
    age = age_at(child.birth_date, now)
    if age >= PARENT_UNTIL_AGE:
        raise Refused(
            "parent.child-age",
            f"parents act for children under {PARENT_UNTIL_AGE}; access ended on "
            f"{birthday(child.birth_date, PARENT_UNTIL_AGE).isoformat()}",
        )


# --------------------------------------------------------------------------- cancellation


def check_cancellation(visit_start: datetime, now: datetime, deadline: datetime | None = None) -> datetime:
    """The deadline, when ``now`` is at or before it; otherwise :class:`Refused` naming the deadline.

    ``deadline`` is the service's own cut-off (its municipality's rule); the default rule when not given."""
    deadline = cancellation_deadline(visit_start) if deadline is None else deadline
    if now > deadline:
        raise Refused(
            "cancel.after-cutoff",
            f"the visit at {_iso(visit_start)} could be cancelled until {_iso(deadline)}; "
            "please call the home-care service",
            deadline=_iso(deadline),
        )
    return deadline
