"""Issue 15 §3: the access log shows which service was used on the citizen's behalf and by whom — not what they did
with it (seed 004 §2.4) — and the citizen's own use."""

from __future__ import annotations

from datetime import datetime, timedelta

from mocks.helsenorge.model import ACTION_SERVICE
from domain.calendar import OSLO
from tests.mocks.helsenorge.test_helsenorge import NOW, SERVICE, http, visit, w  # noqa: F401  (fixtures)

SECRET = "Jeg har vondt i magen og er redd"
TOPIC = "Magesmerter"
REASON = "Skal til lege på sykehuset"


def test_a_proxys_use_names_the_proxy_and_the_service_and_not_the_content(w):
    w.core.give_fullmakt(w.ingrid, w.per, ["meldinger", "timeavtaler", "varsler"], None, NOW)
    w.push(w.ingrid, visit("v-1", datetime(2025, 3, 14, 10, 0, tzinfo=OSLO)))
    w.core.send_message(w.per, w.ingrid, SERVICE, SECRET, NOW, topic=TOPIC)
    w.core.inbox(w.per, w.ingrid, NOW)
    w.core.visits(w.per, w.ingrid, NOW)
    w.core.cancel_visit(w.per, w.ingrid, "v-1", NOW, reason=REASON)
    w.core.set_notification_settings(w.per, w.ingrid, NOW, level="Full")
    log = w.core.read_access_log(w.ingrid, w.ingrid, NOW + timedelta(minutes=5))
    assert [(e.actor, e.actor_name, e.service, e.on_behalf, e.outcome) for e in log] == [
        (w.per, "Per Testesen", "meldinger", True, "ok"),
        (w.per, "Per Testesen", "meldinger", True, "ok"),
        (w.per, "Per Testesen", "timeavtaler", True, "ok"),
        (w.per, "Per Testesen", "timeavtaler", True, "ok"),
        (w.per, "Per Testesen", "varsler", True, "ok"),
    ]
    assert all(e.basis.startswith("fullmakt:") for e in log)
    text = repr(log)
    assert SECRET not in text and TOPIC not in text and REASON not in text


def test_the_citizens_own_use_is_logged_as_her_own(w):
    w.core.send_message(w.ingrid, w.ingrid, SERVICE, SECRET, NOW)
    w.core.visits(w.ingrid, w.ingrid, NOW)
    log = w.core.access_log(w.ingrid)
    assert [(e.actor, e.actor_name, e.service, e.basis, e.on_behalf) for e in log] == [
        (w.ingrid, "Ingrid Testesen", "meldinger", "self", False),
        (w.ingrid, "Ingrid Testesen", "timeavtaler", "self", False),
    ]
    assert w.core.access_log(w.per) == []  # nothing about her lands in anyone else's log
    assert SECRET not in repr(log)


def test_every_logged_action_names_its_service(w):
    w.core.give_fullmakt(w.ingrid, w.per, ["meldinger", "timeavtaler", "varsler"], None, NOW)
    w.core.send_message(w.per, w.ingrid, SERVICE, "Hei", NOW)
    w.core.notification_settings(w.per, w.ingrid, NOW)
    w.core.planned_visits_request(w.per, w.ingrid, SERVICE, NOW)
    actions = {e.action for e in w.core.access_log(w.ingrid)}
    assert actions and actions <= set(ACTION_SERVICE)


def test_the_log_over_http_says_who_which_service_and_on_whose_behalf(http):
    w = http.world
    w.core.give_fullmakt(w.ingrid, w.per, ["meldinger"], None, NOW)
    per, ingrid = http.login(w.per), http.login(w.ingrid)
    sent = http.client.post("/helsenorge/api/messages", headers=per,
                            json={"serviceHerId": SERVICE, "text": SECRET, "onBehalfOf": w.ingrid})
    assert sent.status_code == 202
    http.client.get("/helsenorge/api/inbox", headers=ingrid)
    log = http.client.get("/helsenorge/api/access-log", headers=ingrid).json()
    assert [(e["actorName"], e["service"], e["onBehalf"], e["action"]) for e in log] == [
        ("Per Testesen", "meldinger", True, "send-message"),
        ("Ingrid Testesen", "meldinger", False, "read-inbox"),
    ]
    assert SECRET not in str(log)
