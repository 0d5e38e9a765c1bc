"""`digihelse validate`: the real public samples, the negative ones, and crafted breakage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digihelse.cli import app
from mocks.wire.schema import SchemaDirError, SchemaSet
from mocks.wire.validate import validate_bytes

from tests.conftest import HN, KS_SAMPLES, need

VALID_SAMPLES = [
    HN / "Examples/SimpleSender/DIALOG_INNBYGGER_EKONTAKT.xml",
    HN / "Examples/Helsenorge.Messaging.Client/Samples2/Dialogtjeneste12_Kommunikasjonstest_Request.xml",
    HN / "test/Helsenorge.Messaging.Tests/Files/Helsenorge_Message.xml",
    HN / "test/Helsenorge.Messaging.Tests/Files/MetadataTests_Apprec10.xml",
    HN / "test/Helsenorge.Messaging.Tests/Files/MetadataTests_Apprec11.xml",
    *(KS_SAMPLES / "dialogmelding/1.0/foresporsel-og-svar" / n for n in (
        "dialog-foresporsel-samsvar-test.xml", "dialog-notat-webmed-test.xml",
        "dialog-svar-webmed-test.xml", "dialog-svar-webmed-test-2.xml")),
    KS_SAMPLES / "dialogmelding/1.1/helsefaglig-dialog/samsvar-test-message.xml",
    *(KS_SAMPLES / "app-rec/1.0" / n for n in ("all-data.xml", "example-avvist.xml", "example-ok.xml", "example-ok-feil-i-delmelding.xml")),
    *(KS_SAMPLES / "app-rec/1.1" / n for n in ("all-data.xml", "example-avvist.xml", "example-ok.xml")),
]

# (file, the rule that must be among the findings)
INVALID_SAMPLES = [
    (KS_SAMPLES / "app-rec/missing-migversion.xml", "apprec.migversion-missing"),
    (KS_SAMPLES / "app-rec/unknown-migversion.xml", "apprec.migversion-unknown"),
    (KS_SAMPLES / "app-rec/1.0/unknown-status.xml", "apprec.status-unknown"),
    (KS_SAMPLES / "app-rec/1.1/unknown-status.xml", "apprec.status-unknown"),
    (KS_SAMPLES / "dialogmelding/invalid-version.xml", "msghead.migversion-unknown"),
]


def _id(path: Path) -> str:
    return path.name


@pytest.mark.parametrize("path", VALID_SAMPLES, ids=_id)
def test_valid_public_samples_pass_structure_and_xsd(path, schema_set):
    report = validate_bytes(need(path).read_bytes(), schemas=schema_set)
    assert report.valid, report.findings
    assert not [f for f in report.findings if f.severity == "error"]


@pytest.mark.parametrize(("path", "rule"), INVALID_SAMPLES, ids=lambda v: v.name if isinstance(v, Path) else v)
def test_negative_samples_are_rejected_with_the_named_rule(path, rule):
    # Structural checks alone must catch them: the XSD says nothing about code 8258.
    report = validate_bytes(need(path).read_bytes())
    assert not report.valid
    assert rule in {f.rule for f in report.findings}


def test_unknown_status_is_schema_valid_but_still_rejected(schema_set):
    path = need(KS_SAMPLES / "app-rec/1.1/unknown-status.xml")
    report = validate_bytes(path.read_bytes(), schemas=schema_set)
    assert {f.rule for f in report.findings} == {"apprec.status-unknown"}
    assert report.findings[0].path == "/AppRec/Status/@V"


def test_payload_without_schema_is_a_warning_not_an_error(schema_set):
    path = need(HN / "Examples/SimpleSender/DIALOG_INNBYGGER_RESEPTFORNYELSE.xml")
    report = validate_bytes(path.read_bytes(), schemas=schema_set)
    assert report.valid
    assert {f.rule for f in report.findings} == {"xsd.payload-schema-missing"}


def test_misspelt_xsi_namespace_fails_the_xsd(schema_set):
    path = need(HN / "test/Helsenorge.Messaging.Tests/Files/MetadataTestsDialogmelding11.xml")
    report = validate_bytes(path.read_bytes(), schemas=schema_set)
    assert not report.valid
    assert all(f.rule == "xsd.invalid" for f in report.findings)
    assert "Base64Container" in report.findings[0].path


def _ekontakt() -> bytes:
    return need(HN / "Examples/SimpleSender/DIALOG_INNBYGGER_EKONTAKT.xml").read_bytes()


@pytest.mark.parametrize(
    ("old", "new", "rule", "path"),
    [
        (b"<Id>8141333</Id>", b"<Id>81413x3</Id>", "herid.format", "/MsgHead/MsgInfo/Sender/Organisation/Organisation/Ident/Id"),
        (b"<Id>13116900216</Id>", b"<Id>13116900217</Id>", "fnr.check-digits", "/MsgHead/MsgInfo/Patient/Ident/Id"),
        (b'<Ack DN="Ja" V="J"/>', b'<Ack DN="Ja" V="Y"/>', "msghead.code-value", "/MsgHead/MsgInfo/Ack/@V"),
        (b"<GenDate>2022-10-22T14:15:00.0Z</GenDate>", b"<GenDate>22.10.2022</GenDate>", "msghead.datetime", "/MsgHead/MsgInfo/GenDate"),
        (b"<MsgId>0d77d041-f010-4ec8-9105-f3dda92fc320</MsgId>", b"", "msghead.required", "/MsgHead/MsgInfo/MsgId"),
        (b'<TypeForesp V="BA"', b'<TypeForesp V=""', "dialogmelding.required", "/TypeForesp/@V"),
    ],
)
def test_structural_checks_name_field_and_rule(old, new, rule, path):
    data = _ekontakt()
    assert old in data
    report = validate_bytes(data.replace(old, new))
    assert not report.valid
    matching = [f for f in report.findings if f.rule == rule]
    assert matching, report.findings
    assert matching[0].path.endswith(path)


def test_unknown_message_function_is_only_a_warning():
    data = _ekontakt().replace(b'V="DIALOG_INNBYGGER_EKONTAKT"', b'V="DIALOG_INNBYGGER_NOE_NYTT"')
    report = validate_bytes(data)
    assert report.valid
    assert [f.rule for f in report.findings] == ["msghead.message-function-unknown"]


def test_avvist_without_error_is_rejected():
    data = need(KS_SAMPLES / "app-rec/1.1/example-avvist.xml").read_bytes()
    start = data.index(b"<Error")
    end = data.index(b"/>", start) + 2
    report = validate_bytes(data[:start] + data[end:])
    assert "apprec.avvist-without-error" in {f.rule for f in report.findings}


def test_unknown_8221_error_code_is_rejected():
    data = need(KS_SAMPLES / "app-rec/1.1/example-avvist.xml").read_bytes()
    assert b'V="E21"' in data
    report = validate_bytes(data.replace(b'V="E21"', b'V="E99"'))
    assert "apprec.error-code-unknown" in {f.rule for f in report.findings}


def test_foreign_document_type_is_named():
    report = validate_bytes(b"<Envelope xmlns='http://www.w3.org/2003/05/soap-envelope'/>")
    assert report.type == "unknown"
    assert report.findings[0].rule == "doc.type-unknown"


def test_schema_dir_without_kith_xsds_is_refused(tmp_path):
    with pytest.raises(SchemaDirError, match="no MsgHead or AppRec XSD"):
        SchemaSet.load(tmp_path)
    with pytest.raises(SchemaDirError, match="not a directory"):
        SchemaSet.load(tmp_path / "missing")


# --- the command ---------------------------------------------------------------

runner = CliRunner()


def test_cli_accepts_valid_samples_with_exit_0(xsd_dir):
    files = [str(need(p)) for p in VALID_SAMPLES]
    result = runner.invoke(app, ["validate", "--schemas", str(xsd_dir), *files])
    assert result.exit_code == 0, result.output
    assert f"{len(files)} file(s): {len(files)} valid, 0 invalid" in result.output


def test_cli_json_has_one_object_per_file_and_exit_1_on_any_invalid(xsd_dir):
    good = need(VALID_SAMPLES[0])
    bad, rule = INVALID_SAMPLES[0]
    result = runner.invoke(app, ["validate", "--json", "--schemas", str(xsd_dir), str(good), str(need(bad))])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["valid"] for line in lines] == [True, False]
    assert set(lines[1]) == {"file", "type", "valid", "findings"}
    assert set(lines[1]["findings"][0]) == {"severity", "path", "rule", "message"}
    assert rule in {f["rule"] for f in lines[1]["findings"]}


def test_cli_hostile_file_exits_1_with_a_finding(tmp_path):
    from .test_safexml import BILLION_LAUGHS, XXE

    (tmp_path / "xxe.xml").write_bytes(XXE)
    (tmp_path / "lol.xml").write_bytes(BILLION_LAUGHS)
    result = runner.invoke(app, ["validate", "--json", str(tmp_path / "xxe.xml"), str(tmp_path / "lol.xml")])
    assert result.exit_code == 1
    rules = [json.loads(line)["findings"][0]["rule"] for line in result.stdout.splitlines()]
    assert rules == ["xml.doctype-forbidden", "xml.doctype-forbidden"]
    assert "root:" not in result.stdout  # nothing of /etc/passwd leaks


def test_cli_usage_errors_exit_2(tmp_path):
    missing = runner.invoke(app, ["validate", str(tmp_path / "nope.xml")])
    assert missing.exit_code == 2
    assert "no such file" in missing.output
    (tmp_path / "a.xml").write_bytes(b"<a/>")
    bad_schemas = runner.invoke(app, ["validate", "--schemas", str(tmp_path / "nodir"), str(tmp_path / "a.xml")])
    assert bad_schemas.exit_code == 2
    assert "--schemas" in bad_schemas.output


def test_cli_max_bytes_option(tmp_path):
    (tmp_path / "big.xml").write_bytes(b"<a>" + b"x" * 5000 + b"</a>")
    result = runner.invoke(app, ["validate", "--json", "--max-bytes", "1000", str(tmp_path / "big.xml")])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["findings"][0]["rule"] == "xml.too-large"
