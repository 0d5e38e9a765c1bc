"""How the model's people reach the services: in process, or over HTTP to a running harness.

The behaviour (who does what, when) is the same either way; only the path
differs. In process, citizen and staff actions call the helsenorge and EPJ
cores and the envelopes travel on the SimPy bus. Networked, every action is an
HTTP request to the citizen or staff API of a served harness, whose receive
loops move the envelopes over a real (embedded SQLite) exchange in accelerated
wall-clock time. The verdicts must agree; the fingerprints need not (a real
network decides its own timing).
"""

from __future__ import annotations

import queue
import threading
import time as real_time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import httpx

from mocks.epj.model import CaseKind, CaseStatus, InvalidTransition, UnitOverview
from mocks.epj.routine import ROUTINE, Action, Role, promised_date
from mocks.helsenorge.rules import Refused
from simulator.staffing import OFFICE, account
from simulator.staffwork import NO_VISIT_TEXT, OWN_PART_TEXT, Due, answer_text

CHANGE_LOOKAHEAD = timedelta(days=14)
"""A change/cancel message is about the patient's next planned visit of the service within two weeks."""
CHANGE_MIN_NOTICE = timedelta(hours=1)
"""... that has not started within the hour (the employee is on the way or there)."""
MOVE_WORDS = ("flytt", "endre tid", "senere")
"""A change/cancel message with one of these words asks to move the visit; the employee moves it (any other is
cancelled, as asked)."""
MOVE_BY = timedelta(days=1)
"""ESTIMATE: a visit the citizen asks to move goes to the same time the next day."""


def asks_to_move(text: str) -> bool:
    """Does the citizen's change/cancel message ask to move the visit rather than cancel it?"""
    lowered = text.lower()
    return any(word in lowered for word in MOVE_WORDS)


@dataclass(frozen=True, slots=True)
class VisitView:
    uid: str
    start: datetime
    status: str


@dataclass(frozen=True, slots=True)
class CaseView:
    """An open case as an inbox round finds it (``staff_id``: who holds it now)."""

    case_id: str
    msg_id: str
    reply_deadline: datetime
    forwarded_to: str | None
    answered: bool
    staff_id: str
    installation: str
    service_her_id: int
    kind: CaseKind = CaseKind.ENQUIRY
    status: CaseStatus = CaseStatus.NEW
    promised: date | None = None
    """The workday the last temporary answer promised the final answer for (None: no temporary answer)."""
    patient_fnr: str | None = None
    other_unit: int | None = None
    """The municipality's other service unit (for a question to several units)."""


@dataclass(frozen=True, slots=True)
class Done:
    """What a step sent: ``answer`` temporary|part|final (None: nothing to the citizen), ``promised`` the date a
    temporary answer gave, ``visit`` the visit taken off the work list."""

    answer: str | None = None
    promised: date | None = None
    visit: str | None = None
    visit_start: datetime | None = None


class InProcessServices:
    """The cores, directly; envelopes go on the SimPy bus."""

    networked = False

    def __init__(self, world, bus) -> None:
        self.world = world
        self.bus = bus

    def send_message(self, actor: str, subject: str, service: int, text: str, now: datetime) -> str:
        envelopes = self.world.helsenorge.send_message(actor, subject, service, text, now)
        self.bus.send_all(envelopes)
        return self.world.msg_id_of(envelopes[0])

    def read_calendar(self, env, actor: str, subject: str, service: int, at):
        request = self.world.helsenorge.planned_visits_request(actor, subject, service, at(env.now))
        reply = yield env.process(self.bus.call(request))
        helsenorge = self.world.helsenorge
        if reply is None:  # no answer in time: helsenorge shows its saved copy, as its HTTP adapter does
            visits = helsenorge.planned_visits_timeout(actor, subject, request, at(env.now))
            return [VisitView(v.uid, v.start, v.status.value) for v in visits], False
        visits = helsenorge.planned_visits_reply(actor, subject, reply, reply.document, at(env.now))
        return [VisitView(v.uid, v.start, v.status.value) for v in visits], True

    def cancel_visit(self, actor: str, subject: str, uid: str, now: datetime) -> None:
        self.bus.send_all(self.world.helsenorge.cancel_visit(actor, subject, uid, now))

    def read_inbox(self, actor: str, subject: str, now: datetime) -> None:
        self.world.helsenorge.inbox(actor, subject, now)

    def open_cases(self, kommune: str) -> list[CaseView]:
        """Every open case of the municipality's services, once each, with who holds it."""
        key = self.world.municipalities[kommune].installation
        epj = self.world.epjs[key]
        units = [self.world.service_her_id(kommune, s) for s in ("nursing", "help")]
        seen: dict[str, CaseView] = {}
        for her_id in units:
            other = next((u for u in units if u != her_id), None)
            for status in (CaseStatus.NEW, CaseStatus.UNDER_BEHANDLING, CaseStatus.UNDER_SAKSBEHANDLING):
                for c in epj.inbox(f"{her_id}-01", status):
                    if c.case_id in seen or c.service_her_id != her_id:
                        continue
                    promised = next((r.answer_by for r in reversed(c.replies) if r.answer_by), None)
                    seen[c.case_id] = CaseView(
                        c.case_id, c.msg_id, c.reply_deadline, c.forwarded_to, bool(c.replies),
                        c.forwarded_to or f"{her_id}-01", key, her_id, c.kind, c.status, promised, c.patient_fnr,
                        other)
        return sorted(seen.values(), key=lambda v: (v.reply_deadline, v.case_id))

    def overview(self, kommune: str, now: datetime) -> list[UnitOverview]:
        """The leader's overview of the municipality's units, as the EPJ gives it to the leader (account 09)."""
        epj = self.world.epjs[self.world.municipalities[kommune].installation]
        return epj.overview(account(self.world.service_her_id(kommune, "nursing"), OFFICE[Role.LEADER]), now)

    def work(self, case: CaseView, step: Due, now: datetime) -> Done:
        """Do one routine step through the EPJ core (the EPJ refuses what its table forbids)."""
        epj = self.world.epjs[case.installation]
        row = ROUTINE[case.kind]
        out: list = []
        done = Done()
        if step.action is Action.TEMPORARY_ANSWER:
            template = row.step(Action.TEMPORARY_ANSWER).text or ""
            promise = epj.routine_promise(case.case_id, now)
            out += epj.temporary_reply(case.case_id, template.format(workdays=row.promise_workdays), promise,
                                       staff_id=step.by, now=now)
            done = Done("temporary", promise)
            if step.to is not None:
                out += epj.refer(case.case_id, step.to, "Etter rutinen", staff_id=step.by, now=now,
                                 casework=step.casework)
        elif step.action is Action.FORWARD:
            out += epj.refer(case.case_id, step.to, "Etter rutinen", staff_id=step.by, now=now,
                             casework=step.casework)
        elif step.action is Action.PART_ANSWER:
            promise = epj.routine_promise(case.case_id, now)
            out += epj.answer_part(case.case_id, OWN_PART_TEXT, step.to, staff_id=step.by, now=now)
            done = Done("part", promise)
        elif step.action is Action.CHANGE_WORK_LIST:
            visit = self._next_visit(epj, case, now)
            if visit is None:
                out += epj.reply(case.case_id, NO_VISIT_TEXT, staff_id=step.by, now=now)
                done = Done("final")
            else:
                start = visit.start + MOVE_BY if asks_to_move(epj.case(case.case_id).text) else None
                out += epj.handle_appointment_change(case.case_id, visit.uid, staff_id=step.by, now=now, start=start)
                done = Done("final", visit=visit.uid, visit_start=visit.start)
        else:
            out += epj.reply(case.case_id, answer_text(case.kind), staff_id=step.by, now=now)
            done = Done("final")
        self.bus.send_all(out)
        return done

    @staticmethod
    def _next_visit(epj, case: CaseView, now: datetime):
        """The patient's next planned visit of the service that has not started within the hour."""
        visits = epj.store.visits_of_patient(case.patient_fnr, case.service_her_id, now + CHANGE_MIN_NOTICE,
                                             now + CHANGE_LOOKAHEAD)
        return next((v for v in visits if v.state.value == "planned"), None)

    def complete_visit(self, kommune: str, uid: str, staff_id: str, now: datetime) -> None:
        self.world.complete_visit(kommune, uid, staff_id, now)

    def report_delay(self, kommune: str, uid: str, staff_id: str, expected_start: datetime, now: datetime) -> None:
        self.world.report_delay(kommune, uid, staff_id, expected_start, now)

    def plan_visit(self, kommune: str, visit, start: datetime, end: datetime, now: datetime) -> None:
        self.world.plan_new_visit(kommune, visit, start, end, now)

    def change_visit(self, kommune: str, uid: str, start: datetime, end: datetime, staff_id: str,
                     now: datetime) -> None:
        self.world.change_visit(kommune, uid, start, end, staff_id, now)

    def due_resends(self, now: datetime) -> None:
        self.bus.send_all(self.world.due_resends(now))

    def check_digital(self, kommune: str, fnr: str, staff_id: str, now: datetime) -> str:
        """The EPJ asks helsenorge whether the patient is digitally active (SjekkStatus); returns its MsgId."""
        epj = self.world.epjs[self.world.municipalities[kommune].installation]
        out = epj.check_digital_status(fnr, staff_id=staff_id, now=now)
        self.bus.send_all(out)
        return self.world.msg_id_of(out[0])

    def digital_status(self, kommune: str, fnr: str) -> bool | None:
        """What the EPJ has heard back (StatusSvar): True active, False not, None no answer yet."""
        found = self.world.epjs[self.world.municipalities[kommune].installation].digital_status(fnr)
        return None if found is None else found[0]

    def welcome(self, kommune: str, fnr: str, staff_id: str, text: str, now: datetime) -> str:
        """A staff-initiated eKontakt through the EPJ core to helsenorge; returns its MsgId."""
        epj = self.world.epjs[self.world.municipalities[kommune].installation]
        out = epj.send_message(fnr, text, staff_id=staff_id, now=now, topic="Velkommen")
        self.bus.send_all(out)
        return out[0].message_id


class NetworkedServices:
    """Every action an HTTP request to the served harness (citizen and staff APIs), with real tokens."""

    networked = True

    def __init__(self, world, base_url: str) -> None:
        self.world = world
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self._tokens: dict[str, str] = {}

    def close(self) -> None:
        self.http.close()

    # -- authentication -------------------------------------------------------------

    def _citizen(self, fnr: str) -> dict[str, str]:
        token = self._tokens.get(fnr)
        if token is None:
            response = self.http.post("/helsenorge/api/login", json={"fnr": fnr, "eid": "bankid"})
            _raise_refusal(response)
            token = self._tokens[fnr] = response.json()["token"]
        return {"Authorization": f"Bearer {token}"}

    def _staff(self, installation: str, staff_id: str) -> dict[str, str]:
        key = f"staff:{staff_id}"
        token = self._tokens.get(key)
        if token is None:
            response = self.http.post(f"/epj/{installation}/api/login",
                                      json={"staffId": staff_id, "password": f"pw-{staff_id}"})
            response.raise_for_status()
            token = self._tokens[key] = response.json()["token"]
        return {"Authorization": f"Bearer {token}"}

    # -- citizens ---------------------------------------------------------------------

    def send_message(self, actor: str, subject: str, service: int, text: str, now: datetime) -> str:
        body = {"serviceHerId": service, "text": text}
        if actor != subject:
            body["onBehalfOf"] = subject
        response = self.http.post("/helsenorge/api/messages", headers=self._citizen(actor), json=body)
        _raise_refusal(response)
        return response.json()["msgId"]

    def read_calendar(self, env, actor: str, subject: str, service: int, at):
        response = self.http.get("/helsenorge/api/visits", headers=self._citizen(actor),
                                 params={"on-behalf-of": subject})
        _raise_refusal(response)
        yield env.timeout(0)
        listed = response.json()
        return [VisitView(v["uid"], datetime.fromisoformat(v["start"]), v["status"])
                for v in listed["visits"] if v["serviceHerId"] == service], listed["source"] == "live"

    def cancel_visit(self, actor: str, subject: str, uid: str, now: datetime) -> None:
        body = {"onBehalfOf": subject} if actor != subject else {}
        response = self.http.post(f"/helsenorge/api/visits/{uid}/cancel", headers=self._citizen(actor), json=body)
        _raise_refusal(response)

    def read_inbox(self, actor: str, subject: str, now: datetime) -> None:
        response = self.http.get("/helsenorge/api/inbox", headers=self._citizen(actor),
                                 params={"on-behalf-of": subject})
        _raise_refusal(response)

    # -- staff --------------------------------------------------------------------------

    def open_cases(self, kommune: str) -> list[CaseView]:
        """Open cases as the staff API lists them to the employees the routine gives roles (1, 2, 3)."""
        municipal = self.world.municipalities[kommune]
        key = municipal.installation
        units = [self.world.service_her_id(kommune, s) for s in ("nursing", "help")]
        seen: dict[str, CaseView] = {}
        for her_id in units:
            other = next((u for u in units if u != her_id), None)
            for n in (1, 2, 3):
                staff = f"{her_id}-{n:02d}"
                response = self.http.get(f"/epj/{key}/api/inbox", headers=self._staff(key, staff))
                response.raise_for_status()
                for c in response.json():
                    if c["caseId"] in seen or c["status"] == "ferdig_behandlet":
                        continue
                    forwarded = (c.get("forwardedTo") or {}).get("staffId")
                    home = c["serviceHerId"]
                    promised = next((date.fromisoformat(r["answerBy"]) for r in reversed(c["replies"])
                                     if r.get("answerBy")), None)
                    seen[c["caseId"]] = CaseView(
                        c["caseId"], c["msgId"], datetime.fromisoformat(c["replyDeadline"]), forwarded,
                        bool(c["replies"]), forwarded or f"{home}-01", key, home, CaseKind(c["kind"]),
                        CaseStatus(c["status"]), promised, c["patient"]["fnr"],
                        next((u for u in units if u != home), other))
        return sorted(seen.values(), key=lambda v: (v.reply_deadline, v.case_id))

    def overview(self, kommune: str, now: datetime) -> list[UnitOverview]:
        """The leader's overview over the staff API (``GET /epj/{installation}/api/overview``)."""
        key = self.world.municipalities[kommune].installation
        leader = account(self.world.service_her_id(kommune, "nursing"), OFFICE[Role.LEADER])
        response = self.http.get(f"/epj/{key}/api/overview", headers=self._staff(key, leader))
        response.raise_for_status()
        return [UnitOverview(u["serviceHerId"], u["name"], u["open"], u["pastDue"],
                             datetime.fromisoformat(u["oldestPastDue"]) if u.get("oldestPastDue") else None)
                for u in response.json()]

    def work(self, case: CaseView, step: Due, now: datetime) -> Done:
        """The routine step over the staff API. The API has answer, temporary answer and forward endpoints only:
        casework is a forward (the status stays "under behandling"), a part answer is a temporary answer plus a
        forward to the other unit, and a change/cancel message is answered without touching the work list — the
        work-list and status steps run in process only (see the README)."""
        base = f"/epj/{case.installation}/api/cases/{case.case_id}"
        headers = self._staff(case.installation, step.by)
        row = ROUTINE[case.kind]
        calls: list[tuple[str, dict]] = []
        done = Done("final")
        if step.action in (Action.TEMPORARY_ANSWER, Action.PART_ANSWER):
            template = row.step(step.action).text or ""
            promise = promised_date(case.kind, now)
            text = template.format(workdays=row.promise_workdays, unit=f"HER-id {case.other_unit}")
            if step.action is Action.PART_ANSWER:
                text = f"{OWN_PART_TEXT}\n\n{text}"
            calls.append(("temporary-reply", {"text": text, "answerBy": promise.isoformat()}))
            done = Done("temporary" if step.action is Action.TEMPORARY_ANSWER else "part", promise)
        elif step.action is Action.FORWARD:
            done = Done()
        else:
            calls.append(("reply", {"text": answer_text(case.kind), "final": True}))
        if step.to is not None and step.action is not Action.FINAL_ANSWER:
            calls.append(("forward", {"toStaffId": step.to, "note": "Etter rutinen"}))
        for endpoint, body in calls:
            response = self.http.post(f"{base}/{endpoint}", headers=headers, json=body)
            if response.status_code == 409:
                raise InvalidTransition(response.text)
            response.raise_for_status()
        return done

    def complete_visit(self, kommune: str, uid: str, staff_id: str, now: datetime) -> None:
        key = self.world.municipalities[kommune].installation
        response = self.http.post(f"/epj/{key}/api/visits/{uid}/done", headers=self._staff(key, staff_id))
        if response.status_code == 409:
            raise InvalidTransition(response.text)
        response.raise_for_status()

    def report_delay(self, kommune: str, uid: str, staff_id: str, expected_start: datetime, now: datetime) -> None:
        key = self.world.municipalities[kommune].installation
        response = self.http.post(f"/epj/{key}/api/visits/{uid}/delay", headers=self._staff(key, staff_id),
                                  json={"expectedStart": expected_start.isoformat()})
        if response.status_code == 409:
            raise InvalidTransition(response.text)
        response.raise_for_status()

    def change_visit(self, kommune: str, uid: str, start: datetime, end: datetime, staff_id: str,
                     now: datetime) -> None:
        key = self.world.municipalities[kommune].installation
        response = self.http.post(f"/epj/{key}/api/visits/{uid}/change", headers=self._staff(key, staff_id),
                                  json={"start": start.isoformat(), "end": end.isoformat()})
        if response.status_code == 409:
            raise InvalidTransition(response.text)
        response.raise_for_status()

    def plan_visit(self, kommune: str, visit, start: datetime, end: datetime, now: datetime) -> None:
        """Not over HTTP yet: the served EPJ has no planning endpoint, so the new appointment goes on the work list
        as the standing plan does, without the Avtale (no new-appointment notice over HTTP)."""
        self.world.plan_visits(kommune, [visit], lambda t: start, lambda service: (end - start).total_seconds() / 60)

    def due_resends(self, now: datetime) -> None:
        return None  # the served harness's own receive loops resend on their tick

    def check_digital(self, kommune: str, fnr: str, staff_id: str, now: datetime) -> str | None:
        """Not over HTTP yet: the served EPJ has no endpoint for the digital-active check (None: not sent)."""
        return None

    def digital_status(self, kommune: str, fnr: str) -> bool | None:
        return None

    def welcome(self, kommune: str, fnr: str, staff_id: str, text: str, now: datetime) -> str | None:
        """Not over HTTP yet: the served EPJ has no endpoint for a staff-initiated message (None: not sent)."""
        return None


def _raise_refusal(response: httpx.Response) -> None:
    if response.status_code in (401, 403, 404, 409, 422):
        detail = response.json().get("detail")
        if isinstance(detail, dict) and "rule" in detail:
            extras = {k: str(v) for k, v in detail.items() if k not in ("rule", "message")}
            raise Refused(detail["rule"], detail.get("message", ""), **extras)
        raise Refused(f"http.{response.status_code}", str(detail))
    response.raise_for_status()


class ServedHarness:
    """The simulation's own world, served: uvicorn on loopback in front of the harness ``digihelse serve`` runs
    (:func:`mocks.harness.app.assemble_harness` and :func:`~mocks.harness.app.build_app`), over an embedded
    exchange, with the simulation's cores and seeded world instead of serve's default one."""

    def __init__(self, world, *, clock, seed: int, db_dir, observer) -> None:
        from datetime import timedelta as span

        import uvicorn

        from mocks.exchange.embedded import EmbeddedExchange
        from mocks.harness.app import assemble_harness, build_app
        from mocks.harness.broker import free_port
        from mocks.kernel.auth import TokenSigner
        from mocks.kernel.ports import IdSource

        self.harness = assemble_harness(
            EmbeddedExchange(str(db_dir / "exchange.sqlite")), world.registry, world.helsenorge, world.epjs,
            world.notifications, world.seeded, clock=clock, ids=IdSource(seed + 7), background=True,
            signer=TokenSigner(b"simulation-http-transport-secret", lifetime=span(days=400)), on_processed=observer,
        )
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(build_app(self.harness), host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self._thread = threading.Thread(target=self.server.run, name="sim-http", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def exchange(self):
        return self.harness.exchange

    @property
    def nodes(self):
        return self.harness.nodes

    def start(self, *, poll: float, tick_every: float) -> None:
        """Serve; the app's startup starts the harness's receive loops (it is a background harness)."""
        self.harness.poll, self.harness.tick_every = poll, tick_every
        self._thread.start()
        deadline = real_time.monotonic() + 30
        while not self.server.started:
            if real_time.monotonic() > deadline:
                raise RuntimeError("the simulation's HTTP server did not start")
            real_time.sleep(0.05)

    def idle(self) -> bool:
        """No message waiting on any queue the nodes read."""
        return all(self.exchange.depth(q) == 0 for node in self.nodes for q, _ in node.queues())

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
        self.harness.close()  # the app's shutdown has stopped the loops already; this closes the exchange
