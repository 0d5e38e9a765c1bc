"""``--register-in URL``: the kit registers its party in an AR the vendor already runs — a real ``digihelse serve``
(uvicorn in its own process on loopback, as tests/mocks/harness/test_serve.py starts it) — and removes it at the end.

The library-like peer (tests/conformance/library_peer.py) is pointed at serve's AR and CPPA only, the way a vendor's
EPJ already is: it resolves the kit's party from there and the kit passes. A registration that cannot be made (bad
URL, unreachable AR, no operator token, the kit's HER-id taken, the EPJ not in that AR) is a usage error (exit 2)
naming the option, and nothing the kit posted stays behind.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import typer
from pydantic import ValidationError
from typer.testing import CliRunner

from conformance.external import base_url
from conformance.inputs import unknown_patient_fnr
from conformance.kit import KitOptions
from conformance.parties import KIT_ORG_HER_ID
from digihelse.conformance_cli import conformance
from mocks.harness.broker import free_port
from mocks.registry.processes import DIGIHELSE_PROCESSES

from .library_cms import ArCertificates, PeerProtection
from .library_peer import ArClient, CppaClient, LibraryPeer
from .test_library_peer import APPLICABLE, passes_every_applicable_test

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "kit-test-operator-token-0123456789"
SERVICE = 9_986_101
"""The vendor's service, registered in serve's AR before the kit runs (as a vendor's EPJ already is)."""


def _wait_up(base: str, process: subprocess.Popen) -> None:
    import time

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise AssertionError(f"digihelse serve exited: {process.stderr.read()}")
        time.sleep(0.2)
    raise AssertionError("digihelse serve did not come up")


@pytest.fixture(scope="module")
def serve_ar():
    """``digihelse serve`` with an operator token, and the vendor's service registered in its AR."""
    port = free_port()
    command = [sys.executable, "-m", "digihelse.cli", "serve", "--port", str(port), "--seed", "16",
               "--operator-token", TOKEN]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(base, process)
        registered = httpx.post(f"{base}/ar/api/parties", headers={"Authorization": f"Bearer {TOKEN}"}, json={
            "herId": SERVICE, "name": "Leverandørens hjemmetjeneste", "type": "Service", "role": "Helsepersonell",
            "processes": sorted(DIGIHELSE_PROCESSES)})  # fmt: skip
        assert registered.status_code == 201, registered.text
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def _publish_peer_certificates(base: str):
    """The vendor's service publishes its certificates in serve's AR (as PUT takes them); its keys stay with it."""
    from datetime import datetime, timezone

    from conformance.protection import issue_credentials
    from mocks.security.certificates import pem

    own = issue_credentials(SERVICE, "Leverandørens hjemmetjeneste", datetime.now(timezone.utc))
    response = httpx.put(f"{base}/ar/api/parties/{SERVICE}/certificates", headers={"Authorization": f"Bearer {TOKEN}"},
                         json={"signing": pem(own.signing.certificate), "encryption": pem(own.encryption.certificate)})
    assert response.status_code == 200, response.text
    return own


def _registered(base: str, her_id: int) -> bool:
    return httpx.get(f"{base}/ar/api/parties/{her_id}", timeout=5).status_code == 200


def _app() -> typer.Typer:
    app = typer.Typer(add_completion=False, rich_markup_mode=None)
    app.command(name="conformance")(conformance)
    app.command(name="other")(lambda: None)
    return app


def _said(result) -> str:
    return " ".join(result.output.split())  # the console wraps long lines


@pytest.mark.rabbitmq
@pytest.mark.parametrize("protect", [False, True], ids=["clear", "protected"])
def test_the_library_peer_finds_the_kit_in_the_vendors_own_ar_and_the_kit_passes(serve_ar, rabbitmq, protect):
    """With ``--protect`` the peer's certificates are in serve's AR (put there as a vendor does) and the kit reads
    them from there; the kit publishes its own there for the run, and the peer finds them there."""
    kit = 9_991_180 + protect
    exchange = rabbitmq.exchange(min_receive_wait=0.01)
    exchange.declare(SERVICE)  # the vendor's queues exist before any run
    peers: list[LibraryPeer] = []
    seen_during_run: list[tuple[bool, dict]] = []
    own = _publish_peer_certificates(serve_ar) if protect else None

    def start_peer(settings: list[tuple[str, str]]) -> None:
        values = dict(settings)
        certificates = httpx.get(f"{serve_ar}/ar/api/parties/{kit}/certificates", timeout=5)
        seen_during_run.append((_registered(serve_ar, kit), certificates.json() if certificates.status_code == 200 else {}))
        basic = values["AR (SOAP 1.1, Basic binding: the library's default)"]
        protection = None
        if own is not None:
            protection = PeerProtection(own.signing.certificate, own.signing.key, own.encryption.certificate,
                                        own.encryption.key, ArCertificates(basic))  # fmt: skip
        cppa = CppaClient(values["CPPA (REST v2, no authentication)"])
        peers.append(LibraryPeer(exchange, SERVICE, ArClient(basic), cppa, protection).start())

    assert not _registered(serve_ar, KIT_ORG_HER_ID)
    peer = passes_every_applicable_test(KitOptions(
            broker=rabbitmq.url, epj_her_id=SERVICE, patients=[unknown_patient_fnr(set())], kit_her_id=kit,
            only=APPLICABLE, sync_timeout=3, apprec_timeout=5, manual_timeout=0,
            register_in=serve_ar, operator_token=TOKEN, protect=protect,
        ), start_peer, peers, exchange)
    # the peer knew only serve's AR and CPPA: it resolved the kit there and answered to the queues found there
    [(registered, certificates)] = seen_during_run
    assert registered
    if protect:  # the kit's certificates were published in serve's AR, and the peer opened and sealed with them
        assert certificates["signing"]["pem"] and certificates["encryption"]["pem"]
        assert peer.protection.opened > 0 and peer.protection.sealed > 0
    assert peer.ar.url == f"{serve_ar}/ar/soap/Basic" and kit in peer.ar.lookups
    assert peer.cppa.base == f"{serve_ar}/cppa"
    answers = [e for e in peer.sent if not e.properties.get("errorCondition")]
    assert answers and {e.to for e in answers} <= {f"{kit}_async", f"{kit}_syncreply"}
    assert all(e.cpa_id for e in answers)
    # and at the end the kit took its party (and the organisation it added) out again
    assert not _registered(serve_ar, kit) and not _registered(serve_ar, KIT_ORG_HER_ID)
    assert _registered(serve_ar, SERVICE)  # the vendor's own entry is untouched


BROKER = "amqp://guest:guest@127.0.0.1:1"
"""Never connected to: every refusal below comes before the kit opens the broker."""


def _run(*extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(_app(), [
        "conformance", "--broker", BROKER, "--epj-her-id", str(SERVICE), "--patient", unknown_patient_fnr(set()),
        "--only", "DH-CON-001", *extra,
    ], env={"DIGIHELSE_OPERATOR_TOKEN": ""})  # fmt: skip
    return result.exit_code, _said(result)


def test_an_ar_refusing_the_kit_without_the_operator_token_is_exit_2_naming_both_options(serve_ar):
    code, said = _run("--register-in", serve_ar, "--kit-her-id", "9991183")
    assert code == 2, said
    assert f"--register-in {serve_ar}: the AR refused to register the kit's party" in said
    assert "401" in said and "--operator-token" in said
    assert not _registered(serve_ar, 9_991_183) and not _registered(serve_ar, KIT_ORG_HER_ID)


def test_a_kit_her_id_already_in_that_ar_is_refused_and_the_organisation_posted_before_it_is_taken_out(serve_ar):
    taken = 9_991_182
    operator = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.post(f"{serve_ar}/ar/api/parties", headers=operator,
                      json={"herId": taken, "name": "Noen andre", "type": "Service"}).status_code == 201  # fmt: skip
    try:
        code, said = _run("--register-in", serve_ar, "--operator-token", TOKEN, "--kit-her-id", str(taken))
    finally:
        httpx.delete(f"{serve_ar}/ar/api/parties/{taken}", headers=operator)
    assert code == 2, said
    assert f"the AR refused to register the kit's party {taken}: 409" in said
    assert not _registered(serve_ar, KIT_ORG_HER_ID)  # posted first, removed again: nothing half-registered


def test_an_epj_not_registered_in_that_ar_is_exit_2_naming_the_her_id_option(serve_ar):
    code, said = _run("--register-in", serve_ar, "--operator-token", TOKEN, "--service-her-id", "9986199")
    assert code == 2, said
    assert "--service-her-id 9986199 is not registered in that AR" in said
    assert not _registered(serve_ar, KIT_ORG_HER_ID)


def test_a_bad_or_unreachable_url_is_exit_2_naming_the_option():
    code, said = _run("--register-in", "ftp://127.0.0.1/ar")
    assert code == 2 and "--register-in 'ftp://127.0.0.1/ar': expected the http:// URL" in said
    nobody = f"http://127.0.0.1:{free_port()}"
    code, said = _run("--register-in", nobody)
    assert code == 2 and f"--register-in {nobody}: cannot reach {nobody}/ar/api/parties/{SERVICE}" in said


def test_register_in_is_an_alternative_to_serving_registries_and_to_declaring_parties(tmp_path):
    common = dict(broker=BROKER, epj_her_id=SERVICE, patients=[unknown_patient_fnr(set())],
                  register_in="http://127.0.0.1:8080")  # fmt: skip
    with pytest.raises(ValidationError, match="--register-in cannot be combined with --registries"):
        KitOptions(**common, registries="127.0.0.1:8900")
    with pytest.raises(ValidationError, match="--register-in cannot be combined with --parties"):
        KitOptions(**common, parties=tmp_path / "parties.json")
    with pytest.raises(ValidationError, match="--operator-token needs --register-in"):
        KitOptions(broker=BROKER, epj_her_id=SERVICE, patients=common["patients"], operator_token=TOKEN)
    assert base_url("http://127.0.0.1:8080/ar/") == "http://127.0.0.1:8080"  # serve's AR URL is taken for its host too


def test_an_operator_token_from_the_environment_is_ignored_without_register_in_but_an_explicit_one_is_refused():
    """DIGIHELSE_OPERATOR_TOKEN is set for digihelse serve; a kit run that registers nowhere must not trip on it."""
    args = ["conformance", "--broker", BROKER, "--epj-her-id", str(SERVICE), "--patient", unknown_patient_fnr(set()),
            "--only", "NO-SUCH-TEST"]  # fmt: skip
    result = CliRunner().invoke(_app(), args, env={"DIGIHELSE_OPERATOR_TOKEN": TOKEN})
    assert result.exit_code == 2 and "NO-SUCH-TEST" in result.output and "operator-token" not in result.output
    result = CliRunner().invoke(_app(), [*args, "--operator-token", TOKEN], env={"DIGIHELSE_OPERATOR_TOKEN": ""})
    assert result.exit_code == 2 and "--operator-token needs --register-in" in _said(result)
