"""What every JSON API of the harness refuses before a handler sees the request.

The citizen and staff APIs take JSON from clients the harness does not control.
Four things about such a body can hurt a server before pydantic ever looks at
its fields, so :class:`GuardedRoute` checks them first and answers with an
error that names the rule, the field and the limit:

* **size** — a body over :data:`JSON_BODY_LIMIT` bytes is refused with 413
  ``request.too-large`` (by ``Content-Length`` before anything is read, or
  while reading a chunked body, so the server never holds more than the limit);
* **encoding** — JSON must be UTF-8 (RFC 8259 §8.1); other bytes are a 422
  ``request.encoding`` at ``body`` instead of FastAPI's vague 400;
* **depth** — JSON nested deeper than :data:`MAX_JSON_DEPTH` is a 422
  ``request.too-deep`` (past about a thousand levels Python's parser raises
  ``RecursionError``, which FastAPI reports as a vague 400);
* **lone surrogates** — ``"\\ud800"`` is valid JSON but not a character: it
  cannot be stored, written as XML or even sent back in an error message, so it
  is a 422 ``request.unicode`` naming the field where it was found.

Free text that ends up in KITH XML on the bus uses :data:`XmlText`, which refuses
the characters XML 1.0 cannot carry (C0 controls other than tab, line feed and
carriage return, U+FFFE, U+FFFF) with a 422 ``xml.forbidden-character``; the
same rule is published in the OpenAPI document as a ``pattern``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from datetime import date, datetime, timezone
from typing import Annotated, Any

import holidays
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

JSON_BODY_LIMIT = 256 * 1024
"""Largest JSON request body (bytes). The largest valid request — a 10,000-character message written
entirely as ``\\uXXXX`` surrogate-pair escapes — is about 120 kB, so nothing the schemas allow is refused."""

MAX_JSON_DEPTH = 32
"""Deepest JSON nesting accepted; no request model nests more than three levels."""

_FORBIDDEN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
XML_TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]*$"
"""The same rule as a JSON-schema ``pattern`` (surrogates cannot occur in a JSON-schema string)."""

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abAB]|\\u[dD][c-fC-F]")
_ODD_NUMBER = re.compile(rb"NaN|Infinity|[0-9][eE]|[0-9]{16}")
"""What may hide a non-finite or absurd number: such bodies are parsed here, ordinary ones are not."""

MAX_JSON_INTEGER = 2**53 - 1
"""Largest integer magnitude accepted (RFC 8259 §6: beyond it numbers do not interoperate)."""


class _OddNumber:
    """Stands in for a number no field can take, so the walk below finds where it was."""

    def __init__(self, rule: str, text: str) -> None:
        self.rule, self.text = rule, text


def _number_float(text: str) -> float | _OddNumber:
    value = float(text)
    return value if value not in (float("inf"), float("-inf")) else _OddNumber("request.non-finite", text)


def _number_int(text: str) -> int | _OddNumber:
    digits = text.lstrip("-")
    if len(digits) > 16 and (len(digits) > 20 or int(digits) > MAX_JSON_INTEGER):
        return _OddNumber("request.number-too-large", f"{text[:12]}… ({len(digits):,} digits)")
    return int(text)


class BodyRefused(Exception):
    """A request body refused before parsing; ``response`` is what the client gets."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def too_large(size: int | None, limit: int) -> dict[str, Any]:
    said = f"request body is {size:,} bytes; the limit is" if size is not None else "request body exceeds the limit of"
    return {"rule": "request.too-large", "field": "body", "limit": limit, "message": f"{said} {limit:,} bytes"}


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or :class:`BodyRefused` (413) as soon as it is known to exceed ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            size = None
        if size is not None and size > limit:
            raise BodyRefused(JSONResponse({"detail": too_large(size, limit)}, status_code=413))
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise BodyRefused(JSONResponse({"detail": too_large(None, limit)}, status_code=413))
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # Starlette's own cache: the handler reads these bytes, not the spent stream
    return body


_JsonPath = tuple[str | int, ...]


def _find(value: Any, path: _JsonPath, bad: Callable[[Any], bool]) -> tuple[Any, _JsonPath] | None:
    """The first value (and its path) for which ``bad`` holds, dict keys included."""
    if bad(value):
        return value, path
    if isinstance(value, dict):
        for key, item in value.items():
            found = _find(key, path, bad) or _find(item, (*path, key), bad)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _find(item, (*path, index), bad)
            if found is not None:
                return found
    return None


def _is_lone_surrogate(value: Any) -> bool:
    return isinstance(value, str) and any("\ud800" <= ch <= "\udfff" for ch in value)


def _invalid(rule: str, loc: tuple[str | int, ...], message: str) -> BodyRefused:
    return BodyRefused(JSONResponse({"detail": [{"type": rule, "loc": list(loc), "msg": message}]}, status_code=422))


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion (the value may be deep; that is the point)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def check_json_text(body: bytes) -> None:
    """Raise :class:`BodyRefused` (422) for a body that is not UTF-8, nests deeper than
    :data:`MAX_JSON_DEPTH` or carries a lone surrogate.

    Bodies with neither a surrogate escape nor more brackets than the depth limit (every ordinary
    request) are not parsed here at all.
    """
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid("request.encoding", ("body",),
                       f"JSON must be UTF-8 (RFC 8259): byte 0x{body[exc.start]:02x} at offset {exc.start} "
                       "is not valid UTF-8") from None
    brackets = body.count(b"[") + body.count(b"{")
    odd_numbers = _ODD_NUMBER.search(body) is not None
    if brackets <= MAX_JSON_DEPTH and not odd_numbers and _SURROGATE_ESCAPE.search(body) is None:
        return
    too_deep = _invalid("request.too-deep", ("body",), f"JSON nests deeper than {MAX_JSON_DEPTH} levels")
    try:  # NaN, Infinity, 1e999 and 5,000-digit integers become markers: no field can take them, and a
        # FastAPI 422 echoing them back could not even be encoded (a 500)
        parsed = json.loads(body, parse_constant=lambda text: _OddNumber("request.non-finite", text),
                            parse_float=_number_float, parse_int=_number_int)
    except RecursionError:  # deeper than Python's parser follows: FastAPI would answer a vague 400
        raise too_deep from None
    except ValueError:
        return  # not JSON at all: FastAPI's json_invalid says so
    if brackets > MAX_JSON_DEPTH and _depth(parsed) > MAX_JSON_DEPTH:
        raise too_deep
    found = _find(parsed, ("body",), lambda v: isinstance(v, _OddNumber)) if odd_numbers else None
    if found is not None:
        number, where = found
        raise _invalid(number.rule, where, (
            f"number {number.text} is not finite; JSON numbers must be finite (RFC 8259 §6)"
            if number.rule == "request.non-finite" else
            f"integer {number.text} is beyond ±{MAX_JSON_INTEGER:,} (RFC 8259 §6: 2^53 - 1)"))
    found = _find(parsed, ("body",), _is_lone_surrogate)
    if found is not None:
        raise _invalid("request.unicode", found[1],
                       "string contains a lone UTF-16 surrogate (\\uD800–\\uDFFF without its pair), "
                       "which is not a character")


class GuardedRoute(APIRoute):
    """An ``APIRoute`` that applies the body checks above before FastAPI parses the request."""

    body_limit: int = JSON_BODY_LIMIT

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        limit = self.body_limit

        async def guarded(request: Request) -> Response:
            try:
                body = await read_body(request, limit)
                if body:
                    check_json_text(body)
            except BodyRefused as refused:
                return refused.response
            return await handler(request)

        return guarded


def _xml_text(value: str) -> str:
    found = _FORBIDDEN_XML.search(value)
    if found is not None:
        raise PydanticCustomError(
            "xml.forbidden-character",
            "text contains {char} at position {position}, which XML 1.0 cannot carry (no control characters "
            "other than tab, line feed and carriage return)",
            {"char": f"U+{ord(found.group()):04X}", "position": found.start()},
        )
    return value


class _XmlPattern:
    """Publishes the rule as a JSON-schema ``pattern``; the check itself is :func:`_xml_text` (clearer message)."""

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        schema = handler(core_schema)
        schema["pattern"] = XML_TEXT_PATTERN
        return schema


XmlText = Annotated[str, AfterValidator(_xml_text), _XmlPattern()]
"""Free text that travels as XML: refused with ``xml.forbidden-character`` when XML 1.0 cannot carry it."""


def xml_text(max_length: int, *, min_length: int = 0) -> Any:
    """:data:`XmlText` with a length limit checked first (``string_too_long`` naming the limit)."""
    return Annotated[str, StringConstraints(min_length=min_length or None, max_length=max_length),
                     AfterValidator(_xml_text), _XmlPattern()]


CALENDAR_FIRST = date(holidays.Norway.start_year + 1, 1, 1)
CALENDAR_LAST = date(holidays.Norway.end_year - 1, 12, 31)
"""The dates the domain rules can compute with: Norwegian holidays (workdays, cancellation and reply deadlines)
are known for ``holidays.Norway``'s years; a year's margin each side keeps every deadline computed from a date
inside them. A date outside is refused at every door (staff API, citizen API, the bus), so no stored item can
make a list endpoint fail later."""

CALENDAR_FIRST_UTC = datetime.combine(CALENDAR_FIRST, datetime.min.time(), tzinfo=timezone.utc)
CALENDAR_LAST_UTC = datetime.combine(CALENDAR_LAST, datetime.max.time(), tzinfo=timezone.utc)


def in_calendar(moment: date | datetime) -> bool:
    """Is ``moment`` inside :data:`CALENDAR_FIRST` – :data:`CALENDAR_LAST`?"""
    if isinstance(moment, datetime):
        return CALENDAR_FIRST_UTC <= moment.astimezone(timezone.utc) <= CALENDAR_LAST_UTC
    return CALENDAR_FIRST <= moment <= CALENDAR_LAST


CalendarDate = Annotated[date, Field(ge=CALENDAR_FIRST, le=CALENDAR_LAST)]
"""A date the calendar rules can compute with; outside, ``greater_than_equal``/``less_than_equal`` naming the range."""

CalendarDateTime = Annotated[AwareDatetime, Field(ge=CALENDAR_FIRST_UTC, le=CALENDAR_LAST_UTC)]
"""An aware date-time in the same range."""


class RuleError(BaseModel):
    """Why a request was refused: a stable rule id, a sentence, and the field when one field is to blame."""

    model_config = ConfigDict(extra="allow")  # rule-specific extras, e.g. ``deadline`` or ``limit``

    rule: str = Field(description="stable rule id, e.g. auth.expired, fullmakt.missing, request.too-large")
    message: str
    field: str | None = Field(default=None, description="the request field to blame, when there is one")


class RuleProblem(BaseModel):
    detail: RuleError


class FieldError(BaseModel):
    """FastAPI's validation error item; ``type`` is the rule (``string_too_long``, ``xml.forbidden-character``)."""

    model_config = ConfigDict(extra="allow")  # FastAPI adds input and ctx

    type: str
    loc: list[str | int]
    msg: str


class ValidationProblem(BaseModel):
    detail: list[FieldError] | RuleError


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a router's refusals, so clients (and Schemathesis) know the error shapes."""
    described = {
        401: "missing, malformed, forged or expired token (auth.missing, auth.malformed, auth.signature, auth.expired)",
        403: "a rule forbids this caller (auth.role, login.level, fullmakt.missing, epj.other-service, …)",
        404: "unknown id (thread.unknown, visit.unknown, case.unknown, …)",
        409: "the request is fine but the state of the world says no (cancel.after-cutoff, epj.state, …)",
        413: f"request body over {JSON_BODY_LIMIT:,} bytes (request.too-large)",
        422: "bad input: FastAPI's field errors, or one rule naming its field",
        502: "the EPJ's synchronous reply was unusable (sync.*)",
    }
    return {
        status: {"model": ValidationProblem if status == 422 else RuleProblem, "description": described[status]}
        for status in statuses
    }


__all__ = [
    "JSON_BODY_LIMIT",
    "MAX_JSON_DEPTH",
    "BodyRefused",
    "CALENDAR_FIRST",
    "CALENDAR_LAST",
    "CalendarDate",
    "CalendarDateTime",
    "GuardedRoute",
    "RuleError",
    "RuleProblem",
    "ValidationProblem",
    "XmlText",
    "check_json_text",
    "error_responses",
    "in_calendar",
    "read_body",
    "too_large",
    "xml_text",
]
