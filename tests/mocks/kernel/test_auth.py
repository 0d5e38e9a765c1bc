"""The one bearer helper (mocks/kernel/auth.py) and how every API uses it.

Every door that wants a token — the citizen API, each installation's staff API, AR's writes, the notification
outbox — reads ``Authorization`` through :func:`bearer_token` and answers a 401 with one ``WWW-Authenticate``
form (RFC 6750 §3): ``Bearer realm="<api>"`` when no bearer token came, and ``, error="invalid_token"`` added
when one came and was refused. The rule stays in the body (``auth.missing``, ``auth.signature``, …).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

from mocks.epj import http as epj_http
from mocks.harness.app import ServeSettings, build_app, build_harness
from mocks.kernel.auth import OperatorGate, TokenSigner, bearer_token, challenge, require_bearer, verify_bearer

NOW = datetime(2025, 3, 10, 8, 0, tzinfo=timezone(timedelta(hours=1)))  # a Monday morning
SECRET = "auth-tests-secret-0123456789"
CHALLENGE = re.compile(r'^Bearer realm="(?P<realm>[a-z]+)"(?P<error>, error="invalid_token")?$')


# ----------------------------------------------------------------------------- the helper on its own


@pytest.mark.parametrize(("header", "token"), [
    ("Bearer abc.def", "abc.def"),
    ("bearer abc.def", "abc.def"),  # the scheme is case-insensitive (RFC 7235 §2.1)
    ("BEARER   abc.def  ", "abc.def"),
    (None, None),
    ("", None),
    ("Bearer", None),
    ("Bearer    ", None),
    ("Basic dXNlcjpwdw==", None),
    ("Token abc.def", None),
])
def test_bearer_token_reads_only_a_bearer_scheme_with_a_token(header, token):
    assert bearer_token(header) == token


def test_the_challenge_names_the_realm_and_says_invalid_token_only_when_a_token_came():
    assert challenge("epj", token_given=False) == 'Bearer realm="epj"'
    assert challenge("epj", token_given=True) == 'Bearer realm="epj", error="invalid_token"'


@pytest.mark.parametrize(("header", "rule", "token_given"), [
    (None, "auth.missing", False),
    ("", "auth.missing", False),
    ("Basic dXNlcjpwdw==", "auth.malformed", False),
    ("Bearer", "auth.malformed", False),
    ("Bearer garbage", "auth.malformed", True),
    ("Bearer abc.def", "auth.signature", True),
])
def test_verify_bearer_refuses_with_the_rule_and_the_one_challenge(header, rule, token_given):
    signer = TokenSigner(SECRET.encode())
    with pytest.raises(HTTPException) as refused:
        verify_bearer(signer, header, realm="helsenorge", now=NOW)
    assert refused.value.status_code == 401 and refused.value.detail["rule"] == rule
    assert refused.value.headers == {"WWW-Authenticate": challenge("helsenorge", token_given=token_given)}


def test_verify_bearer_and_require_bearer_pass_a_good_token():
    signer = TokenSigner(SECRET.encode())
    token = signer.issue(sub="s1", role="staff", eid="epj", level=4, now=NOW)
    assert require_bearer(f"bearer {token}", realm="epj") == token
    assert verify_bearer(signer, f"Bearer {token}", realm="epj", now=NOW).sub == "s1"


def test_the_operator_gate_uses_the_same_challenge():
    gate = OperatorGate("operator-token-0123456789")
    gate("Bearer operator-token-0123456789")  # the dependency passes: no exception
    for header, token_given in [(None, False), ("Basic b3A=", False), ("Bearer wrong-token", True),
                                ("Bearer æøå", True)]:
        with pytest.raises(HTTPException) as refused:
            gate(header)
        assert refused.value.detail["rule"] == "auth.operator"
        assert refused.value.headers == {"WWW-Authenticate": challenge("operator", token_given=token_given)}


# ----------------------------------------------------------------------------- every API, one form


@pytest.fixture(scope="module")
def served():
    harness = build_harness(ServeSettings(seed=7, secret=SECRET), clock=lambda: NOW)
    return harness, TestClient(build_app(harness))


def _doors(harness) -> list[tuple[str, str, str, dict]]:
    """(method, path, realm, request kwargs) of one token-guarded endpoint per API and installation."""
    target = next(iter(harness.world.epj_of_service))
    doors = [("GET", "/helsenorge/api/inbox", "helsenorge", {})]
    doors += [("GET", f"/epj/{key}/api/inbox", "epj", {}) for key in harness.epjs]
    doors += [
        ("POST", "/ar/api/parties", "operator", {"json": {"herId": 9990105, "name": "Uten nøkkel"}}),
        ("PUT", f"/ar/api/parties/{target}/certificates", "operator", {"json": {}}),
        ("DELETE", f"/ar/api/parties/{target}", "operator", {}),
        ("GET", "/notify/api/outbox", "operator", {}),
    ]
    return doors


def test_every_api_answers_a_missing_and_a_bad_token_with_the_same_challenge_form(served):
    harness, client = served
    stranger = TokenSigner(b"not-the-server-secret-0123456789").issue(sub="x", role="citizen", eid="bankid",
                                                                      level=4, now=NOW)
    without_token = [None, "Basic dXNlcjpwdw==", "Bearer"]
    with_bad_token = ["Bearer garbage", f"Bearer {stranger}", "Bearer not-the-operator-token"]
    realms = set()
    for method, path, realm, kwargs in _doors(harness):
        for header in without_token + with_bad_token:
            answer = client.request(method, path, headers={} if header is None else {"Authorization": header},
                                    **kwargs)
            assert answer.status_code == 401, (method, path, header, answer.text)
            form = CHALLENGE.match(answer.headers["www-authenticate"])
            assert form is not None, (path, answer.headers["www-authenticate"])
            assert form["realm"] == realm
            assert bool(form["error"]) == (header in with_bad_token), (path, header, answer.headers)
            assert answer.json()["detail"]["rule"].startswith("auth.")
            realms.add(form["realm"])
    assert realms == {"helsenorge", "epj", "operator"}
    assert client.get("/ar/api/parties/9990105").status_code == 404  # nothing registered without the token


def test_refusals_after_the_token_verified_use_the_same_form(served):
    """A staff token for a staff member another installation does not know, and a wrong password at login."""
    harness, client = served
    world = harness.world
    her_id = next(iter(world.epj_of_service))
    key = world.epj_of_service[her_id]
    staff_id = world.staff[her_id][0]
    login = client.post(f"/epj/{key}/api/login", json={"staffId": staff_id, "password": f"pw-{staff_id}"})
    assert login.status_code == 200, login.text
    other = next(k for k in harness.epjs if k != key)
    answer = client.get(f"/epj/{other}/api/me", headers={"Authorization": f"Bearer {login.json()['token']}"})
    assert answer.status_code == 401 and answer.json()["detail"]["rule"] == "auth.unknown-subject"
    assert answer.headers["www-authenticate"] == 'Bearer realm="epj", error="invalid_token"'
    wrong = client.post(f"/epj/{key}/api/login", json={"staffId": staff_id, "password": "not-the-password"})
    assert wrong.status_code == 401 and wrong.json()["detail"]["rule"] == "auth.credentials"
    assert wrong.headers["www-authenticate"] == 'Bearer realm="epj"'


# ----------------------------------------------------------------------------- the service reaches the endpoint


def test_each_installation_router_hands_its_endpoints_its_own_core(served):
    """Four staff APIs in one app, one module of endpoint functions: each request sees its own router's core."""
    harness, client = served
    world = harness.world
    seen = {}
    for her_id, key in world.epj_of_service.items():
        if key in seen:
            continue
        staff_id = world.staff[her_id][0]
        login = client.post(f"/epj/{key}/api/login", json={"staffId": staff_id, "password": f"pw-{staff_id}"})
        assert login.status_code == 200, login.text
        me = client.get(f"/epj/{key}/api/me", headers={"Authorization": f"Bearer {login.json()['token']}"})
        assert me.status_code == 200 and me.json()["staffId"] == staff_id
        assert harness.epjs[key].store.staff(staff_id) is not None
        seen[key] = staff_id
    assert set(seen) == set(harness.epjs) and len(seen) > 1
    for key, staff_id in seen.items():  # and nobody else's core knows that staff member
        assert [k for k in harness.epjs if harness.epjs[k].store.staff(staff_id) is not None] == [key]


def test_an_endpoint_mounted_without_its_router_says_what_is_missing():
    app = FastAPI()
    app.add_api_route("/api/me", epj_http.me, methods=["GET"])
    with pytest.raises(LookupError, match="no 'epj' service on this request"):
        TestClient(app).get("/api/me", headers={"Authorization": "Bearer abc.def"})
