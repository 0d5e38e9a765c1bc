"""The citizen API of helsenorge over HTTP: a thin FastAPI adapter on :class:`HelsenorgeCore`.

The adapter does four things and no more: it verifies the bearer token,
validates JSON with pydantic (camelCase, 422 naming the field), reads the clock
once per request, and moves envelopes between the core and the exchange
(``Outbox`` for async messages, ``SyncCaller`` for HentPlanlagteTimer). Every
rule is the core's; a :class:`Refused` becomes a JSON error carrying its rule id.
The endpoints are module-level functions that get the :class:`CitizenApi` (core,
signer, clock, outbox, sync caller) from :func:`helsenorge_router`'s router-level
dependency (:mod:`mocks.kernel.routing`).

Status codes: 401 for a missing, forged or expired token (rule from
:class:`~mocks.kernel.auth.TokenError`; ``WWW-Authenticate: Bearer realm="helsenorge"``,
with ``error="invalid_token"`` when a token was sent); 403 when a rule forbids the caller (authorisation,
login, consent, fullmakt rules); 404 for an unknown thread, visit or fullmakt;
409 when the request is fine but the state of the world says no — notably
``cancel.after-cutoff``, whose body carries the ``deadline`` (ISO, Europe/Oslo):
cancelling the same visit a minute earlier would have worked, so it is a
conflict with time, not a malformed request (422); 422 for bad input; 502 when
the EPJ's synchronous reply is unusable. Before any of that, :class:`~mocks.kernel.http_guard.GuardedRoute`
refuses a body over 256 kB (413 ``request.too-large``), one that is not UTF-8 (422
``request.encoding``), nests deeper than 32 levels (422 ``request.too-deep``) or carries
a lone surrogate (422 ``request.unicode``); free text
that travels as XML refuses control characters (422 ``xml.forbidden-character``).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from mocks.exchange.envelope import SYNC_CALL_TIMEOUT_S
from mocks.kernel.auth import Claims, TokenSigner, bearer_token, verify_bearer
from mocks.kernel.http_guard import CalendarDate, GuardedRoute, error_responses, xml_text
from mocks.kernel.ports import Clock, Outbox, SyncCaller
from mocks.kernel.routing import Provide, provided
from mocks.wire.identifiers import fnr_problem
from mocks.wire.models import VisitStatus
from mocks.wire.msghead import parse_document
from domain.calendar import OSLO, cancellation_deadline

from mocks.helsenorge.core import HelsenorgeCore
from mocks.helsenorge.model import AccessLogEntry, Delivery, Fullmakt, Message, NotificationSettings, ThreadView, Visit
from mocks.helsenorge.rules import REQUIRED_LEVEL, Refused

REALM = "helsenorge"
"""The realm of the citizen API's 401 challenge (``WWW-Authenticate: Bearer realm="helsenorge"``)."""

ACCESS_LOG_PAGE_LIMIT = 200
"""Most access-log entries one request returns; page on with ``after``."""

STATUS: dict[str, int] = {
    "cancel.after-cutoff": 409,
    "cancel.already-cancelled": 409,
    "cancel.completed": 409,
    "cancel.pending": 409,
    "idempotency.key-reused": 409,
    "routing.not-activated": 409,
    "routing.unknown-service": 409,
    "service.not-connected": 422,
    "message.empty": 422,
    "sync.unexpected-reply": 502,
    "sync.unknown-request": 502,
    "sync.wrong-patient": 502,
}
FIELDS: dict[str, str] = {"service.not-connected": "serviceHerId", "message.empty": "text", "fullmakt.scope": "scope"}


def _error(exc: Refused, overrides: dict[str, int] | None = None) -> HTTPException:
    status = (overrides or {}).get(exc.rule) or STATUS.get(exc.rule)
    if status is None:
        status = 404 if exc.rule.endswith(".unknown") and exc.rule != "citizen.unknown" else 403
    body = exc.as_dict()
    if exc.rule in FIELDS:
        body["field"] = FIELDS[exc.rule]
    return HTTPException(status, body)


def _valid_fnr(value: str) -> str:
    problem = fnr_problem(value)
    if problem:
        raise ValueError(f"{problem[0]}: {problem[1]}")
    return value


Fnr = Annotated[str, AfterValidator(_valid_fnr)]
HerId = Annotated[int, Field(gt=0, lt=1_000_000_000)]
"""A HER-id: 1–9 digits (larger numbers would not even fit the stores' integer columns)."""
ScopeName = Literal["meldinger", "timeavtaler", "varsler"]


class Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


# ----------------------------------------------------------------------------- requests


class LoginRequest(Camel):
    fnr: Fnr
    eid: str = Field(min_length=1, max_length=40)


class FullmaktRequest(Camel):
    receiver_fnr: Fnr
    scope: list[ScopeName] = Field(min_length=1)
    valid_to: CalendarDate | None = None
    on_behalf_of: Fnr | None = None


class MessageRequest(Camel):
    service_her_id: HerId
    text: xml_text(10_000, min_length=1)
    on_behalf_of: Fnr | None = None
    thread_id: xml_text(100) | None = None
    topic: xml_text(200) | None = None


class CancelRequest(Camel):
    on_behalf_of: Fnr | None = None
    reason: xml_text(1_000) | None = None


class SettingsRequest(Camel):
    channel: Literal["sms", "email"] = "sms"
    level: Literal["Begrenset", "Normal", "Full"] = "Normal"
    notify_for_represented: bool = False
    on_behalf_of: Fnr | None = None


# ----------------------------------------------------------------------------- responses


class Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class LoginResponse(Out):
    token: str
    token_type: str = "Bearer"
    expires_at: datetime
    eid: str
    level: int


class ConsentOut(Out):
    fnr: str
    state: Literal["none", "pending", "active", "withdrawn"]
    given_at: datetime | None = None
    effective_from: datetime | None = None
    withdrawn_at: datetime | None = None


class FullmaktOut(Out):
    id: str
    giver_fnr: str
    receiver_fnr: str
    scope: list[str]
    valid_from: datetime
    valid_to: date | None
    ended_at: datetime | None
    ended_by: str | None
    state: str

    @classmethod
    def of(cls, f: Fullmakt, now: datetime) -> "FullmaktOut":
        return cls(
            id=f.id, giver_fnr=f.giver, receiver_fnr=f.receiver, scope=sorted(f.scope), valid_from=f.valid_from,
            valid_to=f.valid_to, ended_at=f.ended_at, ended_by=f.ended_by, state=f.state(now),
        )


class FullmaktListOut(Out):
    given: list[FullmaktOut]
    received: list[FullmaktOut]


class RepresentedOut(Out):
    fnr: str
    name: str
    basis: str
    scope: list[str]
    fullmakt_id: str | None = None


class MessageOut(Out):
    msg_id: str
    direction: Literal["in", "out"]
    text: str
    written_by: str | None
    created_at: datetime
    delivery: Literal["pending", "delivered", "failed"] | None = None
    delivery_detail: str | None = None

    @classmethod
    def of(cls, m: Message) -> "MessageOut":
        return cls(
            msg_id=m.msg_id, direction=m.direction.value, text=m.text, written_by=m.written_by,
            created_at=m.created_at, delivery=m.delivery.value if m.delivery else None,
            delivery_detail=m.delivery_detail,
        )


class ThreadOut(Out):
    id: str
    recipient_fnr: str
    service_her_id: int
    service_name: str | None
    topic: str | None
    created_at: datetime
    updated_at: datetime
    messages: list[MessageOut]

    @classmethod
    def of(cls, view: ThreadView) -> "ThreadOut":
        t = view.thread
        return cls(
            id=t.id, recipient_fnr=t.recipient, service_her_id=t.service_her_id, service_name=t.service_name,
            topic=t.topic, created_at=t.created_at, updated_at=t.updated_at,
            messages=[MessageOut.of(m) for m in view.messages],
        )


class InboxOut(Out):
    recipient_fnr: str
    threads: list[ThreadOut]


class MessageAccepted(Out):
    msg_id: str
    thread_id: str
    recipient_fnr: str
    delivery: Literal["pending", "delivered", "failed"]


class VisitOut(Out):
    """A visit as the citizen sees it: the employee's name, never a phone number."""

    uid: str
    service_her_id: int
    start: datetime
    end: datetime
    status: VisitStatus
    staff_name: str | None
    summary: str | None
    location: str | None
    cancellation_deadline: datetime
    cancellable: bool
    cancellation: Literal["pending", "delivered", "failed"] | None = None
    cancellation_note: str | None = None

    @classmethod
    def of(cls, v: Visit, now: datetime,
           deadline_of: Callable[[Visit], datetime] = lambda v: cancellation_deadline(v.start)) -> "VisitOut":
        """``deadline_of``: the service's own cut-off (helsenorge's rules book); the default rule when not given."""
        known = True
        try:
            deadline = deadline_of(v)
        except ValueError:  # a date no rule knows (stored before the doors checked): shown, not cancellable
            deadline, known = v.start, False
        cancellable = (
            known and v.status in (VisitStatus.CONFIRMED, VisitStatus.TENTATIVE)
            and now <= deadline
            and v.cancellation is not Delivery.PENDING
        )
        return cls(
            uid=v.uid, service_her_id=v.service_her_id, start=v.start, end=v.end, status=v.status,
            staff_name=v.staff_name, summary=v.summary, location=v.location, cancellation_deadline=deadline,
            cancellable=cancellable, cancellation=v.cancellation.value if v.cancellation else None,
            cancellation_note=v.cancellation_note or None,
        )


class VisitsOut(Out):
    recipient_fnr: str
    source: Literal["live", "cache", "mixed"]
    notices: list[str]
    visits: list[VisitOut]


class CancelAccepted(Out):
    uid: str
    cancellation: Literal["pending"] = "pending"
    deadline: datetime


class SettingsOut(Out):
    fnr: str
    channel: str
    level: str
    notify_for_represented: bool

    @classmethod
    def of(cls, s: NotificationSettings) -> "SettingsOut":
        return cls(fnr=s.fnr, channel=s.channel.value, level=s.level.value,
                   notify_for_represented=s.notify_for_represented)


class AccessLogOut(Out):
    seq: int
    at: datetime
    actor_fnr: str
    actor_name: str | None
    subject_fnr: str
    on_behalf: bool
    """Someone other than the citizen (a proxy, a parent, or a refused attempt)."""
    service: str | None
    """The helsenorge service used: ``meldinger``, ``timeavtaler``, ``varsler``, ``fullmakt``, ``samtykke``, ``logg``."""
    action: str
    outcome: str
    rule: str | None
    basis: str | None
    detail: str | None

    @classmethod
    def of(cls, e: AccessLogEntry) -> "AccessLogOut":
        return cls(seq=e.seq, at=e.at, actor_fnr=e.actor, actor_name=e.actor_name, subject_fnr=e.subject,
                   on_behalf=e.on_behalf, service=e.service, action=e.action, outcome=e.outcome, rule=e.rule,
                   basis=e.basis, detail=e.detail)


# ----------------------------------------------------------------------------- the service


@dataclass(frozen=True, slots=True)
class CitizenApi:
    """What the citizen API works with; :func:`helsenorge_router` puts it on each request it answers."""

    core: HelsenorgeCore
    signer: TokenSigner
    clock: Clock
    outbox: Outbox
    sync: SyncCaller
    sync_timeout: float = SYNC_CALL_TIMEOUT_S


async def _api(request: Request) -> CitizenApi:
    return provided(request, "helsenorge", CitizenApi)


Api = Annotated[CitizenApi, Depends(_api)]


async def caller(api: Api, authorization: str | None = Header(default=None)) -> Claims:
    """The citizen the bearer token names, at the security level the citizen API needs.

    async: an HMAC and a JSON decode, no I/O, so FastAPI runs it on the event loop instead of handing it to a
    worker thread and back (a thread hop costs more than the check)."""
    claims = verify_bearer(api.signer, authorization, realm=REALM, now=api.clock())
    if claims.role != "citizen":
        raise HTTPException(403, {"rule": "auth.role", "message": "the citizen API needs a citizen's token"})
    if claims.level < REQUIRED_LEVEL:
        raise HTTPException(403, {"rule": "login.level", "message": f"security level {REQUIRED_LEVEL} required"})
    return claims


Caller = Annotated[Claims, Depends(caller)]


async def on_behalf(value: str | None = Query(default=None, alias="on-behalf-of")) -> str | None:
    """The fnr a relative or parent acts for (async for the same reason as :func:`caller`)."""
    if value is not None:
        problem = fnr_problem(value)
        if problem:
            raise HTTPException(422, {"rule": problem[0], "field": "on-behalf-of", "message": problem[1]})
    return value


OnBehalf = Annotated[str | None, Depends(on_behalf)]


def _run(fn: Callable, *args, overrides: dict[str, int] | None = None, **kwargs):
    """Call the core, turning a :class:`Refused` into the HTTP error its rule maps to."""
    try:
        return fn(*args, **kwargs)
    except Refused as exc:
        raise _error(exc, overrides) from None


# ----------------------------------------------------------------------------- login, consent


def login(body: LoginRequest, api: Api):
    now = api.clock()
    claims = _run(api.core.login, body.fnr, body.eid, now, overrides={"citizen.unknown": 403})
    token = api.signer.issue(sub=claims.sub, role=claims.role, eid=claims.eid, level=claims.level, now=now)
    return LoginResponse(token=token, expires_at=(now + api.signer.lifetime).astimezone(OSLO), eid=claims.eid,
                         level=claims.level)


def logout(api: Api, claims: Caller, authorization: str = Header()) -> Response:
    """Revoke the token this request carries: it is refused (``auth.revoked``) from now on."""
    api.signer.revoke(bearer_token(authorization) or "", now=api.clock())
    return Response(status_code=204)


def _consent_out(core: HelsenorgeCore, fnr: str, now: datetime) -> ConsentOut:
    record = core.consent(fnr)
    if record is None:
        return ConsentOut(fnr=fnr, state="none")
    return ConsentOut(fnr=fnr, state=record.state(now), given_at=record.given_at,
                      effective_from=record.effective_from, withdrawn_at=record.withdrawn_at)


def get_consent(api: Api, claims: Caller):
    return _consent_out(api.core, claims.sub, api.clock())


def give_consent(api: Api, claims: Caller):
    now = api.clock()
    _run(api.core.give_consent, claims.sub, now)
    return _consent_out(api.core, claims.sub, now)


def withdraw_consent(api: Api, claims: Caller):
    now = api.clock()
    _run(api.core.withdraw_consent, claims.sub, now)
    return _consent_out(api.core, claims.sub, now)


# ----------------------------------------------------------------------------- fullmakt


def list_fullmakt(api: Api, claims: Caller):
    now = api.clock()
    both = api.core.fullmakter(claims.sub)
    return FullmaktListOut(given=[FullmaktOut.of(f, now) for f in both["given"]],
                           received=[FullmaktOut.of(f, now) for f in both["received"]])


def give_fullmakt(body: FullmaktRequest, api: Api, claims: Caller):
    now = api.clock()
    giver = body.on_behalf_of or claims.sub
    made = _run(api.core.give_fullmakt, giver, body.receiver_fnr, body.scope, body.valid_to, now, actor=claims.sub,
                overrides={"fullmakt.scope": 422, "citizen.unknown": 422})
    return FullmaktOut.of(made, now)


def end_fullmakt(fullmakt_id: str, api: Api, claims: Caller):
    now = api.clock()
    return FullmaktOut.of(_run(api.core.end_fullmakt, fullmakt_id, claims.sub, now), now)


def represented(api: Api, claims: Caller):
    return [
        RepresentedOut(fnr=r.fnr, name=r.name, basis=r.basis.value, scope=sorted(r.scope),
                       fullmakt_id=r.fullmakt_id)
        for r in api.core.representing(claims.sub, api.clock())
    ]


# ----------------------------------------------------------------------------- messages


async def inbox(api: Api, claims: Caller, subject: OnBehalf):
    """async: the reads below touch only helsenorge's own store (SQLite, a short lock, no bus, no network), so
    they run on the event loop. A worker thread would cost more than the read (two thread hops and the GIL passed
    back and forth: 550 against 1,100 requests a second, ``benchmarks/citizen_api.py``). Endpoints that send on
    the bus or wait for the EPJ (send, cancel, the calendar) stay ``def`` and run in the thread pool."""
    who = subject or claims.sub
    views = _run(api.core.inbox, claims.sub, who, api.clock())
    return InboxOut(recipient_fnr=who, threads=[ThreadOut.of(v) for v in views])


async def thread(thread_id: str, api: Api, claims: Caller):
    """async, as :func:`inbox` (own store only)."""
    return ThreadOut.of(_run(api.core.thread, claims.sub, thread_id, api.clock()))


def send_message(
    body: MessageRequest, api: Api, claims: Caller,
    idempotency_key: Annotated[xml_text(200, min_length=1) | None, Header(
        description="the same key (per user) with the same request answers the first send again instead of "
                    "sending twice; with another request it is 409 idempotency.key-reused")] = None,
):
    core = api.core
    now = api.clock()
    who = body.on_behalf_of or claims.sub
    envelopes = _run(core.send_message, claims.sub, who, body.service_her_id, body.text, now,
                     thread_id=body.thread_id, topic=body.topic, idempotency_key=idempotency_key)
    api.outbox.send(envelopes)
    if envelopes:
        msg_id = parse_document(envelopes[0].body).msg_id
    else:  # a retry: the message this key sent before
        msg_id = core.idempotent_msg_id(claims.sub, idempotency_key)
    stored = core.store.message(msg_id)
    return MessageAccepted(msg_id=msg_id, thread_id=stored.thread_id, recipient_fnr=who,
                           delivery=(core.message_delivery(msg_id) or Delivery.PENDING).value)


# ----------------------------------------------------------------------------- visits


def visits(api: Api, claims: Caller, subject: OnBehalf,
           service_her_id: int | None = Query(default=None, alias="serviceHerId", gt=0, lt=1_000_000_000)):
    core, clock = api.core, api.clock
    actor, who = claims.sub, subject or claims.sub
    now = clock()
    services = [s for s in core.services(who) if service_her_id in (None, s.her_id)]
    if not services:
        cached = _run(core.visits, actor, who, now, service_her_id=service_her_id)
        return VisitsOut(recipient_fnr=who, source="cache", notices=["no connected services to ask"],
                         visits=[VisitOut.of(v, now, core.cancellation_deadline) for v in cached])
    found: dict[str, Visit] = {}
    sources: set[str] = set()
    notices: list[str] = []
    for service in services:
        try:
            request = core.planned_visits_request(actor, who, service.her_id, now)
        except Refused as exc:
            if exc.rule.startswith(("routing.", "service.")):
                notices.append(f"{service.name}: {exc.message}")
                continue
            raise _error(exc) from None
        reply = api.sync.call(request, timeout=api.sync_timeout)
        if reply is None:
            listed = _run(core.planned_visits_timeout, actor, who, request, clock())
            sources.add("cache")
            notices.append(f"{service.name} did not answer within {api.sync_timeout:g} s; showing saved visits, "
                           "which may be out of date")
        else:
            try:
                listed = core.planned_visits_reply(actor, who, reply, None, clock())
                sources.add("live")
            except Refused as exc:
                listed = _run(core.planned_visits_timeout, actor, who, request, clock())
                sources.add("cache")
                notices.append(f"{service.name} sent an unusable answer ({exc.rule}); showing saved visits")
        for v in listed:
            found[v.uid] = v
    source = "mixed" if len(sources) > 1 else (sources.pop() if sources else "cache")
    ordered = sorted(found.values(), key=lambda v: (v.start, v.uid))
    return VisitsOut(recipient_fnr=who, source=source, notices=notices,
                     visits=[VisitOut.of(v, now, core.cancellation_deadline) for v in ordered])


def cancel_visit(uid: str, api: Api, claims: Caller, body: CancelRequest | None = None):
    now = api.clock()
    body = body or CancelRequest()
    who = body.on_behalf_of or claims.sub
    envelopes = _run(api.core.cancel_visit, claims.sub, who, uid, now, reason=body.reason)
    api.outbox.send(envelopes)
    visit = api.core.store.visit(uid)
    return CancelAccepted(uid=uid, deadline=api.core.cancellation_deadline(visit))


# ----------------------------------------------------------------------------- notifications, access log


async def get_settings(api: Api, claims: Caller, subject: OnBehalf):
    """async, as :func:`inbox` (own store only)."""
    return SettingsOut.of(_run(api.core.notification_settings, claims.sub, subject or claims.sub, api.clock()))


def put_settings(body: SettingsRequest, api: Api, claims: Caller):
    settings = _run(
        api.core.set_notification_settings, claims.sub, body.on_behalf_of or claims.sub, api.clock(),
        channel=body.channel, level=body.level, notify_for_represented=body.notify_for_represented,
    )
    return SettingsOut.of(settings)


async def access_log(
    api: Api, claims: Caller, subject: OnBehalf, response: Response,
    after: Annotated[int, Query(ge=0, le=2**62, description="return entries after this seq (the previous "
                                                            "page's Next-After header)")] = 0,
    limit: Annotated[int, Query(ge=1, le=ACCESS_LOG_PAGE_LIMIT)] = ACCESS_LOG_PAGE_LIMIT,
):
    """A page of the log, oldest first; ``Next-After`` names the cursor for the next page when there is one.
    async, as :func:`inbox` (own store only)."""
    entries = _run(api.core.read_access_log, claims.sub, subject or claims.sub, api.clock(), after=after,
                   limit=limit)
    if len(entries) == limit:
        response.headers["Next-After"] = str(entries[-1].seq)
    return [AccessLogOut.of(e) for e in entries]


# ----------------------------------------------------------------------------- router


def helsenorge_router(
    core: HelsenorgeCore,
    *,
    signer: TokenSigner,
    clock: Clock,
    outbox: Outbox,
    sync: SyncCaller,
    sync_timeout: float = SYNC_CALL_TIMEOUT_S,
) -> APIRouter:
    """The citizen API, without a prefix (the harness mounts it at ``/helsenorge``)."""
    api = CitizenApi(core, signer, clock, outbox, sync, sync_timeout)
    router = APIRouter(route_class=GuardedRoute, responses=error_responses(401, 403, 404, 409, 413, 422, 502),
                       dependencies=[Depends(Provide("helsenorge", api))])
    add = router.add_api_route
    add("/api/login", login, methods=["POST"], response_model=LoginResponse)
    add("/api/logout", logout, methods=["POST"], status_code=204, response_class=Response)
    add("/api/consent", get_consent, methods=["GET"], response_model=ConsentOut)
    add("/api/consent", give_consent, methods=["POST"], response_model=ConsentOut)
    add("/api/consent", withdraw_consent, methods=["DELETE"], response_model=ConsentOut)
    add("/api/fullmakt", list_fullmakt, methods=["GET"], response_model=FullmaktListOut)
    add("/api/fullmakt", give_fullmakt, methods=["POST"], response_model=FullmaktOut, status_code=201)
    add("/api/fullmakt/{fullmakt_id}", end_fullmakt, methods=["DELETE"], response_model=FullmaktOut)
    add("/api/represented", represented, methods=["GET"], response_model=list[RepresentedOut])
    add("/api/inbox", inbox, methods=["GET"], response_model=InboxOut)
    add("/api/threads/{thread_id}", thread, methods=["GET"], response_model=ThreadOut)
    add("/api/messages", send_message, methods=["POST"], response_model=MessageAccepted, status_code=202)
    add("/api/visits", visits, methods=["GET"], response_model=VisitsOut)
    add("/api/visits/{uid}/cancel", cancel_visit, methods=["POST"], response_model=CancelAccepted, status_code=202)
    add("/api/notification-settings", get_settings, methods=["GET"], response_model=SettingsOut)
    add("/api/notification-settings", put_settings, methods=["PUT"], response_model=SettingsOut)
    add("/api/access-log", access_log, methods=["GET"], response_model=list[AccessLogOut])
    return router
