"""One self-contained HTML page: summary, then every test with its messages, inputs and exchanges.

No scripts, no external styles or fonts: the page is an artefact a vendor
attaches to an approval request, opened anywhere. Everything captured is
escaped (message bodies are XML, and an EPJ may send anything), so the page
shows what was on the wire and never runs it.
"""

from __future__ import annotations

from html import escape

from conformance.results import CapturedMessage, State, SuiteResult, TestResult
from conformance.timefmt import duration
from conformance.reports.text import message_header, xml_safe

_COLOURS = {State.PASS: "#1a7f37", State.FAIL: "#cf222e", State.ERROR: "#9a6700", State.SKIP: "#6e7781",
            State.WAIT: "#8250df"}  # fmt: skip

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1f2328;max-width:80rem}
h1{margin-bottom:.2rem} h2{margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.5rem 0} td,th{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;
vertical-align:top} th{background:#f6f8fa}
.state{color:#fff;border-radius:.3rem;padding:.05rem .45rem;font-weight:600;font-size:.85em}
details{margin:.3rem 0} summary{cursor:pointer} pre{background:#f6f8fa;padding:.5rem;overflow:auto;
white-space:pre-wrap;word-break:break-all;font-size:.8em} .muted{color:#57606a} ul{margin:.3rem 0}
"""


def _e(value: object) -> str:
    return escape(xml_safe(str(value)), quote=True)


def _state(state: State) -> str:
    return f'<span class="state" style="background:{_COLOURS[state]}">{_e(state.value)}</span>'


def _rows(pairs: list[tuple[str, object]]) -> str:
    return "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in pairs)


def _exchange(m: CapturedMessage) -> str:
    props = [("message-id", m.message_id), ("subject", m.subject), ("correlation-id", m.correlation_id),
             ("reply-to", m.reply_to), ("content-type", m.content_type), ("fromHerId", m.from_her_id),
             ("toHerId", m.to_her_id), ("applicationTimeStamp", m.application_timestamp), ("cpaId", m.cpa_id)]  # fmt: skip
    props += sorted(m.properties.items())
    body = f"<pre>{_e(m.body)}</pre>" if m.body else '<p class="muted">(empty body)</p>'
    return (f"<details><summary>{_e(message_header(m))}</summary>"
            f"<table>{_rows([(k, v) for k, v in props if v is not None])}</table>{body}</details>")  # fmt: skip


def _test(t: TestResult) -> str:
    messages = "".join(f"<li>{_e(m)}</li>" for m in t.messages) or '<li class="muted">no messages</li>'
    inputs = f"<table>{_rows(list(t.inputs.items()))}</table>" if t.inputs else ""
    exchanges = "".join(_exchange(m) for m in t.exchanges)
    return (
        f'<details id="{_e(t.id)}"><summary>{_state(t.state)} <b>{_e(t.id)}</b> {_e(t.title)} '
        f'<span class="muted">({_e(duration(t.duration_s))})</span></summary>'
        f"<p>Requirements: {_e(', '.join(t.requirements))}</p><ul>{messages}</ul>{inputs}"
        f"<p>{len(t.exchanges)} captured message(s)</p>{exchanges}</details>"
    )


def render_html(result: SuiteResult) -> str:
    s, target, settings = result.summary, result.target, result.settings
    counts = " · ".join(f"{_state(state)} {n}" for state, n in (
        (State.PASS, s.passed), (State.FAIL, s.failed), (State.ERROR, s.errors), (State.SKIP, s.skipped),
        (State.WAIT, s.waiting)))  # fmt: skip
    overview = "".join(
        f'<tr><td><a href="#{_e(t.id)}">{_e(t.id)}</a></td><td>{_state(t.state)}</td><td>{_e(t.title)}</td>'
        f"<td>{_e(', '.join(t.requirements))}</td><td>{_e(t.messages[0] if t.messages else '')}</td></tr>"
        for t in result.tests()
    )
    groups = "".join(
        f"<h2>{_e(g.title)}</h2>" + "".join(_test(t) for t in g.tests) for g in result.groups
    )
    verdict = "all tests passed" if s.ok else "NOT conformant: see the failing tests"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>DigiHelse conformance — {_e(verdict)}</title>
<style>{_STYLE}</style></head><body>
<h1>DigiHelse conformance report</h1>
<p class="muted">{_e(result.suite)} {_e(result.version)} · {_e(result.started_at.isoformat(timespec="seconds"))} –
{_e(result.finished_at.isoformat(timespec="seconds"))}</p>
<p><b>{_e(verdict)}</b> — {s.total} tests: {counts}</p>
<table>{_rows([
    ("broker", target.broker), ("EPJ HER-id", target.epj_her_id),
    ("service HER-ids", ", ".join(map(str, target.service_her_ids))), ("patients", ", ".join(target.patients)),
    ("kit HER-id", target.kit_her_id), ("system under test", "built-in reference EPJ" if target.reference else "vendor EPJ"),
    ("fault profile", target.fault or "—"), ("AppRec deadline", f"{duration(settings.apprec_deadline_s)} ({settings.apprec_deadline_source})"),
    ("sync call timeout", duration(settings.sync_timeout_s)), ("XSDs", settings.schemas or "none (XSD checks skipped)"),
])}</table>
<h2>Overview</h2>
<table><tr><th>test</th><th>state</th><th>title</th><th>requirements</th><th>first message</th></tr>{overview}</table>
{groups}
</body></html>
"""
