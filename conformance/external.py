"""The kit's party in an AR the vendor already runs (``--register-in URL``), instead of serving its own.

A vendor whose EPJ is already configured against an AR (``digihelse serve``'s, at
``http://HOST:PORT``) should not have to re-point it at the kit's. So the kit reads the EPJ's
entries from that AR, posts its own party there (``POST /ar/api/parties``, the way
``digihelse serve`` takes registrations, with the operator token as ``Authorization: Bearer``
when the AR demands one — :class:`mocks.kernel.auth.OperatorGate`) and, with ``--protect``, its
certificates (``PUT /ar/api/parties/{herId}/certificates``). The kit's CPP is then that CPPA's
to publish: ``digihelse serve``'s CPPA has no write endpoint and derives every profile and
agreement from the AR entries, so the kit checks ``GET /cppa/Profiles/{herId}`` answers and reads
the CPA for each service from ``GET /cppa/Agreements/HerIds/{kit}/{service}``, as the EPJ does.

At the end the kit removes what it registered (``DELETE /ar/api/parties/{herId}``, children
first). A registration refused half-way is undone the same way before the error is raised, so a
failed start leaves nothing behind. A removal the AR refuses is logged with its reason (the
party stays; remove it by hand with the same DELETE).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from pydantic import ValidationError

from mocks.registry.cppa_xml import parse_cpa
from mocks.registry.http import CertificatesIn, PartyIn, PartyOut
from mocks.registry.model import CommunicationParty, RegistryError
from mocks.security.certificates import pem

from conformance.parties import Agreement
from conformance.registries import RegistryUrls

log = logging.getLogger(__name__)
OPTION = "--register-in"


class RegistrationError(ValueError):
    """The AR cannot be used as asked (unreachable, refused, missing the EPJ); the message names the option."""


def base_url(value: str) -> str:
    """The URL ``digihelse serve`` runs at (``http://HOST:PORT``; a trailing ``/ar`` is taken off)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{OPTION} {value!r}: expected the http:// URL of the AR's host, e.g. http://127.0.0.1:8080 "
                         "(digihelse serve's; the AR is at /ar, its CPPA at /cppa)")  # fmt: skip
    base = value.rstrip("/")
    return base[: -len("/ar")] if base.endswith("/ar") else base


def _detail(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return f"{response.status_code} {response.reason_phrase}" + (f": {text[:300]}" if text else "")


@dataclass
class ExternalRegistry:
    """An AR/CPPA at ``base`` (``digihelse serve``'s layout: ``/ar/api/parties``, ``/cppa/…``)."""

    base: str
    operator_token: str | None = None
    timeout: float = 10.0
    registered: list[int] = field(default_factory=list)
    """HER-ids the kit posted, in order (parents first); removed in reverse."""

    def __post_init__(self) -> None:
        headers = {"Authorization": f"Bearer {self.operator_token}"} if self.operator_token else {}
        self._http = httpx.Client(base_url=self.base, timeout=self.timeout, headers=headers)

    @property
    def urls(self) -> RegistryUrls:
        return RegistryUrls(f"{self.base}/ar/soap", f"{self.base}/ar/soap/Basic", f"{self.base}/ar/api/parties",
                            f"{self.base}/cppa")  # fmt: skip

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise RegistrationError(f"{OPTION} {self.base}: cannot reach {self.base}{path}: {exc}") from None

    # ------------------------------------------------------------------ reading the EPJ's entries
    def party(self, her_id: int, option: str) -> CommunicationParty:
        """The EPJ's entry for ``her_id`` as that AR holds it (``option`` names where the HER-id came from)."""
        response = self._call("GET", f"/ar/api/parties/{her_id}")
        if response.status_code == 404:
            raise RegistrationError(f"{OPTION} {self.base}: {option} {her_id} is not registered in that AR; register "
                                    "the EPJ's organisation and services there first (POST /ar/api/parties)")  # fmt: skip
        if response.status_code != 200:
            raise RegistrationError(f"{OPTION} {self.base}: reading {her_id} from the AR failed: {_detail(response)}")
        try:
            return PartyIn.model_validate(response.json()).to_party()
        except (ValueError, ValidationError) as exc:
            raise RegistrationError(f"{OPTION} {self.base}: GET /ar/api/parties/{her_id} is not an AR party: "
                                    f"{exc}") from None  # fmt: skip

    def certificates(self, her_id: int) -> dict[str, bytes | None]:
        """The EPJ's published certificates (DER by kind), for ``--protect`` without ``--epj-certificates``."""
        response = self._call("GET", f"/ar/api/parties/{her_id}/certificates")
        if response.status_code != 200:
            raise RegistrationError(f"{OPTION} {self.base}: reading the certificates of {her_id} failed: "
                                    f"{_detail(response)}")  # fmt: skip
        body = response.json()
        try:
            return CertificatesIn(signing=(body.get("signing") or {}).get("pem"),
                                  encryption=(body.get("encryption") or {}).get("pem")).to_der()  # fmt: skip
        except RegistryError as exc:
            raise RegistrationError(f"{OPTION} {self.base}: certificate of {her_id}: {exc.message}") from None

    # ------------------------------------------------------------------ the kit's own entries
    def register(self, parties: list[CommunicationParty], certificates: dict[int, dict[str, str]] | None = None) -> None:
        """Post ``parties`` (parents first) and publish ``certificates`` (HER-id → PEM by kind); all or nothing."""
        try:
            for party in parties:
                body = PartyOut.of(party).model_dump(mode="json", by_alias=True)
                response = self._call("POST", "/ar/api/parties", json=body)
                if response.status_code != 201:
                    raise RegistrationError(self._refusal(f"register the kit's party {party.her_id}", response))
                self.registered.append(party.her_id)
            for her_id, pems in (certificates or {}).items():
                response = self._call("PUT", f"/ar/api/parties/{her_id}/certificates", json=pems)
                if response.status_code != 200:
                    raise RegistrationError(self._refusal(f"publish the kit's certificates for {her_id}", response))
            for party in (p for p in parties if p.processes):  # an organisation without processes has no CPP
                response = self._call("GET", f"/cppa/Profiles/{party.her_id}", headers={"Accept": "application/xml"})
                if response.status_code != 200:
                    raise RegistrationError(f"{OPTION} {self.base}: the CPPA at {self.base}/cppa publishes no CPP for "
                                            f"the kit's party {party.her_id} after registration: {_detail(response)}")  # fmt: skip
        except RegistrationError:
            self.unregister()
            raise

    def _refusal(self, what: str, response: httpx.Response) -> str:
        hint = ""
        if response.status_code == 401:
            hint = " (give the AR's operator token: --operator-token, or DIGIHELSE_OPERATOR_TOKEN)"
        elif response.status_code == 409:
            hint = " (already registered: another run's leftover? remove it with DELETE /ar/api/parties/{herId}, or pick another --kit-her-id)"
        return f"{OPTION} {self.base}: the AR refused to {what}: {_detail(response)}{hint}"

    def agreement(self, kit_her_id: int, service_her_id: int) -> Agreement:
        """The CPA that CPPA gives for (kit, service), read as the kit reads a CPA."""
        response = self._call("GET", f"/cppa/Agreements/HerIds/{kit_her_id}/{service_her_id}",
                              headers={"Accept": "application/xml"})  # fmt: skip
        if response.status_code != 200:
            raise RegistrationError(f"{OPTION} {self.base}: no CPA between the kit ({kit_her_id}) and "
                                    f"{service_her_id} in that CPPA: {_detail(response)}")  # fmt: skip
        parsed = parse_cpa(response.content)
        return Agreement(parsed.cpa_id, parsed.time_to_perform)

    def unregister(self) -> list[str]:
        """Remove what :meth:`register` posted, children first; the removals refused, each with its reason."""
        problems = []
        while self.registered:
            her_id = self.registered.pop()
            try:
                response = self._call("DELETE", f"/ar/api/parties/{her_id}")
            except RegistrationError as exc:
                problems.append(str(exc))
                continue
            if response.status_code not in (200, 404):
                problems.append(f"{OPTION} {self.base}: could not remove {her_id}: {_detail(response)}")
        for problem in problems:
            log.warning("%s; remove it by hand (DELETE /ar/api/parties/{herId} with the operator token)", problem)
        return problems


def kit_certificates(credentials) -> dict[int, dict[str, str]]:
    """The kit's public certificates as ``PUT /ar/api/parties/{herId}/certificates`` takes them."""
    return {credentials.her_id: {"signing": pem(credentials.signing.certificate),
                                 "encryption": pem(credentials.encryption.certificate)}}  # fmt: skip
