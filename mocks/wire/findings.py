"""Findings: what a validator or checker says about a document.

One small type shared by the structural checks, XSD validation and the
conformance kit, so every report names a severity, an XPath location, a stable
rule id and a sentence a person can act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lxml import etree


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Finding:
    severity: Severity
    path: str
    rule: str
    message: str

    @classmethod
    def error(cls, path: str, rule: str, message: str) -> "Finding":
        return cls(Severity.ERROR, path, rule, message)

    @classmethod
    def warning(cls, path: str, rule: str, message: str) -> "Finding":
        return cls(Severity.WARNING, path, rule, message)


def xpath_of(element: etree._Element) -> str:
    """A readable XPath of local names (``/MsgHead/MsgInfo/MsgId``).

    lxml's ``getpath`` gives ``/*/*[2]`` for namespaced documents, which tells a
    vendor nothing; positions are added only where siblings share a name.
    """
    parts: list[str] = []
    node: etree._Element | None = element
    while node is not None and isinstance(node.tag, str):
        name = etree.QName(node).localname
        parent = node.getparent()
        if parent is not None:
            same = [c for c in parent if isinstance(c.tag, str) and c.tag == node.tag]
            if len(same) > 1:
                name = f"{name}[{same.index(node) + 1}]"
        parts.append(name)
        node = parent
    return "/" + "/".join(reversed(parts))
