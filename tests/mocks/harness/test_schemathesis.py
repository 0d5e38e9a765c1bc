"""Schemathesis against the citizen API (/helsenorge) and the staff API (/epj/{installation}), in process.

The app is the one ``digihelse serve`` runs (``build_app(build_harness(...))``) with a fixed clock and the bus
pumped in-process, loaded through its own ``/openapi.json`` with ``schemathesis.openapi.from_asgi``. Every
operation gets generated requests, both schema-conforming (positive) and schema-violating (negative), sent with
a real bearer token for the API it belongs to, and two checks:

* ``not_a_server_error`` — no 5xx, whatever the input;
* ``response_schema_conformance`` — where a status code is documented, the body matches its schema.

In positive cases the path ids (``thread_id``, ``case_id``, ``uid``) are replaced by ids that exist, so the
generated bodies reach the cores (replies built as XML, visits changed and cancelled) instead of stopping at a
404; negative cases keep the generated ids. Bounded and reproducible: ``deterministic`` generation (Hypothesis
``derandomize``), no example database, a few examples per operation.

Excluded on purpose: nothing in these two APIs. AR, CPPA, the notification outbox and ``/health`` are not the
citizen or staff API (the AR SOAP endpoint's hostile-XML answers are in ``test_hostile_input.py``).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the test extra: pip install -e .[test]")

from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.config import SchemathesisConfig  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

from mocks.harness.app import ServeSettings, build_app, build_harness  # noqa: E402

NOW = datetime(2025, 3, 10, 8, 0, tzinfo=timezone(timedelta(hours=1)))  # a Monday morning
MAX_EXAMPLES = 8  # per operation and generation mode; 60+ per operation with random seeds found nothing more

harness = build_harness(ServeSettings(seed=31, secret="schemathesis-secret-0123456789"), clock=lambda: NOW)
app = build_app(harness)
world = harness.world


client = TestClient(app)


def _citizen_token(fnr: str) -> dict:
    answer = client.post("/helsenorge/api/login", json={"fnr": fnr, "eid": "bankid"})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def _staff_token(her_id: int) -> dict:
    staff_id = world.staff[her_id][0]
    login = client.post(f"/epj/{world.epj_of_service[her_id]}/api/login",
                        json={"staffId": staff_id, "password": f"pw-{staff_id}"})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['token']}"}


# One recipient per installation: their token, their service's staff token, one of their visits.
PATIENT = {}
for _recipient in world.recipients:
    PATIENT.setdefault(world.epj_of_service[_recipient.service_her_id], _recipient)
assert set(PATIENT) == {"gerica", "profil", "dips-front", "cosdoc"}
TOKENS = {key: _citizen_token(r.fnr) for key, r in PATIENT.items()}
STAFF = {key: _staff_token(r.service_her_id) for key, r in PATIENT.items()}
CITIZEN = TOKENS["gerica"]
VICTIM = _citizen_token(next(r.fnr for r in world.recipients if r not in PATIENT.values()))


def _visit_uid(key: str) -> str:
    fnr = PATIENT[key].fnr
    for days in range(7):
        day = (NOW + timedelta(days=days)).date().isoformat()
        listed = client.get(f"/epj/{key}/api/worklist", headers=STAFF[key], params={"day": day}).json()
        mine = [v["uid"] for v in listed if v["patient"]["fnr"] == fnr]
        if mine:
            return mine[0]
    raise AssertionError(f"no visit for {fnr} in the coming week")


def fresh_case(key: str) -> tuple[str, str]:
    """A new message from the installation's patient, delivered: (its case id, its thread id)."""
    recipient = PATIENT[key]
    sent = client.post("/helsenorge/api/messages", headers=TOKENS[key],
                       json={"serviceHerId": recipient.service_her_id, "text": "Hei! Når kommer dere?"})
    assert sent.status_code == 202, sent.text
    harness.pump()
    msg_id = sent.json()["msgId"]
    [case] = [c for c in client.get(f"/epj/{key}/api/inbox", headers=STAFF[key]).json() if c["msgId"] == msg_id]
    return case["caseId"], sent.json()["threadId"]


UIDS = {key: _visit_uid(key) for key in PATIENT}
THREAD = fresh_case("gerica")[1]

CONFIG = SchemathesisConfig.from_dict({
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
})
schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG).include(
    path_regex=r"^/(helsenorge|epj)/"
)

_STAFF_PATH = re.compile(r"^/epj/(?P<key>[^/]+)/api/")


def _aim(case) -> tuple[str, dict]:
    """Which API the case belongs to and the token it is sent with."""
    path = case.operation.path
    if path.endswith("/api/login"):
        return ("helsenorge" if path.startswith("/helsenorge/") else "login"), {}
    if path.endswith("/api/logout"):  # logging out revokes the token it carries: a token of its own
        match = _STAFF_PATH.match(path)
        if match and match["key"] in STAFF:
            return match["key"], _staff_token(PATIENT[match["key"]].service_her_id)
        return "helsenorge", _citizen_token(next(iter(PATIENT.values())).fnr)
    if path.startswith("/helsenorge/"):
        # withdrawing consent would lock the main citizen out of every later operation: a second citizen does it
        return "helsenorge", VICTIM if (case.method == "DELETE" and path.endswith("/consent")) else CITIZEN
    match = _STAFF_PATH.match(path)
    if match and match["key"] in STAFF:
        return match["key"], STAFF[match["key"]]
    return "other", {}


def test_every_citizen_and_staff_operation_is_exercised():
    operations = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    published = {(method.upper(), path) for path, item in app.openapi()["paths"].items()
                 if path.startswith(("/helsenorge/", "/epj/")) for method in item}
    assert operations == published and len(operations) >= 16 + 4 * 13  # helsenorge, four installations
    assert ("POST", "/epj/cosdoc/api/cases/{case_id}/reply") in operations
    assert not any(path.startswith(("/ar/", "/cppa/", "/notify/")) for _, path in operations)


@pytest.mark.slow
@schema.parametrize()
def test_api_never_fails_on_generated_input(case):
    api, headers = _aim(case)
    params = case.path_parameters or {}
    if params and not (case.meta and case.meta.generation.mode.is_negative):
        # aim positive cases at things that exist; each case action gets a case of its own, so every
        # generated body reaches the core (a closed case would stop the next one at 409)
        if "case_id" in params and api in STAFF:
            params["case_id"] = fresh_case(api)[0]
        if "uid" in params:
            params["uid"] = UIDS["gerica" if api == "helsenorge" else api]
        if "thread_id" in params:
            params["thread_id"] = THREAD
    case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])
