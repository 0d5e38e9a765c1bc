"""The run report (one self-contained HTML file) and summary.json."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path

import matplotlib.image

import pytest
from pydantic import ValidationError

from simulator.business_case import business_case
from simulator.ledger import Ledger
from simulator.report import PLOTS, write_report
from simulator.summary import Check, Messages, MunicipalityRow, Summary, Visits

DAY = 86_400
EVIL = "<script>alert(1)</script>"
IMG = '<img src="data:image/png;base64,'


def small_ledger(*, start: str | None = "2025-03-10", days: tuple[int, ...] = (0, 1, 2)) -> Ledger:
    """A few days, two municipalities, every event kind the ledger documents."""
    ledger = Ledger(":memory:")
    if start:
        ledger.set_meta(start=start, scenario="hand-made")
    msg = 0
    for day in days:
        for muni in ("1515", "9999"):
            base = day * DAY
            for hour, service in ((8, "nursing"), (9, "help"), (13, "nursing"), (20, "nursing")):
                t = base + hour * 3600
                ledger.record(t - 3600, "visit.planned", municipality=muni, service=service, subject="r1")
                ledger.record(t + 300, "visit.completed", municipality=muni, service=service, subject="r1", value=5.0)
            ledger.record(base + 7 * 3600, "login", municipality=muni, subject="c1")
            ledger.record(base + 7 * 3600 + 5, "calendar.read", municipality=muni, subject="c1")
            ledger.record(base + 7 * 3600 + 9, "visit.cancelled", municipality=muni, service="help", subject="r1")
            ledger.record(base + 7 * 3600 + 20, "visit.cancel_refused", municipality=muni, service="nursing",
                          detail="2025-03-10T15:00")
            ledger.record(base + 9 * 3600, "visit.wasted_trip", municipality=muni, service="help")
            ledger.record(base + 9 * 3600 + 60, "visit.trip_avoided", municipality=muni, service="help")
            for kind, latency, status, spare in (
                ("beskjed", 2.0, "OK", 3600.0),
                ("<b>spørsmål</b>", 40.0, "OK", -600.0),  # markup in data, and a late reply
                ("pris $5 og $x^2$", 900.0, "Avvist", 7200.0),  # "$" must not become TeX in a plot
            ):
                msg += 1
                ref = f"msg-{msg}"
                t = base + 10 * 3600 + msg * 60
                ledger.record(t, "message.sent", municipality=muni, subject="c1", ref=ref, detail=kind)
                ledger.record(t + 1, "message.journaled", municipality=muni, ref=ref)
                ledger.record(t + latency, "message.receipted", municipality=muni, ref=ref, value=latency, detail=status)
                ledger.record(t + 3600, "reply.sent", municipality=muni, ref=ref, value=spare, detail="final")
            ledger.record(base + 11 * 3600, "message.failed", municipality=muni, ref="msg-x")
            ledger.record(base + 11 * 3600, "transport.error", municipality=muni, ref="msg-x", detail="timeout")
            ledger.record(base + 12 * 3600, "notification.sent", municipality=muni, subject="p1", detail="visit/sms")
            ledger.record(base + 12 * 3600, "access.denied", municipality=muni, subject="p2", detail="no-consent")
    ledger.finish()
    return ledger


def make_summary(*, failing: bool = False, rows: list[MunicipalityRow] | None = None) -> Summary:
    """A summary over :func:`small_ledger`, with its business case and notification counts."""
    checks = {
        "no message lost": Check(passed=True, value=0, expected="0 lost"),
        "reply-deadline compliance": Check(passed=not failing, value=0.667, expected=">= 0.95"),
        f"weekly visits {EVIL}": Check(passed=True, value=2_712_345.0, expected="±2 % of 2 700 000"),
    }
    rows = rows if rows is not None else [
        MunicipalityRow(kommunenummer="1515", name="Herøy", vendor="Gerica", live=True, recipients=3,
                        visits=12, messages=9, reply_within_deadline=0.667),
        MunicipalityRow(kommunenummer="9999", name=EVIL, vendor=None, live=False, recipients=1,
                        visits=12, messages=9, reply_within_deadline=None),
    ]
    return Summary(
        scenario="hand-made",
        description=f"Two municipalities, one of them called {EVIL}",
        seed=7,
        scale=0.01,
        transport="inprocess",
        start="2025-03-10",
        simulated_days=3,
        municipalities=2,
        recipients=4,
        visits=Visits(total=24, per_week=56.0, target_per_week=55.0, by_service={"nursing": 18, "help": 6}),
        messages=Messages(sent=18, journaled=18, receipted=18, failed=2, lost=0, duplicates=0),
        checks=checks,
        events=1000,
        wall_seconds=1.25,
        fingerprint="ab" * 32,
        per_municipality=rows,
        business_case=business_case(CASE_LEDGER, rows, simulated_days=3, scale=0.01),
        notifications_by_kind={"new": 0, "changed": 0, "cancelled": 0, "delayed": 0, "completed": 6},
        notifications_note="Notices sent by kind, from notification.sent.",
    )


CASE_LEDGER = small_ledger()
"""The ledger make_summary's business case is drawn from (built once)."""


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return small_ledger()


def render(tmp_path: Path, ledger: Ledger, summary: Summary, name: str = "report.html") -> str:
    out = write_report(ledger, summary, tmp_path / name)
    assert out == tmp_path / name
    return out.read_text(encoding="utf-8")


@pytest.mark.slow
def test_report_is_self_contained_with_one_png_per_plot(tmp_path: Path, ledger: Ledger) -> None:
    page = render(tmp_path, ledger, make_summary())
    assert page.startswith("<!DOCTYPE html>")
    assert 'src="http' not in page and "src='http" not in page
    assert "<script" not in page.lower()  # no script at all, inline or external
    assert "<link" not in page.lower() and "@import" not in page and "url(" not in page
    assert page.count(IMG) == len(PLOTS) == 6
    for payload in re.findall(r'data:image/png;base64,([A-Za-z0-9+/=]+)"', page):
        assert base64.b64decode(payload).startswith(b"\x89PNG\r\n\x1a\n")
    for title in ("Visits per day by service", "Messages sent per hour", "AppRec latency",
                  "Reply-deadline compliance", "Cancellations per day", "What DigiHelse buys"):
        assert title in page
    assert "no data" not in page.lower()


def test_header_shows_run_and_pass(tmp_path: Path, ledger: Ledger) -> None:
    page = render(tmp_path, ledger, make_summary())
    assert ">PASS<" in page and ">FAIL<" not in page
    assert "ab" * 32 in page  # fingerprint
    for text in ("hand-made", "inprocess", "0.01", "10.03.2025–12.03.2025"):
        assert text in page
    assert "Mon 10.03" not in page  # day labels are inside the plots, not the HTML


@pytest.mark.slow
def test_failed_check_shows_fail_and_highlights_row(tmp_path: Path, ledger: Ledger) -> None:
    page = render(tmp_path, ledger, make_summary(failing=True))
    assert ">FAIL<" in page and ">PASS<" not in page
    assert "1 of 3 checks failed" in page
    failed_rows = re.findall(r'<tr class="fail">(.*?)</tr>', page)
    assert len(failed_rows) == 1 and "reply-deadline compliance" in failed_rows[0]
    assert page.count('<tr class="pass">') == 2


@pytest.mark.slow
def test_data_text_is_escaped(tmp_path: Path, ledger: Ledger) -> None:
    page = render(tmp_path, ledger, make_summary())
    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # municipality name, check name, description
    assert "<b>spørsmål</b>" not in page and "&lt;b&gt;spørsmål&lt;/b&gt;" in page  # message kind (detail)
    assert "Herøy" in page  # UTF-8 kept


def test_empty_ledger_gives_no_data_panels(tmp_path: Path) -> None:
    empty = Ledger(":memory:")
    summary = make_summary(rows=[]).model_copy(update={"events": 0, "start": None})
    page = render(tmp_path, empty, summary)
    assert IMG not in page
    assert page.count('class="nodata"') == len(PLOTS) + 2  # the plots, the municipality and the event tables
    assert "no visit.completed events" in page and "no message.sent events" in page


@pytest.mark.slow
def test_without_start_date_days_are_numbered(tmp_path: Path) -> None:
    ledger = small_ledger(start=None)
    summary = make_summary().model_copy(update={"start": None})
    page = render(tmp_path, ledger, summary)
    assert "day 0–2" in page
    assert page.count(IMG) == len(PLOTS)


@pytest.mark.slow
def test_sparse_period_across_years_renders(tmp_path: Path) -> None:
    """Selected weeks of a rollout: days far apart are shown by the days with data, not a 500-day axis."""
    ledger = small_ledger(start="2019-11-04", days=(0, 1, 420, 421, 600))
    page = render(tmp_path, ledger, make_summary())
    assert page.count(IMG) == len(PLOTS)
    assert "left out (dotted lines)" in page


@pytest.mark.slow
def test_large_run_shows_top_50_municipalities(tmp_path: Path, ledger: Ledger) -> None:
    rows = [MunicipalityRow(kommunenummer=f"{3000 + i}", name=f"Kommune {i}", recipients=i) for i in range(60)]
    page = render(tmp_path, ledger, make_summary(rows=rows))
    assert "The 50 municipalities with the most recipients of 60" in page
    assert "Kommune 59" in page and "Kommune 10<" in page and "Kommune 9<" not in page
    case = section(page)  # the business case lists the same 50, then the total of all 60
    assert case.count("<tr><td>") == 50 and '<tr class="total">' in case
    assert "Kommune 10 <span" in case and "Kommune 9 <span" not in case


def test_summary_json_round_trip(tmp_path: Path) -> None:
    summary = make_summary(failing=True)
    path = summary.write(tmp_path / "out" / "summary.json")
    text = path.read_text(encoding="utf-8")
    assert "Herøy" in text and text.startswith('{\n  "')  # UTF-8, not \\u escapes; indent 2
    data = json.loads(text)
    for key in ("scenario", "seed", "scale", "transport", "simulated_days", "municipalities", "recipients",
                "visits", "messages", "checks", "events", "wall_seconds", "fingerprint", "per_municipality",
                "passed"):
        assert key in data
    assert set(data["visits"]) >= {"total", "per_week", "target_per_week", "by_service"}
    assert set(data["messages"]) >= {"sent", "journaled", "receipted", "failed", "lost", "duplicates"}
    assert data["passed"] is False
    assert data["checks"]["no message lost"] == {"passed": True, "value": 0, "expected": "0 lost", "detail": ""}
    back = Summary.read(path)
    assert back == summary
    assert isinstance(back.checks["no message lost"].value, int)
    assert isinstance(back.checks[f"weekly visits {EVIL}"].value, float)
    assert back.exit_code == 1 and back.failed_checks == ["reply-deadline compliance"]


def test_summary_verdict_is_all_checks() -> None:
    assert make_summary().passed is True and make_summary().exit_code == 0
    assert make_summary(failing=True).passed is False
    data = make_summary(failing=True).model_dump()
    data["passed"] = True
    with pytest.raises(ValidationError, match="contradicts"):
        Summary.model_validate(data)


@pytest.mark.slow
def test_injected_faults_get_their_own_card_and_only_then(tmp_path: Path, ledger: Ledger) -> None:
    plain = render(tmp_path, ledger, make_summary(), "plain.html")
    assert "Faults ridden out" not in plain
    chaotic = make_summary().model_copy(update={"faults": {"apprec_lost": 12, "crashed": 3}})
    chaotic.messages.shown_failed = 2
    page = render(tmp_path, ledger, chaotic, "chaos.html")
    card = page[page.index("Faults ridden out"):]
    card = card[: card.index("</section>")]
    assert "apprec lost" in card and ">12<" in card and "crashed" in card and "shown failed to the sender" in card


# ----------------------------------------------------------------------------------------- what DigiHelse buys


def section(page: str) -> str:
    """The business-case section of a report page (from its heading to the next section's)."""
    start = page.index('<h2 id="what-digihelse-buys">')
    return page[start: page.index("<h2", start + 10)]


@pytest.mark.slow
def test_business_case_section_labels_every_figure_and_names_its_sources(tmp_path: Path) -> None:
    summary = make_summary()
    part = section(render(tmp_path, CASE_LEDGER, summary))
    for header in ("Wasted trips avoided", "Phone calls avoided", "Staff minutes on messages",
                   "Messages per 1,000 recipients per week", "Cost of joining (one-off)", "Inhabitants (2024)"):
        assert header in part
    assert part.count('<span class="basis measured">') >= 2 and part.count('<span class="basis estimate">') >= 2
    assert "seed 001 l.121" in part and "visit.trip_avoided" in part and "seed 001 l.43" in part
    case = summary.business_case
    heroy = case.rows[0]
    cost = f"kr\u00a0{round(heroy.cost_of_joining.total):,}".replace(",", "\u202f")
    assert cost in part  # the price model on Herøy's 2024 population
    assert '<tr class="total">' in part  # two municipalities: a total row
    assert EVIL not in part and "&lt;script&gt;" in part  # the municipality called <script> is escaped
    assert "completed 6" in part and "Notices sent by kind, from notification.sent." in part  # with the note
    assert "scale 0.01" in part
    assert part.count(IMG) == 1


def test_business_case_section_without_a_business_case_says_no_data(tmp_path: Path) -> None:
    summary = make_summary().model_copy(update={"business_case": None})
    part = section(render(tmp_path, Ledger(":memory:"), summary))
    assert IMG not in part and 'class="nodata"' in part and "no business case in summary.json" in part


CHROMIUM = Path("/usr/bin/chromium")
SJUSTJERNA = Path(__file__).resolve().parents[2] / "scenarios" / "sjustjerna-go-live.toml"


def screenshot_section(report: Path, png: Path, *, width: int = 1280, height: int = 1400) -> Path:
    """The business-case section alone (with the report's own CSS) as headless Chromium renders it."""
    page = report.read_text(encoding="utf-8")
    alone = report.with_name("what-digihelse-buys.html")
    alone.write_text(page[: page.index("<body>")] + f"<body><main>{section(page)}</main></body></html>",
                     encoding="utf-8")
    subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={width},{height}", f"--screenshot={png}", alone.as_uri()],
                   check=True, capture_output=True, timeout=120)
    return png


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium is not installed at /usr/bin/chromium")
def test_business_case_section_screenshot_for_sjustjerna_go_live(tmp_path: Path) -> None:
    from simulator.run import run_scenario
    from simulator.scenario import load_scenario

    result = run_scenario(load_scenario(SJUSTJERNA), out=tmp_path / "run", scale=0.05)
    case = result.summary.business_case
    assert len(case.rows) == 7 and case.total.cost_of_joining.total > 0
    png = screenshot_section(tmp_path / "run" / "report.html", tmp_path / "what-digihelse-buys.png")
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    pixels = matplotlib.image.imread(png)
    assert pixels.shape[:2] == (1400, 1280)
    assert pixels.std() > 0.05  # the table and the plot are drawn, not an empty page


def test_the_staff_section_shows_minutes_by_role_the_leaders_overview_and_a_failed_checks_municipalities(
        tmp_path: Path) -> None:
    from simulator.overview import UnitRow

    summary = make_summary(failing=True)
    summary.checks["reply-deadline compliance"].detail = "below 90%: Herøy (1515) 66.7%"
    summary.leader_overview = [
        UnitRow(kommunenummer="1515", name="Herøy", service_her_id=9915151, readings=5, most_past_due=7,
                worst_morning=86_400 * 1.4, last_past_due=3, last_open=9),
        UnitRow(kommunenummer="1515", name="Herøy", service_her_id=9915152, readings=5, most_past_due=0,
                last_past_due=0, last_open=1)]
    summary.expected_failing = ["reply-deadline compliance"]
    page = render(tmp_path, CASE_LEDGER, summary)
    assert "below 90%: Herøy (1515) 66.7%" in page  # under the failed check
    assert "the failure this scenario is built to show" in page
    start = page.index('<h2 id="staff">')
    staff = page[start: page.index("<h2>", start)]
    assert "The leader's overview" in staff and "9915151" in staff and "9915152" in staff
    late_row = staff[staff.index("9915151"):]
    assert '<td class="num">7</td>' in late_row.split("</tr>")[0]  # the most late cases on one morning
    assert "Tue" in late_row.split("</tr>")[0]  # that morning, as a date (day 1 of a Monday start)
