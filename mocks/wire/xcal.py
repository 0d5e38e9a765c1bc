"""Appointments as xCal (RFC 6321, iCalendar 2.0 in XML) — the subset we emit.

Shape written (namespace ``urn:ietf:params:xml:ns:icalendar-2.0``)::

    <icalendar>
      <vcalendar>
        <properties>  prodid, version (2.0), method?  </properties>
        <components>
          <vevent>
            <properties>
              uid, dtstamp, dtstart, dtend, sequence?, status?, summary?,
              location?, contact, related-to?, categories?,
              x-digihelse-staff?, x-digihelse-visit-state?,
              x-digihelse-expected-start?
            </properties>
          </vevent> ...
        </components>
      </vcalendar>
    </icalendar>

Choices that are ours (no public HN xCal schema exists; HN's extension XSD is
on git.sarepta.ehelse.no):

* date-times are written in UTC (``2025-03-13T07:00:00Z``), never with a TZID:
  RFC 5545 requires a VTIMEZONE component for every TZID used, and UTC needs
  none. The parser also accepts ``TZID`` parameters and local times.
* "visit completed" is ``STATUS:CONFIRMED`` plus the x-property
  ``x-digihelse-visit-state`` = ``completed`` (VEVENT has no COMPLETED status;
  a client that ignores x-properties still sees a confirmed visit).
* the assigned employee's name is the x-property ``x-digihelse-staff`` (text).
* a delay ("varsling om avtaler og evt. forsinkelse", seeds 000/001) is an Avtale update whose vevent keeps its
  planned DTSTART and carries the x-property ``x-digihelse-expected-start`` (UTC date-time): when the employee
  now expects to arrive. HN publishes no wire form for delay notices; this one is ours.
* ``contact`` is the owning party's HER-id as plain text digits.

:data:`XCAL_SCHEMA_PATH` describes exactly this subset; every document written
here validates against it.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lxml import etree

from mocks.wire.codes import NS_XCAL
from mocks.wire.models import (
    VCalendar,
    VEvent,
    VisitStatus,
    WireFormatError,
    XCAL_METHODS,
    Node,
    root_node,
    serialize,
    set_text,
)

XCAL_SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "xcal-subset.xsd"
"""The project's own XSD for the xCal subset written by this module."""

ICAL_VERSION = "2.0"
DEFAULT_PRODID = "-//DigiHelse harness//mocks.wire xCal//NO"
X_STAFF = "x-digihelse-staff"
X_VISIT_STATE = "x-digihelse-visit-state"
VISIT_STATE_COMPLETED = "completed"
X_EXPECTED_START = "x-digihelse-expected-start"

_WIRE_STATUS = {
    VisitStatus.TENTATIVE: "TENTATIVE",
    VisitStatus.CONFIRMED: "CONFIRMED",
    VisitStatus.CANCELLED: "CANCELLED",
    VisitStatus.COMPLETED: "CONFIRMED",
}

_XCAL_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z?\Z")


def _q(name: str) -> str:
    return f"{{{NS_XCAL}}}{name}"


def _add(parent: etree._Element, name: str) -> etree._Element:
    return etree.SubElement(parent, _q(name))


def _prop(props: etree._Element, name: str, value_type: str, *values: str, path: str) -> None:
    prop = _add(props, name)
    for value in values:
        set_text(_add(prop, value_type), value, f"{path}/{name}/{value_type}")


def _utc(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def xcal_element(calendar: VCalendar) -> etree._Element:
    """Build the ``icalendar`` element for ``calendar``."""
    root = etree.Element(_q("icalendar"), nsmap={None: NS_XCAL})
    vcal = _add(root, "vcalendar")
    props = _add(vcal, "properties")
    path = "icalendar/vcalendar/properties"
    _prop(props, "prodid", "text", calendar.prodid, path=path)
    _prop(props, "version", "text", ICAL_VERSION, path=path)
    if calendar.method is not None:
        _prop(props, "method", "text", calendar.method, path=path)
    components = _add(vcal, "components")
    for i, event in enumerate(calendar.events, 1):
        _vevent(components, event, f"icalendar/vcalendar/components/vevent[{i}]/properties")
    return root


def _vevent(components: etree._Element, e: VEvent, path: str) -> None:
    props = _add(_add(components, "vevent"), "properties")
    _prop(props, "uid", "text", e.uid, path=path)
    _prop(props, "dtstamp", "date-time", _utc(e.dtstamp), path=path)
    _prop(props, "dtstart", "date-time", _utc(e.dtstart), path=path)
    _prop(props, "dtend", "date-time", _utc(e.dtend), path=path)
    if e.sequence is not None:
        _prop(props, "sequence", "integer", str(e.sequence), path=path)
    if e.status is not None:
        _prop(props, "status", "text", _WIRE_STATUS[e.status], path=path)
    if e.summary is not None:
        _prop(props, "summary", "text", e.summary, path=path)
    if e.location is not None:
        _prop(props, "location", "text", e.location, path=path)
    _prop(props, "contact", "text", str(e.contact), path=path)
    if e.related_to is not None:
        _prop(props, "related-to", "text", e.related_to, path=path)
    if e.categories:
        _prop(props, "categories", "text", *e.categories, path=path)
    if e.staff_name is not None:
        _prop(props, X_STAFF, "text", e.staff_name, path=path)
    if e.status == VisitStatus.COMPLETED:
        _prop(props, X_VISIT_STATE, "text", VISIT_STATE_COMPLETED, path=path)
    if e.expected_start is not None:
        _prop(props, X_EXPECTED_START, "date-time", _utc(e.expected_start), path=path)


def xcal_to_xml(calendar: VCalendar, *, pretty: bool = False) -> bytes:
    """A standalone xCal document (UTF-8, with XML declaration; indented when ``pretty``)."""
    return serialize(xcal_element(calendar), pretty=pretty)


# --------------------------------------------------------------------------- parsing


def parse_xcal(data: bytes | str | etree._Element, *, path: str = "icalendar") -> VCalendar:
    """Parse an ``icalendar`` element or document into a :class:`VCalendar`.

    Lenient where iCalendar is: property order is free and unknown properties
    are ignored. Strict where the model needs it: one vcalendar, VERSION 2.0,
    at least one vevent, the mandatory vevent properties.
    """
    root = root_node(data, (NS_XCAL,), "icalendar")
    root.path = path
    vcals = root.all("vcalendar")
    if len(vcals) != 1:
        raise WireFormatError(f"{path}/vcalendar", f"exactly one vcalendar expected, found {len(vcals)}")
    vcal = vcals[0]
    props = vcal.req("properties")
    prodid = _text_value(props, "prodid", required=True)
    version = _text_value(props, "version", required=True)
    if version != ICAL_VERSION:
        raise WireFormatError(f"{props.path}/version", f"iCalendar VERSION must be 2.0, got {version!r}")
    method = _text_value(props, "method")
    if method is not None and method.upper() not in XCAL_METHODS:
        raise WireFormatError(f"{props.path}/method", f"unsupported METHOD {method!r}")
    components = vcal.req("components")
    events = tuple(_parse_vevent(node) for node in components.all("vevent"))
    if not events:
        raise WireFormatError(f"{components.path}/vevent", "at least one vevent required")
    try:
        return VCalendar(prodid=prodid or "", events=events, method=method.upper() if method else None)
    except ValueError as exc:
        raise WireFormatError(vcal.path, str(exc)) from None


def _value(props: Node, name: str, value_type: str, *, required: bool = False) -> tuple[Node, list[str]] | None:
    prop = props.req(name) if required else props.find(name)
    if prop is None:
        return None
    values = prop.all(value_type)
    if not values:
        raise WireFormatError(f"{prop.path}/{value_type}", "required value element missing")
    return prop, [v.text for v in values]


def _text_value(props: Node, name: str, *, required: bool = False) -> str | None:
    found = _value(props, name, "text", required=required)
    return None if found is None else found[1][0]


def _parse_vevent(event: Node) -> VEvent:
    props = event.req("properties")
    uid = _text_value(props, "uid", required=True) or ""
    contact_text = (_text_value(props, "contact", required=True) or "").strip()
    if not contact_text.isdigit() or contact_text.startswith("0") or len(contact_text) > 9:
        raise WireFormatError(f"{props.path}/contact/text", f"contact must be a HER-id, got {contact_text!r}")
    status = _parse_status(props)
    sequence = None
    found = _value(props, "sequence", "integer")
    if found is not None:
        try:
            sequence = int(found[1][0])
        except ValueError:
            raise WireFormatError(f"{found[0].path}/integer", f"not an integer: {found[1][0]!r}") from None
    categories = _value(props, "categories", "text")
    try:
        return VEvent(
            uid=uid,
            dtstamp=_date_time(props, "dtstamp"),
            dtstart=_date_time(props, "dtstart"),
            dtend=_date_time(props, "dtend"),
            contact=int(contact_text),
            summary=_text_value(props, "summary"),
            location=_text_value(props, "location"),
            status=status,
            staff_name=_text_value(props, X_STAFF),
            related_to=_text_value(props, "related-to"),
            categories=tuple(categories[1]) if categories else (),
            sequence=sequence,
            expected_start=_date_time(props, X_EXPECTED_START) if props.find(X_EXPECTED_START) is not None else None,
        )
    except ValueError as exc:
        if isinstance(exc, WireFormatError):
            raise
        raise WireFormatError(event.path, str(exc)) from None


def _parse_status(props: Node) -> VisitStatus | None:
    status_text = _text_value(props, "status")
    state = _text_value(props, X_VISIT_STATE)
    if status_text is not None:
        status_text = status_text.strip().upper()
        if status_text not in ("TENTATIVE", "CONFIRMED", "CANCELLED"):
            raise WireFormatError(f"{props.path}/status", f"unsupported VEVENT STATUS {status_text!r}")
    if state is None:
        return VisitStatus(status_text) if status_text else None
    if state.strip().lower() != VISIT_STATE_COMPLETED:
        raise WireFormatError(f"{props.path}/{X_VISIT_STATE}", f"unknown visit state {state!r}")
    if status_text not in (None, "CONFIRMED"):
        raise WireFormatError(
            f"{props.path}/{X_VISIT_STATE}",
            f"visit state 'completed' requires STATUS CONFIRMED, got {status_text}",
        )
    return VisitStatus.COMPLETED


def _zone(tzid: str, path: str) -> ZoneInfo:
    # ZoneInfo reads a file named by the key: "Europe" is a directory (IsADirectoryError), a long key
    # is too long a file name (OSError), "../x" or a non-TZif file a ValueError. All mean: no such zone.
    try:
        return ZoneInfo(tzid)
    except (ZoneInfoNotFoundError, OSError, ValueError):
        raise WireFormatError(path, f"unknown time zone {tzid!r}") from None


def _date_time(props: Node, name: str) -> datetime:
    prop = props.req(name)
    value = prop.find("date-time")
    if value is None:
        raise WireFormatError(f"{prop.path}/date-time", "required value element missing (only date-time is supported)")
    text = value.text.strip()
    tzid = None
    params = prop.find("parameters")
    if params is not None:
        tz = params.find("tzid")
        if tz is not None:
            tzid = tz.child_text("text", required=True, strip=True)
    try:
        # The RFC 6321 lexical form only, checked by a regex; fromisoformat is many times faster than strptime.
        if not _XCAL_DATE_TIME.match(text):
            raise ValueError(f"{text!r} is not YYYY-MM-DDThh:mm:ss[Z]")
        if text.endswith("Z"):
            parsed = datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)
        else:
            parsed = datetime.fromisoformat(text)
            if tzid is None:
                raise WireFormatError(value.path, f"floating local time {text!r} is not supported; use UTC or a TZID")
            parsed = parsed.replace(tzinfo=_zone(tzid, f"{prop.path}/parameters/tzid"))
    except ValueError as exc:
        if isinstance(exc, WireFormatError):
            raise
        raise WireFormatError(value.path, f"not an xCal date-time: {text!r}") from None
    return parsed


# --------------------------------------------------------------------------- schema


@lru_cache(maxsize=1)
def load_xcal_schema() -> etree.XMLSchema:
    """The xCal-subset XSD, loaded without network access."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(XCAL_SCHEMA_PATH), parser))


__all__ = [
    "DEFAULT_PRODID",
    "ICAL_VERSION",
    "VISIT_STATE_COMPLETED",
    "XCAL_SCHEMA_PATH",
    "X_EXPECTED_START",
    "X_STAFF",
    "X_VISIT_STATE",
    "load_xcal_schema",
    "parse_xcal",
    "xcal_element",
    "xcal_to_xml",
]
