"""The staff API: a thin FastAPI adapter over :class:`~mocks.epj.core.EpjCore`.

It stands in for the EPJ's own user interface, so Locust and the SimPy model
can play staff over HTTP and a person can click through a case. The adapter
only authenticates, translates JSON to core calls and back, reads the clock
once per request, and hands the core's outgoing envelopes to the outbox; every
rule lives in the core. If the outbox fails after the core has committed, the
messages are still tracked and come back from ``due_resends``: nothing is lost.

Conventions:

* JSON is camelCase; request models forbid unknown fields, so a typo is a 422
  naming the field rather than a silently ignored value.
* Endpoints are module-level functions. :func:`epj_router` builds one router per
  installation whose router-level dependency puts that installation's
  :class:`StaffApi` on the request (:mod:`mocks.kernel.routing`), so several
  installations mount side by side in one app.
* 401 when the bearer token is missing, forged, altered or expired, with the
  :class:`~mocks.kernel.auth.TokenError` rule (``auth.missing``, ``auth.malformed``,
  ``auth.signature``, ``auth.expired``) in ``detail.rule`` and the one challenge of
  :func:`mocks.kernel.auth.challenge` (``Bearer realm="epj"``); 403 when a staff
  member acts outside their service (or a non-staff token is used); 404 for
  unknown ids; 409 when the action does not fit the state; 422 for bad input,
  in FastAPI's own ``[{"type", "loc", "msg"}]`` shape so clients parse one form.
* Before FastAPI parses a body, :class:`~mocks.kernel.http_guard.GuardedRoute` refuses one
  over 256 kB (413 ``request.too-large``), one that is not UTF-8 (422
  ``request.encoding``), nests deeper than 32 levels (422 ``request.too-deep``) or
  holds a lone surrogate (422 ``request.unicode``). Free
  text that goes out as XML (replies, notes, reasons) has a length limit and
  refuses control characters XML cannot carry (422 ``xml.forbidden-character``).
* Staff phone numbers are not in any response model: they are not in the
  core's :class:`~mocks.epj.model.Staff` either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from mocks.exchange.envelope import Envelope
from mocks.kernel.auth import TokenSigner, bearer_token, unauthorised, verify_bearer
from mocks.kernel.http_guard import CalendarDate, CalendarDateTime, GuardedRoute, error_responses, xml_text
from mocks.kernel.ports import Clock, Outbox
from mocks.kernel.routing import Provide, provided
from domain.calendar import OSLO

from mocks.epj.core import EpjCore
from mocks.epj.model import (
    Case,
    CaseKind,
    CaseStatus,
    EpjError,
    HandheldNotice,
    InvalidInput,
    InvalidTransition,
    NotAuthorised,
    NotFound,
    NotYours,
    Staff,
    Visit,
    VisitState,
)

STAFF_ROLE = "staff"
STAFF_EID = "epj"
STAFF_LEVEL = 4
REALM = "epj"
"""The realm of the staff API's 401 challenge (``WWW-Authenticate: Bearer realm="epj"``)."""

T = TypeVar("T")


# ----------------------------------------------------------------------------- JSON models


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class _Request(_Model):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class LoginIn(_Request):
    staff_id: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class LoginOut(_Model):
    token: str
    staff_id: str
    name: str
    service_her_id: int


class StaffRef(_Model):
    staff_id: str
    name: str


class PatientRef(_Model):
    fnr: str
    name: str


class ReplyOut(_Model):
    msg_id: str
    staff: StaffRef
    text: str
    final: bool
    sent_at: datetime
    answer_by: date | None = None


class CaseEventOut(_Model):
    at: datetime
    staff_id: str
    action: str
    note: str | None = None


class CaseOut(_Model):
    case_id: str
    msg_id: str
    function: str
    conversation_ref: str
    patient: PatientRef
    service_her_id: int
    kind: CaseKind
    subject: str | None
    text: str
    received_at: datetime
    status: CaseStatus
    reply_deadline: datetime
    overdue: bool
    forwarded_to: StaffRef | None = None
    replies: list[ReplyOut] = []
    events: list[CaseEventOut] = []


class UnitOverviewOut(_Model):
    service_her_id: int
    name: str
    open: int
    past_due: int = Field(description="Open cases late by the routine: no answer past the reply deadline, or past "
                                      "the workday a temporary answer promised.")
    oldest_past_due: datetime | None = None


class VisitOut(_Model):
    uid: str
    patient: PatientRef
    service_her_id: int
    start: datetime
    end: datetime
    status: VisitState
    summary: str | None = None
    location: str | None = None
    staff: StaffRef | None = None
    sequence: int


class NoticeOut(_Model):
    visit_uid: str
    text: str
    at: datetime


class SentOut(_Model):
    message_id: str
    subject: str | None
    to: str


class CaseActionOut(_Model):
    case: CaseOut
    sent: list[SentOut]


class VisitActionOut(_Model):
    visit: VisitOut
    sent: list[SentOut]


class ReplyIn(_Request):
    text: xml_text(10_000, min_length=1)
    final: bool = True


class TemporaryReplyIn(_Request):
    text: xml_text(10_000) = ""
    answer_by: CalendarDate


class ForwardIn(_Request):
    to_staff_id: str = Field(min_length=1, max_length=64)
    note: xml_text(1_000) = ""


class ChangeVisitIn(_Request):
    start: CalendarDateTime
    end: CalendarDateTime
    staff_id: str | None = Field(default=None, max_length=64)


class DelayVisitIn(_Request):
    expected_start: CalendarDateTime
    """When the employee now expects to arrive; after the planned start."""


class CancelVisitIn(_Request):
    reason: xml_text(1_000) = ""


# ----------------------------------------------------------------------------- the service


@dataclass(frozen=True, slots=True)
class StaffApi:
    """What one installation's staff API works with; :func:`epj_router` puts it on each request it answers."""

    core: EpjCore
    signer: TokenSigner
    clock: Clock
    outbox: Outbox


async def _api(request: Request) -> StaffApi:
    return provided(request, "epj", StaffApi)


Api = Annotated[StaffApi, Depends(_api)]


def current_staff(request: Request, api: Api) -> Staff:
    """The staff member the bearer token names (the header is read from the request, not declared, so the
    OpenAPI document lists no ``authorization`` parameter for the staff API)."""
    claims = verify_bearer(api.signer, request.headers.get("authorization"), realm=REALM, now=api.clock())
    if claims.role != STAFF_ROLE:
        message = f"a {claims.role} token cannot use the staff API"
        raise HTTPException(403, {"rule": "auth.role", "message": message})
    staff = api.core.store.staff(claims.sub)
    if staff is None:
        raise unauthorised("auth.unknown-subject", f"staff member {claims.sub} no longer exists; log in again",
                           realm=REALM, token_given=True)
    return staff


Me = Annotated[Staff, Depends(current_staff)]


# ----------------------------------------------------------------------------- JSON out


def _staff_ref(core: EpjCore, staff_id: str | None) -> StaffRef | None:
    if not staff_id:
        return None
    staff = core.store.staff(staff_id)
    return StaffRef(staff_id=staff_id, name=staff.name if staff else staff_id)


def _patient_ref(core: EpjCore, fnr: str) -> PatientRef:
    patient = core.store.patient(fnr)
    return PatientRef(fnr=fnr, name=patient.display_name if patient else fnr)


def _case_out(core: EpjCore, case: Case, now: datetime) -> CaseOut:
    return CaseOut(
        case_id=case.case_id,
        msg_id=case.msg_id,
        function=case.function,
        conversation_ref=case.conversation_ref,
        patient=PatientRef(fnr=case.patient_fnr, name=case.patient_name),
        service_her_id=case.service_her_id,
        kind=case.kind,
        subject=case.subject,
        text=case.text,
        received_at=case.received_at,
        status=case.status,
        reply_deadline=case.reply_deadline,
        overdue=case.overdue(now),
        forwarded_to=_staff_ref(core, case.forwarded_to),
        replies=[
            ReplyOut(
                msg_id=r.msg_id, staff=StaffRef(staff_id=r.staff_id, name=r.staff_name), text=r.text,
                final=r.final, sent_at=r.sent_at, answer_by=r.answer_by,
            )
            for r in case.replies
        ],  # fmt: skip
        events=[CaseEventOut(at=e.at, staff_id=e.staff_id, action=e.action, note=e.note) for e in case.events],
    )


def _visit_out(core: EpjCore, visit: Visit) -> VisitOut:
    return VisitOut(
        uid=visit.uid,
        patient=_patient_ref(core, visit.patient_fnr),
        service_her_id=visit.service_her_id,
        start=visit.start,
        end=visit.end,
        status=visit.state,
        summary=visit.summary,
        location=visit.location,
        staff=StaffRef(staff_id=visit.staff_id, name=visit.staff_name or visit.staff_id) if visit.staff_id else None,
        sequence=visit.sequence,
    )


def _notice_out(notice: HandheldNotice) -> NoticeOut:
    return NoticeOut(visit_uid=notice.visit_uid, text=notice.text, at=notice.at)


def _send(outbox: Outbox, envelopes: Iterable[Envelope]) -> list[SentOut]:
    envelopes = list(envelopes)
    if envelopes:
        outbox.send(envelopes)
    return [SentOut(message_id=e.message_id, subject=e.subject, to=e.to) for e in envelopes]


def _case_action(api: StaffApi, case_id: str, staff: Staff,
                 action: Callable[[datetime], list[Envelope]]) -> CaseActionOut:
    now = api.clock()
    sent = _send(api.outbox, _call(lambda: action(now)))
    return CaseActionOut(case=_case_out(api.core, api.core.case(case_id, staff_id=staff.staff_id), now), sent=sent)


def _visit_action(api: StaffApi, uid: str, staff: Staff,
                  action: Callable[[datetime], list[Envelope]]) -> VisitActionOut:
    now = api.clock()
    sent = _send(api.outbox, _call(lambda: action(now)))
    return VisitActionOut(visit=_visit_out(api.core, api.core.visit(uid, staff_id=staff.staff_id)), sent=sent)


# ----------------------------------------------------------------------------- endpoints


def login(body: LoginIn, api: Api) -> LoginOut:
    staff = api.core.login(body.staff_id, body.password)
    if staff is None:
        raise unauthorised("auth.credentials", "unknown staff id or wrong password", realm=REALM, token_given=False)
    token = api.signer.issue(
        sub=staff.staff_id, role=STAFF_ROLE, eid=STAFF_EID, level=STAFF_LEVEL, now=api.clock(),
        org=str(staff.service_her_id),
    )  # fmt: skip
    return LoginOut(token=token, staff_id=staff.staff_id, name=staff.name, service_her_id=staff.service_her_id)


def logout(request: Request, api: Api, staff: Me) -> Response:
    """Revoke the token this request carries: it is refused (``auth.revoked``) from now on."""
    api.signer.revoke(bearer_token(request.headers.get("authorization")) or "", now=api.clock())
    return Response(status_code=204)


def me(staff: Me) -> StaffRef:
    return StaffRef(staff_id=staff.staff_id, name=staff.name)


def inbox(api: Api, staff: Me, status: CaseStatus | None = None) -> list[CaseOut]:
    now = api.clock()
    return [_case_out(api.core, c, now) for c in _call(lambda: api.core.inbox(staff.staff_id, status))]


def overview(api: Api, staff: Me) -> list[UnitOverviewOut]:
    """The leader's overview of the municipality's units: open cases and those late by the routine."""
    return [UnitOverviewOut(service_her_id=u.service_her_id, name=u.name, open=u.open, past_due=u.past_due,
                            oldest_past_due=u.oldest_past_due)
            for u in _call(lambda: api.core.overview(staff.staff_id, api.clock()))]


def get_case(case_id: str, api: Api, staff: Me) -> CaseOut:
    return _case_out(api.core, _call(lambda: api.core.case(case_id, staff_id=staff.staff_id)), api.clock())


def open_case(case_id: str, api: Api, staff: Me) -> CaseActionOut:
    return _case_action(api, case_id, staff,
                        lambda now: api.core.open_case(case_id, staff_id=staff.staff_id, now=now))


def reply(case_id: str, body: ReplyIn, api: Api, staff: Me) -> CaseActionOut:
    return _case_action(
        api, case_id, staff,
        lambda now: api.core.reply(case_id, body.text, staff_id=staff.staff_id, now=now, final=body.final),
    )  # fmt: skip


def temporary_reply(case_id: str, body: TemporaryReplyIn, api: Api, staff: Me) -> CaseActionOut:
    return _case_action(
        api, case_id, staff,
        lambda now: api.core.temporary_reply(case_id, body.text, body.answer_by, staff_id=staff.staff_id, now=now),
    )  # fmt: skip


def forward(case_id: str, body: ForwardIn, api: Api, staff: Me) -> CaseActionOut:
    return _case_action(
        api, case_id, staff,
        lambda now: api.core.forward(case_id, body.to_staff_id, body.note, staff_id=staff.staff_id, now=now),
    )  # fmt: skip


def worklist(api: Api, staff: Me, day: Annotated[CalendarDate | None, Query()] = None) -> list[VisitOut]:
    day = day or api.clock().astimezone(OSLO).date()
    return [_visit_out(api.core, v) for v in _call(lambda: api.core.work_list(staff.staff_id, day))]


def visit_done(uid: str, api: Api, staff: Me) -> VisitActionOut:
    return _visit_action(api, uid, staff,
                         lambda now: api.core.mark_visit_done(uid, staff_id=staff.staff_id, now=now))


def visit_change(uid: str, body: ChangeVisitIn, api: Api, staff: Me) -> VisitActionOut:
    return _visit_action(
        api, uid, staff,
        lambda now: api.core.change_visit(
            uid, body.start, body.end, staff_id=staff.staff_id, now=now, assign_staff_id=body.staff_id
        ),
    )  # fmt: skip


def visit_delay(uid: str, body: DelayVisitIn, api: Api, staff: Me) -> VisitActionOut:
    """The visit will start late: helsenorge gets an Avtale update with the expected start (its delay notice)."""
    return _visit_action(
        api, uid, staff,
        lambda now: api.core.report_delay(uid, body.expected_start, staff_id=staff.staff_id, now=now),
    )  # fmt: skip


def visit_cancel(uid: str, body: CancelVisitIn, api: Api, staff: Me) -> VisitActionOut:
    return _visit_action(
        api, uid, staff, lambda now: api.core.cancel_visit(uid, body.reason, staff_id=staff.staff_id, now=now)
    )


def handheld(api: Api, staff: Me) -> list[NoticeOut]:
    return [_notice_out(n) for n in api.core.handheld_notices(staff.staff_id)]


# ----------------------------------------------------------------------------- router


def epj_router(core: EpjCore, *, signer: TokenSigner, clock: Clock, outbox: Outbox) -> APIRouter:
    """The staff API of one installation, without a prefix (mount it where the harness wants it, e.g.
    ``/epj/gerica``); several installations mount side by side, each router providing its own :class:`StaffApi`."""
    router = APIRouter(route_class=GuardedRoute, responses=error_responses(401, 403, 404, 409, 413, 422),
                       dependencies=[Depends(Provide("epj", StaffApi(core, signer, clock, outbox)))])
    add = router.add_api_route
    add("/api/login", login, methods=["POST"], response_model=LoginOut)
    add("/api/logout", logout, methods=["POST"], status_code=204, response_class=Response)
    add("/api/me", me, methods=["GET"], response_model=StaffRef)
    add("/api/inbox", inbox, methods=["GET"], response_model=list[CaseOut])
    add("/api/overview", overview, methods=["GET"], response_model=list[UnitOverviewOut])
    add("/api/cases/{case_id}", get_case, methods=["GET"], response_model=CaseOut)
    add("/api/cases/{case_id}/open", open_case, methods=["POST"], response_model=CaseActionOut)
    add("/api/cases/{case_id}/reply", reply, methods=["POST"], response_model=CaseActionOut)
    add("/api/cases/{case_id}/temporary-reply", temporary_reply, methods=["POST"], response_model=CaseActionOut)
    add("/api/cases/{case_id}/forward", forward, methods=["POST"], response_model=CaseActionOut)
    add("/api/worklist", worklist, methods=["GET"], response_model=list[VisitOut])
    add("/api/visits/{uid}/done", visit_done, methods=["POST"], response_model=VisitActionOut)
    add("/api/visits/{uid}/change", visit_change, methods=["POST"], response_model=VisitActionOut)
    add("/api/visits/{uid}/delay", visit_delay, methods=["POST"], response_model=VisitActionOut)
    add("/api/visits/{uid}/cancel", visit_cancel, methods=["POST"], response_model=VisitActionOut)
    add("/api/handheld", handheld, methods=["GET"], response_model=list[NoticeOut])
    return router


_BODY_FIELD = {"answerBy", "staffId", "text", "uid", "start", "end", "toStaffId"}


def _call(action: Callable[[], T]) -> T:
    """Run a core call, turning its refusals into HTTP statuses."""
    try:
        return action()
    except NotFound as exc:
        raise HTTPException(404, {"rule": f"{exc.kind}.unknown", "message": str(exc)}) from None
    except NotYours as exc:  # worded as an unknown id: another service's ids must not be told from made-up ones
        raise HTTPException(404, {"rule": f"{exc.kind}.unknown", "message": f"unknown {exc.kind}: {exc.key}"}) from None
    except NotAuthorised as exc:
        raise HTTPException(403, {"rule": "epj.other-service", "message": str(exc)}) from None
    except InvalidTransition as exc:
        raise HTTPException(409, {"rule": "epj.state", "message": str(exc)}) from None
    except InvalidInput as exc:
        loc = ["body", exc.field] if exc.field in _BODY_FIELD else [exc.field]
        raise HTTPException(422, [{"type": exc.rule, "loc": loc, "msg": str(exc)}]) from None
    except EpjError as exc:  # pragma: no cover - every subclass is handled above
        raise HTTPException(400, {"rule": "epj.error", "message": str(exc)}) from None


__all__ = ["StaffApi", "epj_router"]
