"""AR's two SOAP bindings, called by a client no one here wrote: zeep, with NHN's published AR WSDL.

Helsenorge.Registries' default binding is Basic (SOAP 1.1, ``/v1/AR/Basic``); NHN's
WSDL also declares WSHttpBinding (SOAP 1.2). Both must answer every operation the
library calls, in the shape the WSDL gives, or a vendor's EPJ cannot resolve the
kit's party.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from conformance.registries import ServedRegistries
from mocks.harness.broker import free_port
from mocks.registry import ar_soap
from mocks.registry.core import Registry
from mocks.registry.seed import SYNTHETIC_HER_ID_RANGE, municipality_her_id, seed
from mocks.security.certificates import der, party_credentials

from tests.conftest import KS

zeep = pytest.importorskip("zeep", reason="zeep (a SOAP client from the test extra) is not installed")

WSDL = KS / "adresseregisteret-client" / "wsdl" / "nhn-adresseregisteret-sok.wsdl"
SERVICE = "CommunicationParty"
BINDINGS = {
    "BasicHttpBinding_ICommunicationPartyService": "/ar/soap/Basic",
    "WSHttpBinding_ICommunicationPartyService": "/ar/soap",
}
ULSTEIN = municipality_her_id("1516")
ULSTEIN_HJEMMESYKEPLEIE = municipality_her_id("1516", 1)


@pytest.fixture(scope="module")
def served():
    if not WSDL.exists():
        pytest.skip(f"NHN's AR WSDL is not in the shared fixtures ({WSDL})")
    registry = Registry(her_id_range=SYNTHETIC_HER_ID_RANGE)
    seed(registry)
    with ServedRegistries(registry, "127.0.0.1", free_port()) as server:
        yield server, registry


def _client(served, binding: str):
    server, _ = served
    client = zeep.Client(str(WSDL))
    return client.create_service(f"{{http://register.nhn.no/CommunicationParty}}{binding}",
                                 server.base_url + BINDINGS[binding])  # fmt: skip


@pytest.mark.parametrize("binding", sorted(BINDINGS))
def test_zeep_calls_every_operation_the_library_uses(served, binding):
    _, registry = served
    service = _client(served, binding)
    assert service.Ping()
    details = service.GetCommunicationPartyDetails(herId=ULSTEIN_HJEMMESYKEPLEIE)
    assert details.HerId == ULSTEIN_HJEMMESYKEPLEIE and details.ParentHerId == ULSTEIN
    addresses = {a.TypeCodeValue: a.Address for a in details.ElectronicAddresses.ElectronicAddress}
    party = registry.get(ULSTEIN_HJEMMESYKEPLEIE)
    assert addresses == {"E_SB_ASYNC": party.async_queue, "E_SB_SYNC": party.sync_queue,
                         "E_SB_ERROR": party.error_queue}  # fmt: skip
    org = service.GetOrganizationDetails(herId=ULSTEIN)
    assert org.HerId == ULSTEIN and org.Name == registry.get(ULSTEIN).name
    found = service.SearchById(id=str(ULSTEIN_HJEMMESYKEPLEIE))
    assert [p.HerId for p in found] == [ULSTEIN_HJEMMESYKEPLEIE]  # zeep unwraps ArrayOfCommunicationParty
    assert not service.SearchById(id="9999999")


@pytest.mark.parametrize("binding", sorted(BINDINGS))
def test_zeep_reads_published_certificates_and_their_absence(served, binding):
    _, registry = served
    her_id = municipality_her_id("1577", 2)
    service = _client(served, binding)
    registry.publish_certificates(her_id, encryption=None, signing=None)
    absent = service.GetCertificateDetailsForEncryption(herId=her_id)  # nil result: zeep gives empty fields
    assert absent is None or absent.Certificate is None
    creds = party_credentials(her_id, "Volda", valid_from=datetime(2025, 1, 1, tzinfo=timezone.utc),
                              valid_to=datetime(2030, 1, 1, tzinfo=timezone.utc))  # fmt: skip
    registry.publish_certificates(her_id, encryption=der(creds.encryption.certificate),
                                  signing=der(creds.signing.certificate))  # fmt: skip
    enc = service.GetCertificateDetailsForEncryption(herId=her_id)
    sig = service.GetCertificateDetailsForValidatingSignature(herId=her_id)
    assert enc.Certificate == der(creds.encryption.certificate) and sig.Certificate == der(creds.signing.certificate)


@pytest.mark.parametrize("binding", sorted(BINDINGS))
def test_zeep_gets_ar_fault_for_unknown_her_id(served, binding):
    service = _client(served, binding)
    with pytest.raises(zeep.exceptions.Fault) as caught:
        service.GetCommunicationPartyDetails(herId=9_999_999)
    assert caught.value.message == ar_soap.NOT_FOUND_MESSAGE
