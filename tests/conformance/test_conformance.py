"""The conformance kit, proved against the reference EPJ: right when it is right, and wrong exactly where it is wrong.

Every run goes over the session's private RabbitMQ, the way a vendor runs the kit. The
reference EPJ must pass every test (RCP-002 may skip, only when the official XSDs are
absent); each fault profile of :mod:`mocks.epj.faults` must fail exactly the tests that
cover its fault and pass all the others. Runs use short timeouts (2 s synchronous calls,
3 s for asynchronous answers, a slow-sync profile that answers after 3 s) and their own
HER-ids, so leftovers of one run cannot answer another's messages.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest
import typer
from lxml import etree
from lxml import html as lxml_html
from typer.testing import CliRunner

from conformance.kit import KitOptions, run_kit
from conformance.reference import ReferenceEpj
from tests.conformance.per_queue import ConnectionPerQueue
from conformance.reports import render_html, render_json, render_junit
from conformance.requirements import coverage, load_requirements
from conformance.results import CapturedMessage, State, SuiteResult
from conformance.suite import GROUPS, all_tests, select
from digihelse.conformance_cli import conformance
from mocks.epj.faults import Fault

from tests.conftest import XSD_DIR

pytestmark = pytest.mark.rabbitmq

SCHEMAS = XSD_DIR if XSD_DIR.is_dir() else None
SYNC_TIMEOUT_S = 2.0
APPREC_TIMEOUT_S = 3.0
SLOW_SYNC_S = 3.0

EXPECTED_FAILURES: dict[Fault, set[str]] = {
    # No AppRec at all: every test that needs one (including the ones that judge its content
    # and its timing) fails; the Svar, SvarAvbestilling, calendar and transport errors still come.
    Fault.NO_APPREC: {"DH-MSG-001", "DH-RCP-001", "DH-RCP-002", "DH-RCP-003", "DH-RCP-004", "DH-RCP-005",
                      "DH-AVB-001", "DH-IDM-001", "DH-ROB-004", "DH-TIM-001"},
    # The receipt is found by (MsgType, IssueDate) for every other test; only the two that verify
    # OriginalMsgId (APR-03) fail.
    Fault.WRONG_ORIGINAL_MSGID: {"DH-MSG-001", "DH-AVB-001"},
    # Nothing is accepted or acted on, and every rejection says X99 instead of the specific code.
    Fault.AVVIST_EVERYTHING: {"DH-MSG-001", "DH-MSG-002", "DH-RCP-003", "DH-RCP-004", "DH-RCP-005",
                              "DH-AVB-001", "DH-AVB-002", "DH-AVB-003"},
    Fault.JOURNALS_DUPLICATES: {"DH-IDM-001", "DH-IDM-002"},
    # Answers after the caller's timeout: both synchronous processes, and what their answers should contain.
    Fault.SLOW_SYNC: {"DH-CON-001", "DH-CON-002", "DH-CAL-001", "DH-CAL-002"},
    Fault.NO_TRANSPORT_CHECKS: {"DH-ROB-001", "DH-ROB-002", "DH-ROB-003"},
}  # fmt: skip

VIOLATED: dict[Fault, set[str]] = {
    Fault.NO_APPREC: {"APR-01", "APR-04", "APR-05", "APR-06", "APR-07", "APR-08", "APR-09", "HNM-08"},
    Fault.WRONG_ORIGINAL_MSGID: {"APR-03"},
    Fault.AVVIST_EVERYTHING: {"APR-04", "APR-06", "APR-07", "APR-08", "NHN-02", "DH-03", "DH-05", "DH-06"},
    Fault.JOURNALS_DUPLICATES: {"HNM-07", "APR-10"},
    Fault.SLOW_SYNC: {"HNM-06", "DH-02", "DH-04"},
    Fault.NO_TRANSPORT_CHECKS: {"HNM-01", "HNM-02", "HNM-03", "HNM-04"},
}
"""Requirements each fault breaks: every test it fails must verify one of them."""

RUN_NUMBER = {None: 0, **{fault: n for n, fault in enumerate(Fault, start=1)}}


def options(rabbitmq, n: int, **extra) -> KitOptions:
    """A reference run with its own HER-ids (kit 999100n, EPJ 99810n0) and the short test timeouts."""
    values = dict(
        broker=rabbitmq.url, reference=True, kit_her_id=9_991_000 + n, reference_her_id_base=9_981_000 + 100 * n,
        sync_timeout=SYNC_TIMEOUT_S, apprec_timeout=APPREC_TIMEOUT_S, manual_timeout=APPREC_TIMEOUT_S,
        slow_sync_s=SLOW_SYNC_S, schemas=SCHEMAS,
    )  # fmt: skip
    values.update(extra)
    return KitOptions(**values)


def states(result: SuiteResult) -> dict[str, State]:
    return {t.id: t.state for t in result.tests()}


def failing(result: SuiteResult) -> set[str]:
    return {t.id for t in result.tests() if t.state is State.FAIL}


def explain(result: SuiteResult) -> str:
    return "\n".join(f"{t.id} {t.state.value}: {' | '.join(t.messages)[:300]}" for t in result.tests()
                     if t.state is not State.PASS)  # fmt: skip


@pytest.fixture(scope="module")
def runs(rabbitmq) -> dict[Fault | None, SuiteResult]:
    """The reference EPJ and every fault profile, run side by side (each with its own HER-ids and connections).

    The runs spend nearly all their time waiting for answers that, by design, do not come, so running them
    together keeps the module's time near that of the slowest run instead of their sum.
    """
    all_tests()  # import the catalogue once, before the threads
    with ThreadPoolExecutor(max_workers=len(RUN_NUMBER)) as pool:
        futures = {fault: pool.submit(run_kit, options(rabbitmq, n, fault=fault.value if fault else None))
                   for fault, n in RUN_NUMBER.items()}  # fmt: skip
        return {fault: future.result() for fault, future in futures.items()}


@pytest.fixture(scope="module")
def reference_result(runs) -> SuiteResult:
    return runs[None]


# ----------------------------------------------------------------------------------------- the catalogue


def test_every_test_verifies_known_requirements_and_coverage_lists_the_rest():
    tests = all_tests()
    reqs = load_requirements()
    assert len({t.id for t in tests}) == len(tests) == 22
    assert {t.group for t in tests} == {g.id for g in GROUPS}
    cov = coverage(reqs, [(t.id, t.requirements) for t in tests])
    assert cov.unknown == {}
    assert {r.id for r in cov.uncovered} == {"HNM-09", "DH-07", "DH-08", "NHN-03"}
    assert all(r.text and r.source for r in reqs)
    assert [t.id for t in select(tests, ["robustness", "DH-TIM-001"])] == [
        "DH-ROB-001", "DH-ROB-002", "DH-ROB-003", "DH-ROB-004", "DH-TIM-001"]
    with pytest.raises(ValueError, match="DH-NOPE-001"):
        select(tests, ["DH-NOPE-001"])


def test_fault_table_is_traceable_to_requirements():
    """Each fault's failing tests verify a requirement the fault breaks (the table is not arbitrary)."""
    by_id = {t.id: t for t in all_tests()}
    for fault, expected in EXPECTED_FAILURES.items():
        for test_id in expected:
            assert set(by_id[test_id].requirements) & VIOLATED[fault], (fault, test_id)


# ----------------------------------------------------------------------------------------- the reference EPJ


@pytest.mark.slow
def test_reference_epj_passes_every_test(reference_result):
    result = reference_result
    allowed_skips = set() if SCHEMAS else {"DH-RCP-002"}
    not_passed = {i: s for i, s in states(result).items() if s is not State.PASS}
    assert set(not_passed) <= allowed_skips and all(s is State.SKIP for s in not_passed.values()), explain(result)
    assert result.exit_code == 0
    assert result.target.reference and result.target.fault is None
    assert result.settings.apprec_deadline_source == "--apprec-timeout"
    assert len(result.target.service_her_ids) == 2  # KomTest goes to both services
    # every test carries what it sent and received
    msg_001 = next(t for t in result.tests() if t.id == "DH-MSG-001")
    assert {m.direction for m in msg_001.exchanges} == {"sent", "received"}
    assert any(m.subject == "APPREC" and m.direction == "received" for m in msg_001.exchanges)
    assert msg_001.inputs["MsgId"]


@pytest.mark.slow
def test_the_agreement_sets_the_apprec_deadline_without_an_override(rabbitmq):
    result = run_kit(options(rabbitmq, 9, apprec_timeout=None, only=["DH-TIM-001"]))
    assert states(result) == {"DH-TIM-001": State.PASS}, explain(result)
    assert result.settings.apprec_deadline_s == 180 * 60
    assert result.settings.apprec_deadline_source.startswith("timeToPerform 180 min in CPA ")
    assert result.settings.cpa_id in result.settings.apprec_deadline_source


@pytest.mark.parametrize("fault", list(Fault), ids=[f.value for f in Fault])
def test_each_fault_fails_exactly_its_tests(runs, fault):
    result = runs[fault]
    assert failing(result) == EXPECTED_FAILURES[fault], explain(result)
    others = {i: s for i, s in states(result).items() if i not in EXPECTED_FAILURES[fault]}
    allowed_skips = set() if SCHEMAS else {"DH-RCP-002"}
    assert all(s is State.PASS or (i in allowed_skips and s is State.SKIP) for i, s in others.items()), explain(result)
    assert result.exit_code == 1 and result.target.fault == fault.value


# ----------------------------------------------------------------------------------------- a vendor's view


def _staff_answers(reference: ReferenceEpj, stop: threading.Event) -> None:
    """A person at the EPJ: answers the kit's Konformanstest messages as they come in."""
    while not stop.wait(0.05):
        for seeded in reference.services:
            staff = seeded.staff[0].staff_id
            for case in reference.core.inbox(staff):
                if (case.subject or "").startswith("Konformanstest") and not case.replies:
                    now = datetime.now(timezone.utc)
                    for envelope in reference.core.reply(case.case_id, "Svar fra en saksbehandler.", staff_id=staff,
                                                         now=now):  # fmt: skip
                        reference.exchange.send(envelope)


@pytest.mark.slow
def test_kit_needs_only_the_broker_url_and_her_ids(rabbitmq):
    """The reference EPJ started on its own (as a vendor's would be): the kit gets broker URL, HER-ids and
    patients and nothing else; the manual Svar step is done by a 'person' answering in the EPJ."""
    epj_exchange = ConnectionPerQueue(lambda: rabbitmq.exchange(min_receive_wait=0.01))
    reference = ReferenceEpj(epj_exchange, 9_991_030, her_id_base=9_983_000)
    reference.start()
    stop = threading.Event()
    person = threading.Thread(target=_staff_answers, args=(reference, stop), daemon=True)
    person.start()
    try:
        result = run_kit(KitOptions(
            broker=rabbitmq.url, epj_her_id=reference.epj_her_id, service_her_ids=reference.service_her_ids,
            patients=reference.patients, kit_her_id=9_991_030, sync_timeout=SYNC_TIMEOUT_S,
            apprec_timeout=APPREC_TIMEOUT_S, manual_timeout=5, schemas=SCHEMAS,
        ))  # fmt: skip
    finally:
        stop.set()
        person.join(timeout=2)
        reference.stop()
        epj_exchange.close()
    allowed_skips = set() if SCHEMAS else {"DH-RCP-002"}
    assert all(s is State.PASS or (i in allowed_skips and s is State.SKIP) for i, s in states(result).items()), \
        explain(result)
    assert not result.target.reference
    idm = next(t for t in result.tests() if t.id == "DH-IDM-001")
    assert any("not observable" in m for m in idm.messages)  # no driver: the journal is the vendor's to check


@pytest.mark.slow
def test_a_manual_step_nobody_does_ends_in_wait(rabbitmq):
    epj_exchange = ConnectionPerQueue(lambda: rabbitmq.exchange(min_receive_wait=0.01))
    reference = ReferenceEpj(epj_exchange, 9_991_031, her_id_base=9_983_100)
    reference.start()
    try:
        base = dict(broker=rabbitmq.url, epj_her_id=reference.epj_her_id, patients=reference.patients[:1],
                    service_her_ids=reference.service_her_ids[:1], kit_her_id=9_991_031, only=["DH-MSG-002"],
                    apprec_timeout=APPREC_TIMEOUT_S)  # fmt: skip
        waited = run_kit(KitOptions(**base, manual_timeout=0.5))
        skipped = run_kit(KitOptions(**base, manual_timeout=0))
    finally:
        reference.stop()
        epj_exchange.close()
    [test] = waited.tests()
    assert test.state is State.WAIT and "MANUAL STEP" in test.messages[0], explain(waited)
    assert waited.summary.waiting == 1 and waited.exit_code == 1
    assert skipped.tests()[0].state is State.SKIP and skipped.exit_code == 0


def test_embedded_broker_runs_kit_and_reference_in_one_process():
    result = run_kit(KitOptions(broker="embedded", reference=True, sync_timeout=SYNC_TIMEOUT_S,
                                apprec_timeout=APPREC_TIMEOUT_S, only=["connectivity", "DH-MSG-001"]))  # fmt: skip
    assert states(result) == dict.fromkeys(["DH-CON-001", "DH-CON-002", "DH-MSG-001"], State.PASS), explain(result)
    assert result.target.broker == "embedded"


# ----------------------------------------------------------------------------------------- reports


def _all_states(result: SuiteResult) -> SuiteResult:
    """The reference result with one test in each state, and a hostile body in a captured message."""
    copy = result.model_copy(deep=True)
    tests = copy.tests()
    for test, state in zip(tests, (State.FAIL, State.ERROR, State.SKIP, State.WAIT)):
        test.state = state
        test.messages.insert(0, f"{state.value}: <b>not bold</b> & <script>alert('x')</script>")
    tests[0].exchanges.append(CapturedMessage(
        direction="received", at=tests[0].started_at, queue="9991000_async", message_id="evil",
        body="<script>alert('body')</script>\x07", properties={"errorDescription": "<img src=x onerror=alert(1)>"},
    ))  # fmt: skip
    copy.summary.__init__()
    for t in tests:
        copy.summary.add(t.state)
    return copy


def test_junit_is_wellformed_with_a_suite_per_group(reference_result):
    root = etree.fromstring(render_junit(reference_result))
    assert root.tag == "testsuites" and root.get("tests") == "22" and root.get("failures") == "0"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [g.id for g in GROUPS]
    cases = root.findall("testsuite/testcase")
    assert [c.get("name").split()[0] for c in cases] == [t.id for t in reference_result.tests()]
    assert all(c.find("system-out") is not None for c in cases)

    mixed = _all_states(reference_result)
    root = etree.fromstring(render_junit(mixed))
    first = root.find("testsuite")
    assert first.get("failures") == "1" and first.get("errors") == "1"  # DH-CON-001 fail, DH-CON-002 error
    kinds = [(c.find("failure"), c.find("error"), c.find("skipped")) for c in root.iter("testcase")][:4]
    assert kinds[0][0].get("type") == "fail" and kinds[1][1] is not None
    assert kinds[2][2] is not None and kinds[3][0].get("type") == "wait"
    assert root.get("failures") == "2" and root.get("errors") == "1" and root.get("skipped") == "1"


def test_json_has_the_documented_shape(reference_result):
    data = json.loads(render_json(reference_result))
    assert set(data) == {"suite", "version", "started_at", "finished_at", "target", "settings", "groups", "summary"}
    assert data["summary"] == {"total": 22, "passed": 22 - (0 if SCHEMAS else 1), "failed": 0,
                               "skipped": 0 if SCHEMAS else 1, "errors": 0, "waiting": 0}  # fmt: skip
    test = data["groups"][0]["tests"][0]
    assert set(test) == {"id", "title", "group", "requirements", "state", "messages", "inputs", "exchanges",
                         "started_at", "duration_s"}  # fmt: skip
    message = test["exchanges"][0]
    assert {"direction", "queue", "message_id", "subject", "correlation_id", "from_her_id", "to_her_id",
            "properties", "body"} <= set(message)  # fmt: skip
    assert "guest:guest" not in json.dumps(data)  # the broker password never reaches a report
    assert SuiteResult.model_validate(data) == reference_result


def test_html_is_one_page_that_escapes_everything_captured(reference_result):
    page = render_html(_all_states(reference_result))
    assert "<script" not in page.lower() and "<img" not in page
    assert "&lt;script&gt;alert(&#x27;body&#x27;)&lt;/script&gt;" in page
    assert "&lt;b&gt;not bold&lt;/b&gt;" in page and "&lt;MsgHead" in page
    doc = lxml_html.fromstring(page)
    assert len(doc.xpath("//details[starts-with(@id, 'DH-')]")) == 22
    assert not doc.xpath("//link|//script|//*[@src]")  # self-contained


# ----------------------------------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    app = typer.Typer(add_completion=False, rich_markup_mode=None)
    app.command(name="conformance")(conformance)

    @app.command()
    def version() -> None:  # a second command keeps "conformance" a subcommand, as under digihelse
        pass

    return app


@pytest.mark.slow
def test_command_exit_codes_and_report_files(cli, rabbitmq, tmp_path):
    runner = CliRunner()
    common = ["conformance", "--reference", "--broker", rabbitmq.url, "--sync-timeout", "2",
              "--apprec-timeout", "3"]  # fmt: skip
    ok = runner.invoke(cli, [*common, "--kit-her-id", "9991040", "--only", "DH-CON-001", "--junit",
                             str(tmp_path / "r.xml"), "--json", str(tmp_path / "r.json"), "--html",
                             str(tmp_path / "r.html")])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert "1 tests: 1 passed" in ok.output
    etree.parse(str(tmp_path / "r.xml"))
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["passed"] == 1
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")

    bad = runner.invoke(cli, [*common, "--kit-her-id", "9991041", "--fault", "no-transport-checks",
                              "--only", "DH-ROB-001"])  # fmt: skip
    assert bad.exit_code == 1, bad.output
    assert "NOT conformant" in bad.output

    for args in (
        ["conformance", "--broker", rabbitmq.url],  # no --epj-her-id / --patient
        ["conformance", "--fault", "no-apprec", "--broker", rabbitmq.url],  # --fault without --reference
        [*common, "--only", "DH-XYZ-999"],
        [*common, "--fault", "no-such-fault"],
        [*common, "--schemas", str(tmp_path / "missing")],
        ["conformance", "--broker", "embedded", "--epj-her-id", "9980000", "--patient", "05855000123"],
    ):
        usage = runner.invoke(cli, args)
        assert usage.exit_code == 2, (args, usage.output)


def test_requirements_coverage_is_printed(cli):
    result = CliRunner().invoke(cli, ["conformance", "--requirements"])
    assert result.exit_code == 0, result.output
    tail = result.output.split("Requirements without tests:")[1]
    for req_id in ("HNM-09", "DH-07", "DH-08", "NHN-03"):
        assert req_id in tail
    assert "27 of 31 requirements covered" in result.output
