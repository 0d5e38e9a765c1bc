"""``digihelse conformance --registries HOST:PORT``: the kit's AR and CPPA are reachable during the run.

An EPJ built on Helsenorge.Messaging resolves the kit's HER-id in AR (queue
addresses) and checks the CPA in CPPA before it answers; these tests ask the served
registries from outside, while the run is going, the way such an EPJ would.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest
import typer
from typer.testing import CliRunner

from conformance.kit import KitOptions, UsageError, run_kit
from conformance.registries import parse_host_port
from conformance.results import State
from digihelse.conformance_cli import conformance
from mocks.harness.broker import free_port
from mocks.registry import ar_soap
from mocks.registry.cppa_xml import parse_cpa

KIT = 9_991_060
SOAP11_REQUEST = (
    '<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body>'
    '<GetCommunicationPartyDetails xmlns="http://register.nhn.no/CommunicationParty"><herId>{her_id}</herId>'
    "</GetCommunicationPartyDetails></e:Body></e:Envelope>"
)


def _ask(settings: dict[str, str], seen: dict) -> None:
    """What a library-based EPJ asks before answering the kit: the kit's party in AR, then the CPA."""
    basic = settings["AR (SOAP 1.1, Basic binding: the library's default)"]
    cppa = settings["CPPA (REST v2, no authentication)"]
    kit = int(settings["the kit's HER-id (helsenorge role)"])
    response = httpx.post(basic, content=SOAP11_REQUEST.format(her_id=kit),
                          headers={"content-type": "text/xml; charset=utf-8",
                                   "SOAPAction": f'"{ar_soap.ACTION_GET_DETAILS}"'})  # fmt: skip
    seen["ar_status"] = response.status_code
    seen["kit_party"] = ar_soap.parse_communication_party_details(
        response.content.replace(b"http://schemas.xmlsoap.org/soap/envelope/", ar_soap.NS_SOAP12.encode()))
    seen["epj"] = int(settings["epj"])
    cpa = httpx.get(f"{cppa}/Agreements/HerIds/{seen['epj']}/{kit}", headers={"Accept": "application/xml"})
    seen["cpa_status"] = cpa.status_code
    seen["cpa"] = parse_cpa(cpa.content) if cpa.status_code == 200 else None


@pytest.mark.slow
def test_registries_are_served_during_the_run_and_name_the_kit():
    port = free_port()
    seen: dict = {}
    options = KitOptions(broker="embedded", reference=True, kit_her_id=KIT, reference_her_id_base=9_987_000,
                         sync_timeout=2, apprec_timeout=3, only=["DH-CON-001"], registries=f"127.0.0.1:{port}")  # fmt: skip

    def announce(settings: list[tuple[str, str]]) -> None:
        values = dict(settings)
        values["epj"] = values["the EPJ's services registered in that AR"].split()[0]
        seen["settings"] = values
        _ask(values, seen)

    result = run_kit(options, announce=announce)
    assert result.summary.passed == 1
    assert seen["settings"]["AR (SOAP 1.2, WSHttpBinding)"] == f"http://127.0.0.1:{port}/ar/soap"
    assert seen["ar_status"] == 200
    party = seen["kit_party"]
    assert party.her_id == KIT and party.async_queue_name == f"{KIT}_async" and party.error_queue_name == f"{KIT}_error"
    with pytest.raises(httpx.TransportError):  # served for the run only
        httpx.get(f"http://127.0.0.1:{port}/ar/api/parties", timeout=1)


@pytest.mark.parametrize("value", ["8900", "host:", ":80", "h:0", "h:70000", "h:port"])
def test_registries_option_names_the_rule(value):
    with pytest.raises(ValueError, match="--registries .*HOST:PORT"):
        parse_host_port(value)
    with pytest.raises(ValueError, match="HOST:PORT"):
        KitOptions(broker="embedded", reference=True, registries=value)


def test_a_taken_port_is_a_usage_error():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UsageError, match=f"--registries 127.0.0.1:{port}"):
            run_kit(KitOptions(broker="embedded", reference=True, only=["DH-CON-001"], sync_timeout=2,
                               apprec_timeout=3, registries=f"127.0.0.1:{port}"))  # fmt: skip


def test_command_prints_the_settings_an_epj_needs():
    app = typer.Typer(add_completion=False, rich_markup_mode=None)
    app.command(name="conformance")(conformance)
    app.command(name="version")(lambda: None)
    port = free_port()
    result = CliRunner().invoke(app, ["conformance", "--reference", "--broker", "embedded", "--only", "DH-CON-001",
                                      "--sync-timeout", "2", "--apprec-timeout", "3", "--kit-her-id", "9991061",
                                      "--registries", f"127.0.0.1:{port}"])  # fmt: skip
    assert result.exit_code == 0, result.output
    for expected in (f"http://127.0.0.1:{port}/ar/soap/Basic", f"http://127.0.0.1:{port}/ar/soap",
                     f"http://127.0.0.1:{port}/cppa", "9991061", "broker: embedded"):  # fmt: skip
        assert expected in result.output, result.output


# ----------------------------------------------------------------------------- --parties and the CPA pre-check


def _declared(tmp_path, processes: list[str], parent: int | None = 9_987_100):
    """The reference EPJ's first service as a vendor would declare it, with only ``processes``."""
    path = tmp_path / "parties.json"
    path.write_text(json.dumps([{"herId": 9_987_101, "name": "Hjemmesykepleien (erklært)", "type": "Service", "parentHerId": parent,
                                 "processes": processes, "queues": {"async": "sb.test.nhn.no/DigitalDialog/x_async"}}]))  # fmt: skip
    return path


def test_a_process_the_epj_does_not_declare_is_skipped_naming_it(tmp_path):
    parties = _declared(tmp_path, ["DIALOG_INNBYGGER_EKONTAKT"])
    result = run_kit(KitOptions(broker="embedded", reference=True, kit_her_id=9_991_062, reference_her_id_base=9_987_100,
                                sync_timeout=2, apprec_timeout=3, only=["DH-CON-001", "DH-MSG-001"],
                                parties=parties))  # fmt: skip
    by_id = {t.id: t for t in result.tests()}
    assert by_id["DH-CON-001"].state is State.SKIP
    assert "DIALOG_INNBYGGER_TEST" in by_id["DH-CON-001"].messages[0] and "MUG-000033" in by_id["DH-CON-001"].messages[0]
    assert by_id["DH-MSG-001"].state is State.PASS, by_id["DH-MSG-001"].messages


def test_declared_entries_are_what_the_served_ar_gives(tmp_path):
    parties = _declared(tmp_path, ["DIALOG_INNBYGGER_EKONTAKT", "DIALOG_INNBYGGER_TEST"])
    port = free_port()
    seen = {}

    def announce(settings):
        basic = dict(settings)["AR (SOAP 1.1, Basic binding: the library's default)"]
        response = httpx.post(basic, content=SOAP11_REQUEST.format(her_id=9_987_101),
                              headers={"content-type": "text/xml; charset=utf-8",
                                       "SOAPAction": f'"{ar_soap.ACTION_GET_DETAILS}"'})  # fmt: skip
        seen["body"] = response.content

    run_kit(KitOptions(broker="embedded", reference=True, kit_her_id=9_991_063, reference_her_id_base=9_987_100,
                       sync_timeout=2, apprec_timeout=3, only=["DH-CON-001"], parties=parties,
                       registries=f"127.0.0.1:{port}"), announce=announce)  # fmt: skip
    assert b"sb.test.nhn.no/DigitalDialog/x_async" in seen["body"] and b"Hjemmesykepleien (erkl" in seen["body"]


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "not JSON"),
    ('[{"name": "x"}]', "[0.herId] Field required"),
    ('[{"herId": 9987101, "name": "x", "colour": "red"}]', "[0.colour]"),
])  # fmt: skip
def test_a_bad_parties_file_is_a_usage_error_naming_the_field(tmp_path, content, message):
    path = tmp_path / "p.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=re.escape(message)):
        run_kit(KitOptions(broker="embedded", reference=True, only=["DH-CON-001"], parties=path))
    with pytest.raises(UsageError, match="No such file"):
        run_kit(KitOptions(broker="embedded", reference=True, only=["DH-CON-001"], parties=tmp_path / "missing.json"))


def test_command_takes_parties_and_refuses_a_bad_file(tmp_path):
    app = typer.Typer(add_completion=False, rich_markup_mode=None)
    app.command(name="conformance")(conformance)
    app.command(name="version")(lambda: None)
    common = ["conformance", "--reference", "--broker", "embedded", "--only", "DH-CON-001", "--sync-timeout", "2",
              "--apprec-timeout", "3", "--kit-her-id", "9991064"]  # fmt: skip
    (tmp_path / "bad.json").write_text('[{"name": "x"}]')
    bad = CliRunner().invoke(app, [*common, "--parties", str(tmp_path / "bad.json")])
    assert bad.exit_code == 2 and "herId" in bad.output, bad.output
    # a valid file: its entry is registered beside the reference EPJ's services, whose tests still run
    good = CliRunner().invoke(app, [*common, "--parties", str(_declared(tmp_path, ["DIALOG_INNBYGGER_EKONTAKT"], None))])
    assert good.exit_code == 0 and "1 tests: 1 passed" in good.output, good.output
