"""JUnit XML: what every CI server reads, one ``testsuite`` per group and one ``testcase`` per test.

The shape keeps to the common JUnit schema (no properties on test cases), so
Jenkins, GitLab and GitHub all accept it; requirement ids, inputs and captured
exchanges go in ``system-out``. A test in state ``wait`` is reported as a
failure of type ``wait``: it did not pass, and CI must not go green on it.
"""

from __future__ import annotations

from lxml import etree

from conformance.results import State, SuiteResult
from conformance.reports.text import test_text, xml_safe


def _num(value: float) -> str:
    return f"{value:.3f}"


def render_junit(result: SuiteResult) -> bytes:
    s = result.summary
    total_time = sum(t.duration_s for t in result.tests())
    root = etree.Element("testsuites", name=result.suite, tests=str(s.total), failures=str(s.failed + s.waiting),
                         errors=str(s.errors), skipped=str(s.skipped), time=_num(total_time))  # fmt: skip
    for group in result.groups:
        tests = group.tests
        suite = etree.SubElement(
            root, "testsuite", name=f"{group.id}", id=group.id,
            tests=str(len(tests)),
            failures=str(sum(t.state in (State.FAIL, State.WAIT) for t in tests)),
            errors=str(sum(t.state is State.ERROR for t in tests)),
            skipped=str(sum(t.state is State.SKIP for t in tests)),
            time=_num(sum(t.duration_s for t in tests)),
            timestamp=(tests[0].started_at.replace(tzinfo=None).isoformat(timespec="seconds") if tests else ""),
        )  # fmt: skip
        props = etree.SubElement(suite, "properties")
        for name, value in (
            ("broker", result.target.broker), ("epj_her_id", result.target.epj_her_id),
            ("service_her_ids", ",".join(map(str, result.target.service_her_ids))),
            ("kit_her_id", result.target.kit_her_id), ("reference", result.target.reference),
            ("fault", result.target.fault or ""), ("apprec_deadline_s", result.settings.apprec_deadline_s),
            ("apprec_deadline_source", result.settings.apprec_deadline_source),
            ("sync_timeout_s", result.settings.sync_timeout_s),
        ):  # fmt: skip
            etree.SubElement(props, "property", name=name, value=xml_safe(str(value)))
        for test in tests:
            case = etree.SubElement(suite, "testcase", classname=f"digihelse.conformance.{group.id}",
                                    name=xml_safe(f"{test.id} {test.title}"), time=_num(test.duration_s))  # fmt: skip
            first = xml_safe(test.messages[0]) if test.messages else test.state.value
            detail = xml_safe("\n".join(test.messages))
            if test.state is State.FAIL:
                etree.SubElement(case, "failure", message=first, type="fail").text = detail
            elif test.state is State.WAIT:
                etree.SubElement(case, "failure", message=first, type="wait").text = detail
            elif test.state is State.ERROR:
                etree.SubElement(case, "error", message=first, type="error").text = detail
            elif test.state is State.SKIP:
                etree.SubElement(case, "skipped", message=first)
            etree.SubElement(case, "system-out").text = test_text(test)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
