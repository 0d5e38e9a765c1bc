"""Validation against the official KITH XSDs, wherever a user keeps them.

The XSDs are not shipped with the harness (they belong to their publishers);
users point ``--schemas`` at a directory holding them. Files are found by their
``targetNamespace``, not their names, because every distribution names them
differently (``apprec-v1.1.xsd``, ``AppRec-v1_1.xsd``, …).

MsgHead's ``Content`` element uses ``processContents="strict"``, so a whole
message validates only with a schema set that knows every payload namespace: a
generated wrapper schema imports MsgHead, both Dialogmelding versions, both
AppRec versions and the project's own xCal subset schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from xml.sax.saxutils import quoteattr

from lxml import etree

from mocks.wire import codes
from mocks.wire.findings import Finding, xpath_of

XCAL_SUBSET_XSD = "xcal-subset.xsd"

_WANTED = (
    codes.NS_MSGHEAD,
    codes.NS_DIALOG_11,
    codes.NS_DIALOG_10,
    codes.NS_APPREC_10,
    codes.NS_APPREC_11,
    codes.NS_BASE64,
)
_STRICT_WILDCARD = "demanded by the strict wildcard"


class SchemaDirError(ValueError):
    """The schema directory cannot be used (missing, unreadable, or broken XSDs)."""


def _schema_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _target_namespace(path: Path) -> str | None:
    try:
        for _event, element in etree.iterparse(
            str(path), events=("start",), resolve_entities=False, no_network=True, load_dtd=False
        ):
            return element.get("targetNamespace")
    except (etree.XMLSyntaxError, OSError):
        return None
    return None


def packaged_xcal_schema() -> Path:
    return Path(str(resources.files("mocks.wire") / "schemas" / XCAL_SUBSET_XSD))


@dataclass(frozen=True)
class SchemaSet:
    """A compiled schema set: one wrapper that knows every namespace we speak."""

    directory: Path
    namespaces: dict[str, Path]
    schema: etree.XMLSchema

    @classmethod
    def load(cls, directory: str | Path) -> "SchemaSet":
        directory = Path(directory)
        if not directory.is_dir():
            raise SchemaDirError(f"--schemas: {directory} is not a directory")
        found: dict[str, Path] = {}
        for path in sorted(directory.glob("*.xsd")):
            namespace = _target_namespace(path)
            if namespace and namespace not in found:
                found[namespace] = path.resolve()
        if codes.NS_MSGHEAD not in found and codes.NS_APPREC_11 not in found and codes.NS_APPREC_10 not in found:
            raise SchemaDirError(
                f"--schemas: {directory} holds no MsgHead or AppRec XSD "
                f"(looked for targetNamespace {codes.NS_MSGHEAD} and the AppRec namespaces)"
            )
        xcal = packaged_xcal_schema()
        if xcal.is_file():
            found.setdefault(codes.NS_XCAL, xcal)
        imports = "".join(
            f"<xs:import namespace={quoteattr(ns)} schemaLocation={quoteattr(found[ns].as_uri())}/>"
            for ns in (*_WANTED, codes.NS_XCAL)
            if ns in found
        )
        wrapper = (
            '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" '
            'targetNamespace="urn:digihelse:harness:schema-wrapper" elementFormDefault="qualified">'
            f"{imports}</xs:schema>"
        )
        try:
            document = etree.fromstring(
                wrapper.encode(), _schema_parser(), base_url=(directory.resolve() / "wrapper.xsd").as_uri()
            )
            schema = etree.XMLSchema(document)
        except (etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
            raise SchemaDirError(f"--schemas: the XSDs in {directory} do not compile: {exc}") from None
        return cls(directory, found, schema)

    def validate(self, root: etree._Element) -> list[Finding]:
        """XSD findings for ``root``; payloads in namespaces we hold no XSD for are warnings."""
        if self.schema.validate(root):
            return []
        tree = root.getroottree()
        findings: list[Finding] = []
        for entry in self.schema.error_log:
            element = _element_at(tree, entry.path)
            path = xpath_of(element) if element is not None else (entry.path or "/")
            message = _tidy(entry.message)
            if _STRICT_WILDCARD in entry.message and element is not None:
                namespace = etree.QName(element).namespace
                if namespace not in self.namespaces:
                    findings.append(
                        Finding.warning(
                            path,
                            "xsd.payload-schema-missing",
                            f"no XSD for payload namespace {namespace!r} in --schemas; "
                            "the payload was not validated",
                        )
                    )
                    continue
            findings.append(Finding.error(path, "xsd.invalid", f"line {entry.line}: {message}"))
        return findings


def _element_at(tree: etree._ElementTree, path: str | None) -> etree._Element | None:
    if not path:
        return None
    try:
        found = tree.xpath(path)
    except etree.XPathError:
        return None
    return found[0] if found and isinstance(found[0], etree._Element) else None


def _tidy(message: str) -> str:
    # "{http://www.kith.no/xmlstds/msghead/2006-05-24}MsgId" -> "MsgId"
    out, depth = [], 0
    for ch in message:
        if ch == "{":
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
        elif not depth:
            out.append(ch)
    return "".join(out)
