"""The hardened parser refuses every classic XML attack quickly and clearly."""

from __future__ import annotations

import pytest

from mocks.wire.safexml import XmlRejected, parse_xml

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<root>&xxe;</root>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<lolz>&lol4;</lolz>"""


def rule_of(data: bytes, **kwargs) -> str:
    with pytest.raises(XmlRejected) as caught:
        parse_xml(data, **kwargs)
    return caught.value.rule


def test_plain_document_parses():
    root = parse_xml(b"<a xmlns='urn:x'><b>tekst med \xc3\xa6\xc3\xb8\xc3\xa5</b></a>")
    assert root[0].text == "tekst med æøå"


def test_xxe_is_refused_without_reading_the_file():
    assert rule_of(XXE) == "xml.doctype-forbidden"


def test_billion_laughs_is_refused():
    assert rule_of(BILLION_LAUGHS) == "xml.doctype-forbidden"


def test_doctype_in_utf16_is_refused():
    document = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'
    assert rule_of(document.encode("utf-16")) == "xml.doctype-forbidden"


def test_undeclared_entity_reference_is_refused():
    assert rule_of(b"<a>&foo;</a>") == "xml.entity-forbidden"


def test_size_limit_applies_before_parsing():
    assert rule_of(b"<a>" + b"x" * 200 + b"</a>", max_bytes=100) == "xml.too-large"
    assert parse_xml(b"<a>" + b"x" * 90 + b"</a>", max_bytes=100).tag == "a"


def test_deep_nesting_is_refused():
    assert rule_of(b"<a>" * 5000 + b"</a>" * 5000) == "xml.too-deep"


@pytest.mark.parametrize(
    "data",
    [b"", b"   ", b"not xml", b"<a><b></a>", b"<a>\xff\xfe invalid utf-8</a>",
     b'<?xml version="1.0" encoding="ISO-8859-1"?><a>\xe6</a>\x00'],
)
def test_broken_documents_are_not_well_formed(data):
    assert rule_of(data) == "xml.not-well-formed"


def test_declared_latin1_encoding_is_honoured():
    assert parse_xml(b'<?xml version="1.0" encoding="ISO-8859-1"?><a>\xe6</a>').text == "æ"


def test_error_message_names_the_rule():
    with pytest.raises(XmlRejected) as caught:
        parse_xml(XXE)
    assert str(caught.value).startswith("xml.doctype-forbidden: ")
