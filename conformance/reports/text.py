"""Plain-text pieces the JUnit and HTML reports share."""

from __future__ import annotations

import re

from conformance.results import CapturedMessage, TestResult

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """Text XML 1.0 can carry: a captured body may hold any bytes, and one control character would make the
    whole report unparseable."""
    return _XML_ILLEGAL.sub("\ufffd", text)


def message_header(m: CapturedMessage) -> str:
    arrow = "→" if m.direction == "sent" else "←"
    return (f"{m.at.isoformat()} {arrow} {m.direction} {m.queue} subject={m.subject} message-id={m.message_id} "
            f"correlation-id={m.correlation_id} from={m.from_her_id} to={m.to_her_id}"
            + (f" ({m.note})" if m.note else ""))  # fmt: skip


def test_text(result: TestResult, *, bodies: bool = True) -> str:
    """Everything about one test as text: requirements, messages, inputs, exchanges."""
    lines = [f"{result.id} {result.title}", f"state: {result.state.value}",
             f"requirements: {', '.join(result.requirements)}"]  # fmt: skip
    lines += [f"- {m}" for m in result.messages]
    if result.inputs:
        lines.append("inputs:")
        lines += [f"  {k}: {v}" for k, v in result.inputs.items()]
    if result.exchanges:
        lines.append(f"exchanges ({len(result.exchanges)}):")
        for m in result.exchanges:
            lines.append("  " + message_header(m))
            if m.properties:
                lines.append("    properties: " + ", ".join(f"{k}={v}" for k, v in m.properties.items()))
            if bodies and m.body:
                lines.append("    " + m.body)
    return xml_safe("\n".join(lines))
