"""Broken behaviour on purpose, to prove the verifier catches it.

Each fault turns a correct service into one that breaks a DigiHelse promise the
way real systems do; a run with a fault must fail the check that guards that
promise (and the tests assert exactly that).

* ``drop-apprec``: the EPJ journals messages but its AppRecs never leave.
* ``duplicate-delivery``: the bus delivers every business message twice (at-least-once at its worst).
* ``journal-twice``: duplicate delivery to an EPJ that forgets which MsgIds it has seen, so it journals again.
* ``ignore-cutoff``: helsenorge and the EPJ both accept a cancellation up to the visit's start.
"""

from __future__ import annotations


FAULTS = ("drop-apprec", "duplicate-delivery", "journal-twice", "ignore-cutoff")


def check_names(faults: tuple[str, ...]) -> None:
    unknown = sorted(set(faults) - set(FAULTS))
    if unknown:
        raise ValueError(f"faults: unknown {', '.join(unknown)}; known: {', '.join(FAULTS)}")


def wrap_epj_handler(handler, epj, faults: tuple[str, ...]):
    """The EPJ's async handler with its faults applied."""
    if not faults:
        return handler

    def broken(envelope, root, now):
        outgoing = handler(envelope, root, now)
        if "journal-twice" in faults and envelope.subject == "DIALOG_INNBYGGER_EKONTAKT":
            from lxml import etree

            from mocks.wire.codes import NS_MSGHEAD

            msg_id = (envelope.document.msg_id if envelope.document is not None else
                      etree.fromstring(envelope.body).findtext(f"{{{NS_MSGHEAD}}}MsgInfo/{{{NS_MSGHEAD}}}MsgId"))
            with epj.store.lock, epj.store.db:
                epj.store.db.execute("DELETE FROM epj_received WHERE msg_id=?", (msg_id,))
        if "drop-apprec" in faults:
            outgoing = [e for e in outgoing if e.subject != "APPREC"]
        return outgoing

    return broken


def forget_uniqueness(epj) -> None:
    """Rebuild the (still empty) journal table without its UNIQUE(msg_id): the broken EPJ's schema."""
    db = epj.store.db
    with epj.store.lock, db:
        db.execute("CREATE TABLE epj_cases_broken AS SELECT * FROM epj_cases WHERE 0")
        db.execute("DROP TABLE epj_cases")
        db.execute("ALTER TABLE epj_cases_broken RENAME TO epj_cases")
