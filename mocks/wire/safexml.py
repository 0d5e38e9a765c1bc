"""Hardened XML parsing for everything that crosses a trust boundary.

Messages arrive from systems we do not control (a vendor's EPJ, a test client, a
file a user hands to ``digihelse validate``). The parser therefore never loads a
DTD, never resolves an entity, never touches the network and refuses documents
over a size limit *before* libxml2 sees them, so an XXE or billion-laughs
document is a fast, clear rejection rather than a file read or a memory blow-up.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from lxml import etree

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
"""Default size limit (10 MB): the service bus is meant for small messages."""

_DOCTYPE_MARKERS = (b"<!DOCTYPE", "<!DOCTYPE".encode("utf-16-le"), "<!DOCTYPE".encode("utf-16-be"))

ACCEPTED_ENCODINGS = frozenset({"utf-8", "utf8", "utf-16", "utf-16le", "utf-16be", "us-ascii", "ascii",
                                "iso-8859-1", "latin1", "latin-1", "iso_8859-1", "windows-1252", "cp1252"})
"""Encodings the DOCTYPE scan can see through (UTF-8, UTF-16 and the ASCII-compatible Latin-1 family).

KITH messages are UTF-8. In UTF-32, UTF-7 or EBCDIC a DOCTYPE is a byte sequence the scan does not look
for, so libxml2 would read the DTD before the post-parse check refused it: such documents are refused
up front (``xml.encoding-unsupported``) instead."""

_UCS4_STARTS = (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00", b"\x00\x00\xff\xfe", b"\xfe\xff\x00\x00",
                b"\x00\x00\x00<", b"<\x00\x00\x00", b"\x00\x00<\x00", b"\x00<\x00\x00")
_EBCDIC_START = b"\x4c\x6f\xa7\x94"  # "<?xm" in EBCDIC
_DECLARED_ENCODING = re.compile(r"""^\s*<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def _encoding_problem(data: bytes) -> str | None:
    """Why the document's encoding is refused, or None (XML 1.0 appendix F autodetection, then the declaration)."""
    if data.startswith(_UCS4_STARTS):
        return "UTF-32/UCS-4 documents are refused; send UTF-8"
    if data.startswith(_EBCDIC_START):
        return "EBCDIC documents are refused; send UTF-8"
    head = data[:512]
    if head.startswith((b"\xff\xfe", b"<\x00?\x00")):
        text = head.decode("utf-16-le", errors="replace")
    elif head.startswith((b"\xfe\xff", b"\x00<\x00?")):
        text = head.decode("utf-16-be", errors="replace")
    else:
        text = head.decode("latin-1")
    declared = _DECLARED_ENCODING.match(text.lstrip("\ufeff\xef\xbb\xbf"))
    if declared and declared.group(1).lower() not in ACCEPTED_ENCODINGS:
        return f"encoding {declared.group(1)!r} is refused; send UTF-8 (UTF-16 and ISO-8859-1 are also read)"
    return None


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
    beyond libxml2's safe depth (256 levels); ``xml.encoding-unsupported`` an
    encoding the DOCTYPE scan cannot see through (UTF-32, UTF-7, EBCDIC, …: see
    :data:`ACCEPTED_ENCODINGS`); ``xml.entity-forbidden`` an entity reference;
    ``xml.not-well-formed`` anything else libxml2 refuses, including bytes that
    do not match the declared encoding.
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
    problem = _encoding_problem(data)
    if problem is not None:
        raise XmlRejected("xml.encoding-unsupported", problem)
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
