"""Hardened XML parsing for everything that crosses a trust boundary.

Messages arrive from systems we do not control (a vendor's EPJ, a test client, a
file a user hands to ``digihelse validate``). The parser therefore never loads a
DTD, never resolves an entity, never touches the network and refuses documents
over a size limit *before* libxml2 sees them, so an XXE or billion-laughs
document is a fast, clear rejection rather than a file read or a memory blow-up.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from lxml import etree

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
"""Default size limit (10 MB): the service bus is meant for small messages."""

_DOCTYPE_MARKERS = (b"<!DOCTYPE", "<!DOCTYPE".encode("utf-16-le"), "<!DOCTYPE".encode("utf-16-be"))


@dataclass(frozen=True, slots=True)
class XmlRejection:
    """Why a document was refused, with a stable rule id for reports and tests."""

    rule: str
    message: str


class XmlRejected(ValueError):
    """The document cannot be parsed safely. ``rule`` names the rule broken."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(rule, message)  # args as given: SimPy and pickle rebuild an exception from its args
        self.rejection = XmlRejection(rule, message)

    def __str__(self) -> str:
        return f"{self.rule}: {self.detail}"

    @property
    def rule(self) -> str:
        return self.rejection.rule

    @property
    def detail(self) -> str:
        return self.rejection.message


_local = threading.local()


def _parser() -> etree.XMLParser:
    # lxml parsers are not safe to share between threads; keep one per thread.
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            collect_ids=False,
            remove_blank_text=False,
        )
        _local.parser = parser
    return parser


def parse_xml(data: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse ``data`` into an element tree root, or raise :class:`XmlRejected`.

    Rules (each a distinct ``rule`` on the exception):
    ``xml.too-large`` over ``max_bytes``; ``xml.doctype-forbidden`` any DOCTYPE
    (the carrier of XXE and entity expansion attacks); ``xml.too-deep`` nesting
    beyond libxml2's safe depth; ``xml.not-well-formed`` anything else libxml2
    refuses, including bad or mismatched encodings.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > max_bytes:
        raise XmlRejected(
            "xml.too-large",
            f"document is {len(data):,} bytes; the limit is {max_bytes:,} bytes",
        )
    if not data.strip():
        raise XmlRejected("xml.not-well-formed", "document is empty")
    if any(marker in data for marker in _DOCTYPE_MARKERS):
        raise XmlRejected(
            "xml.doctype-forbidden",
            "documents with a DOCTYPE are refused (no DTDs, no entity declarations)",
        )
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        text = str(exc)
        if "depth" in text.lower():
            raise XmlRejected("xml.too-deep", f"nesting too deep: {text}") from None
        if "entity" in text.lower():
            raise XmlRejected("xml.entity-forbidden", f"entity references are refused: {text}") from None
        raise XmlRejected("xml.not-well-formed", text) from None
    except ValueError as exc:  # lxml raises ValueError for some encoding problems
        raise XmlRejected("xml.not-well-formed", str(exc)) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise XmlRejected(
            "xml.doctype-forbidden",
            "documents with a DOCTYPE are refused (no DTDs, no entity declarations)",
        )
    for node in root.iter(etree.Entity):
        raise XmlRejected("xml.entity-forbidden", f"entity reference {node.text!r} is refused")
    return root
