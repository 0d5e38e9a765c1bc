"""HTTP adapters for AR and CPPA: FastAPI routers over the sans-IO :class:`~mocks.registry.core.Registry`.

The routers carry no prefix; the app mounts them (``include_router(ar_router(...),
prefix="/ar")``, ``prefix="/cppa"``) so that the same router can sit wherever a
vendor's configuration expects NHN's services.

Look-ups are open; with an :class:`~mocks.kernel.auth.OperatorGate` (``digihelse
serve`` gives one) every write — registration, removal, certificate publication —
needs the operator token. This differs from NHN, where these endpoints sit behind
username/password (AR) and HelseID client credentials with scope
``nhn:cppa/access`` (CPPA): the harness serves them on loopback to a test EPJ,
and a client's own AR/CPPA credentials are not checked.

Endpoints are module-level functions; :func:`ar_router` and :func:`cppa_router`
hand them the registry through a router-level dependency (:mod:`mocks.kernel.routing`).

Error shapes copy what a client of the real service must already handle: AR is
a WCF service, and WCF answers every SOAP fault with HTTP 500 and the fault in
the body (also for ``s:Sender`` faults such as an unknown HER-id); ``/soap`` speaks
SOAP 1.2 (``application/soap+xml``) and SOAP 1.1 (``text/xml``, NHN's Basic binding),
``/soap/Basic`` only 1.1, each answering in the version asked; another content type gets 415, XML it cannot read 400 (the fault
reason starts with the hardened parser's rule, e.g. ``xml.doctype-forbidden``), a
body over the parser's 10 MB limit 413 ``xml.too-large`` without being buffered. The JSON
test API reports a refused registration as ``{"detail": [{"field", "rule",
"message"}]}`` with 422, or 409 when the HER-id is taken.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mocks.kernel.auth import OperatorGate
from mocks.kernel.http_guard import JSON_BODY_LIMIT, BodyRefused, check_json_text, read_body, xml_text
from mocks.kernel.routing import Provide, provided
from mocks.wire.safexml import DEFAULT_MAX_BYTES, XmlRejected

from mocks.security.certificates import key_usage_names, pem, thumbprint

from mocks.registry import ar_soap, ar_soap11, cppa_xml
from mocks.registry.core import Agreement, Registry
from mocks.registry.model import (
    CommunicationParty,
    NoAgreement,
    NoProfile,
    PartyCertificates,
    PartyNotFound,
    PartyType,
    RegistryError,
)

XML_MEDIA_TYPE = "application/xml"

AR_TEXT_LIMIT = 200
"""Longest name, municipality, vendor, queue address or process id accepted (characters)."""

_JSON_FIELD = {
    "her_id": "herId",
    "parent_her_id": "parentHerId",
    "municipality": "municipality",
    "name": "name",
    "role": "role",
    "processes": "processes",
}


# -- JSON models ---------------------------------------------------------------------------------


class QueuesOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    async_: str = Field(alias="async")
    sync: str
    error: str


class PartyOut(BaseModel):
    herId: int
    name: str
    type: PartyType
    parentHerId: int | None
    municipality: str | None
    municipalityName: str | None = None
    queues: QueuesOut
    processes: list[str]
    active: bool
    role: str
    vendor: str | None = None

    @classmethod
    def of(cls, party: CommunicationParty) -> "PartyOut":
        return cls(
            herId=party.her_id,
            name=party.name,
            type=party.type,
            parentHerId=party.parent_her_id,
            municipality=party.municipality,
            municipalityName=party.municipality_name,
            queues=QueuesOut(async_=party.async_queue, sync=party.sync_queue, error=party.error_queue),
            processes=sorted(party.processes),
            active=party.active,
            role=party.role,
            vendor=party.vendor,
        )


_Text = xml_text(AR_TEXT_LIMIT)
"""Every text of a party reaches XML (AR's SOAP answers, CPPA documents): XML 1.0's characters only, and bounded."""


class QueuesIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    async_: _Text | None = Field(default=None, alias="async")
    sync: _Text | None = None
    error: _Text | None = None


class PartyIn(BaseModel):
    """A test party to register. ``herId`` may be a string so that ``"0123"`` gets a rule, not a silent 123."""

    model_config = ConfigDict(extra="forbid")

    herId: int | str
    name: _Text
    type: PartyType = PartyType.SERVICE
    parentHerId: int | None = None
    municipality: _Text | None = None
    municipalityName: _Text | None = None
    active: bool = True
    processes: list[_Text] = Field(default_factory=list, max_length=64)
    role: Literal["Innbygger", "Helsepersonell"] = "Helsepersonell"
    vendor: _Text | None = None
    queues: QueuesIn | None = None

    def to_party(self) -> CommunicationParty:
        queues = self.queues or QueuesIn()
        return CommunicationParty(
            her_id=self.herId,  # type: ignore[arg-type]  # the core validates and normalises it
            name=self.name,
            type=self.type,
            parent_her_id=self.parentHerId,
            municipality=self.municipality,
            municipality_name=self.municipalityName,
            active=self.active,
            async_queue=queues.async_ or "",
            sync_queue=queues.sync or "",
            error_queue=queues.error or "",
            processes=frozenset(self.processes),
            role=self.role,
            vendor=self.vendor,
        )


class CertificateOut(BaseModel):
    """One published certificate: the PEM a client loads, and what a person checks it by."""

    pem: str
    thumbprint: str
    """SHA-1 of the DER, upper-case hex (.NET ``Thumbprint``)."""
    subject: str
    issuer: str
    serialNumber: str
    notBefore: datetime
    notAfter: datetime
    keyUsage: list[str]

    @classmethod
    def of(cls, der: bytes | None) -> "CertificateOut | None":
        if der is None:
            return None
        certificate = x509.load_der_x509_certificate(der)
        return cls(
            pem=pem(certificate),
            thumbprint=thumbprint(certificate),
            subject=certificate.subject.rfc4514_string(),
            issuer=certificate.issuer.rfc4514_string(),
            serialNumber=f"{certificate.serial_number:X}",
            notBefore=certificate.not_valid_before_utc,
            notAfter=certificate.not_valid_after_utc,
            keyUsage=key_usage_names(certificate),
        )


class CertificatesOut(BaseModel):
    """What AR publishes for a party: ``GetCertificateDetailsForValidatingSignature`` and ``…ForEncryption``."""

    herId: int
    signing: CertificateOut | None
    encryption: CertificateOut | None

    @classmethod
    def of(cls, certificates: PartyCertificates) -> "CertificatesOut":
        return cls(
            herId=certificates.her_id,
            signing=CertificateOut.of(certificates.signing),
            encryption=CertificateOut.of(certificates.encryption),
        )


class CertificatesIn(BaseModel):
    """A party's public certificates in PEM; a field left out or null publishes none of that kind."""

    model_config = ConfigDict(extra="forbid")

    signing: str | None = None
    encryption: str | None = None

    def to_der(self) -> dict[str, bytes | None]:
        """DER by field name; :class:`RegistryError` naming the field whose PEM does not load."""
        out: dict[str, bytes | None] = {}
        for name in ("signing", "encryption"):
            text = getattr(self, name)
            if text is None:
                out[name] = None
                continue
            try:
                out[name] = x509.load_pem_x509_certificate(text.encode()).public_bytes(Encoding.DER)
            except ValueError as exc:
                raise RegistryError(name, "certificate.invalid", f"not a PEM X.509 certificate: {exc}") from None
        return out


def _inlined_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with ``$defs`` inlined, fit to embed in an OpenAPI request body."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    return resolve(schema)


def _problem(status: int, errors: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse({"detail": errors}, status_code=status)


def _registry_problem(exc: RegistryError) -> JSONResponse:
    status = 409 if exc.rule == "herid.duplicate" else 422
    return _problem(status, [{"field": _JSON_FIELD.get(exc.field, exc.field), "rule": exc.rule, "message": exc.message}])


def _validation_problem(exc: ValidationError) -> JSONResponse:
    errors = [
        {
            "field": ".".join(str(part) for part in err["loc"]) or "body",
            "rule": f"request.{err['type']}",
            "message": err["msg"],
        }
        for err in exc.errors(include_url=False)
    ]
    return _problem(422, errors)


# -- AR ------------------------------------------------------------------------------------------


_SOAP_MEDIA = {"1.2": "application/soap+xml; charset=utf-8", "1.1": "text/xml; charset=utf-8"}


def _soap(body: bytes, status: int = 200) -> Response:
    return Response(content=body, status_code=status, media_type=ar_soap.CONTENT_TYPE)


@dataclass(frozen=True, slots=True)
class ArService:
    """What AR's endpoints work with; :func:`ar_router` puts it on each request it answers."""

    registry: Registry
    on_register: Callable[[CommunicationParty], None] | None
    clock: Callable[[], datetime]


async def _ar(request: Request) -> ArService:
    return provided(request, "ar", ArService)


Ar = Annotated[ArService, Depends(_ar)]


def _in_version(version: str, xml: bytes, status: int = 200) -> Response:
    """A SOAP 1.2 document from :mod:`.ar_soap`, sent in the SOAP version the request used."""
    if version == "1.1":
        return Response(content=ar_soap11.from_soap12(xml), status_code=status, media_type=ar_soap11.CONTENT_TYPE)
    return _soap(xml, status)


async def _answer(ar: ArService, request: Request, versions: tuple[str, ...]) -> Response:
    """One SOAP call; the SOAP version is negotiated on the content type, the answer uses the same one."""
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    version = {"application/soap+xml": "1.2", "text/xml": "1.1"}.get(media)
    if version not in versions:
        expected = " or ".join(f"'{_SOAP_MEDIA[v]}'" for v in versions)
        return Response(
            content=f"Cannot process the message because the content type '{content_type}' "
            f"was not the expected type {expected}.",
            status_code=415,
            media_type="text/plain",
        )
    try:  # read no more than the parser would accept: a 1 GB upload is refused, not buffered
        body = await read_body(request, DEFAULT_MAX_BYTES)
    except BodyRefused:
        declared = request.headers.get("content-length", "")
        said = f"is {int(declared):,} bytes; the limit is" if declared.isdigit() else "exceeds the limit of"
        return _in_version(version, ar_soap.soap_fault(f"xml.too-large: document {said} {DEFAULT_MAX_BYTES:,} bytes",
                                                       subcode="a:InvalidMessage"), 413)  # fmt: skip
    try:
        call = ar_soap.parse_request(body, content_type, versions=(version,),
                                     soap_action=ar_soap11.soap_action(request.headers.get("soapaction")))  # fmt: skip
    except XmlRejected as exc:
        return _in_version(version, ar_soap.soap_fault(f"{exc.rule}: {exc.detail}", subcode="a:InvalidMessage"), 400)
    except ar_soap.SoapRequestError as exc:
        return _in_version(version, ar_soap.soap_fault(exc.message, subcode=exc.subcode), 500)
    return _in_version(version, *_dispatch(ar, call))


def _dispatch(ar: ArService, call: ar_soap.SoapRequest) -> tuple[bytes, int]:
    """AR's answer to one parsed call, as a SOAP 1.2 document and its HTTP status (WCF: 500 for every fault)."""
    registry = ar.registry
    if call.operation == ar_soap.OP_PING:
        return ar_soap.ping_response(), 200
    if call.operation == ar_soap.OP_SEARCH_BY_ID:
        found = registry.find(int(call.search_id)) if (call.search_id or "").strip().isdigit() else None
        parents = {p.her_id: p for p in [registry.parent_of(found)] if p is not None} if found else {}
        return ar_soap.search_by_id_response([found] if found else [], parents), 200
    if call.operation in ar_soap.CERTIFICATE_OPERATIONS:
        try:
            published = registry.certificates(call.her_id or 0)
        except PartyNotFound:
            return ar_soap.not_found_fault(), 500
        der = published.encryption if call.operation == ar_soap.OP_CERT_ENCRYPTION else published.signing
        return ar_soap.certificate_details_response(call.operation, der), 200
    if call.operation not in (ar_soap.OP_GET_DETAILS, ar_soap.OP_ORG_DETAILS):
        return ar_soap.soap_fault(
            f"The message with Action '{ar_soap.ACTION_BASE}{call.operation}' cannot be processed at the "
            "receiver, due to a ContractFilter mismatch at the EndpointDispatcher.",
            subcode="a:ActionNotSupported",
        ), 500
    party = None if call.her_id is None else registry.find(call.her_id)
    if party is None or (call.operation == ar_soap.OP_ORG_DETAILS and party.type is not PartyType.ORGANIZATION):
        return ar_soap.not_found_fault(), 500
    try:
        details = ar_soap.communication_party_details_response(
            party, registry.parent_of(party), registry.children(party.her_id), server_time=ar.clock(),
            operation=call.operation,
        )
    except ValueError as exc:  # a stored text XML cannot carry: a SOAP fault, never a plain-text 500
        return ar_soap.soap_fault(f"ar.unwritable-party: {exc}", subcode="a:InternalServiceFault"), 500
    return details, 200


async def soap12(request: Request, ar: Ar) -> Response:
    return await _answer(ar, request, ("1.2", "1.1"))


async def soap11(request: Request, ar: Ar) -> Response:
    return await _answer(ar, request, ("1.1",))


def list_parties(ar: Ar) -> list[PartyOut]:
    return [PartyOut.of(p) for p in ar.registry.parties()]


def get_party(herId: int, ar: Ar) -> PartyOut:  # noqa: N803 - path parameter named as in AR
    try:
        return PartyOut.of(ar.registry.get(herId))
    except PartyNotFound as exc:
        raise HTTPException(404, exc.message) from None


def get_certificates(herId: int, ar: Ar) -> CertificatesOut:  # noqa: N803
    try:
        return CertificatesOut.of(ar.registry.certificates(herId))
    except PartyNotFound as exc:
        raise HTTPException(404, exc.message) from None


def put_certificates(herId: int, payload: CertificatesIn, ar: Ar) -> Any:  # noqa: N803
    try:
        published = ar.registry.publish_certificates(herId, **payload.to_der())
    except PartyNotFound as exc:
        raise HTTPException(404, exc.message) from None
    except RegistryError as exc:
        return _registry_problem(exc)
    return CertificatesOut.of(published)


async def register_party(request: Request, ar: Ar) -> Any:
    # The body is validated here rather than by FastAPI so that every refusal,
    # from pydantic or from the registry's rules, has the same field/rule shape.
    try:
        raw = await read_body(request, JSON_BODY_LIMIT)
    except BodyRefused as exc:
        problem = json.loads(exc.response.body)["detail"]
        return _problem(413, [{key: problem[key] for key in ("field", "rule", "message")}])
    try:
        check_json_text(raw)
        payload = PartyIn.model_validate(json.loads(raw or b"null"))
    except BodyRefused as exc:  # not UTF-8, or a lone surrogate: same shape as every other refusal here
        [error] = json.loads(exc.response.body)["detail"]
        field = ".".join(str(part) for part in error["loc"][1:]) or "body"
        return _problem(422, [{"field": field, "rule": error["type"], "message": error["msg"]}])
    except json.JSONDecodeError as exc:
        return _problem(422, [{"field": "body", "rule": "request.json_invalid", "message": str(exc)}])
    except ValidationError as exc:
        return _validation_problem(exc)
    try:
        party = await run_in_threadpool(ar.registry.register, payload.to_party())
    except RegistryError as exc:
        return _registry_problem(exc)
    if ar.on_register is not None:
        await run_in_threadpool(ar.on_register, party)
    return JSONResponse(PartyOut.of(party).model_dump(mode="json", by_alias=True), status_code=201)


def remove_party(herId: int, ar: Ar) -> Any:  # noqa: N803
    try:
        return PartyOut.of(ar.registry.remove(herId))
    except PartyNotFound as exc:
        raise HTTPException(404, exc.message) from None
    except RegistryError as exc:
        return _problem(409, [{"field": "herId", "rule": exc.rule, "message": exc.message}])


def ar_router(
    registry: Registry,
    on_register: Callable[[CommunicationParty], None] | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    operator: OperatorGate | None = None,
) -> APIRouter:
    """AR: the SOAP 1.2 endpoint at ``/soap`` and a JSON test API at ``/api/parties``.

    ``on_register`` runs once after a party is stored (the app creates its
    queues on the broker); ``clock`` supplies AR's ``ServerTime``. With ``operator``
    every write (registration, removal, certificate publication) needs the operator
    token; look-ups stay open, as NHN's test registries are to approved clients.
    """
    service = ArService(registry, on_register, clock or _local_now)
    router = APIRouter(tags=["AR"], dependencies=[Depends(Provide("ar", service))])
    writes = [Depends(operator)] if operator is not None else []
    unknown = {404: {"description": "unknown HER-id"}}
    router.add_api_route(
        "/soap", soap12, methods=["POST"],
        response_class=Response,
        responses={200: {"content": {"application/soap+xml": {}, "text/xml": {}}}, 500: {"description": "SOAP fault"}},
        summary="AR SOAP endpoint: SOAP 1.2 (WSHttpBinding) or 1.1 (BasicHttpBinding) by content type",
    )  # fmt: skip
    router.add_api_route(
        "/soap/Basic", soap11, methods=["POST"],
        response_class=Response,
        responses={200: {"content": {"text/xml": {}}}, 500: {"description": "SOAP fault"}},
        summary="AR SOAP 1.1 endpoint (BasicHttpBinding, NHN's /v1/AR/Basic)",
    )  # fmt: skip
    router.add_api_route("/api/parties", list_parties, methods=["GET"], response_model=list[PartyOut],
                         summary="All communication parties")
    router.add_api_route("/api/parties/{herId}", get_party, methods=["GET"], response_model=PartyOut,
                         responses=unknown, summary="One communication party")
    router.add_api_route("/api/parties/{herId}/certificates", get_certificates, methods=["GET"],
                         response_model=CertificatesOut, responses=unknown,
                         summary="The party's signing and encryption certificates")
    router.add_api_route(
        "/api/parties/{herId}/certificates", put_certificates, methods=["PUT"],
        response_model=CertificatesOut,
        responses={**unknown, 422: {"description": "field and rule broken"}},
        summary="Publish the party's signing and encryption certificates (PEM)",
        dependencies=writes,
    )  # fmt: skip
    router.add_api_route(
        "/api/parties", register_party, methods=["POST"],
        status_code=201,
        response_model=PartyOut,
        responses={409: {"description": "HER-id already registered"}, 422: {"description": "field and rule broken"}},
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": _inlined_schema(PartyIn)}}}
        },
        summary="Register a test party",
        dependencies=writes,
    )  # fmt: skip
    router.add_api_route(
        "/api/parties/{herId}", remove_party, methods=["DELETE"],
        response_model=PartyOut,
        responses={**unknown, 409: {"description": "the party has children"}},
        summary="Remove a test party (and its certificates)",
        dependencies=writes,
    )  # fmt: skip
    return router


def _local_now() -> datetime:
    return datetime.now().astimezone()


# -- CPPA ----------------------------------------------------------------------------------------


def _xml(body: bytes) -> Response:
    return Response(content=body, media_type=XML_MEDIA_TYPE)


async def _registry(request: Request) -> Registry:
    return provided(request, "cppa", Registry)


Parties = Annotated[Registry, Depends(_registry)]


def profile(herId: int, registry: Parties) -> Response:  # noqa: N803
    try:
        party = registry.profile(herId)
    except (PartyNotFound, NoProfile) as exc:
        raise HTTPException(404, exc.message) from None
    return _xml(
        cppa_xml.build_cpp(
            party, time_to_perform=registry.time_to_perform, certificates=registry.certificates(party.her_id)
        )
    )


def agreement_for_pair(herIdA: int, herIdB: int, registry: Parties) -> Response:  # noqa: N803
    try:
        agreement = registry.agreement(herIdA, herIdB)
    except (PartyNotFound, NoAgreement) as exc:
        raise HTTPException(404, exc.message) from None
    return _xml(_cpa(registry, agreement))


def agreement_by_id(cpaId: str, registry: Parties) -> Response:  # noqa: N803
    try:
        agreement = registry.agreement_by_id(cpaId)
    except NoAgreement as exc:
        raise HTTPException(404, exc.message) from None
    return _xml(_cpa(registry, agreement))


_XML_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {XML_MEDIA_TYPE: {}}},
    404: {"description": "unknown party, no profile, or no agreement"},
}


def cppa_router(registry: Registry) -> APIRouter:
    """CPPA REST: ``/Profiles/{herId}``, ``/Agreements/HerIds/{a}/{b}``, ``/Agreements/{cpaId}`` (XML)."""
    router = APIRouter(tags=["CPPA"], dependencies=[Depends(Provide("cppa", registry))])
    router.add_api_route("/Profiles/{herId}", profile, methods=["GET"], response_class=Response,
                         responses=_XML_RESPONSES, summary="CPP of a party")
    router.add_api_route("/Agreements/HerIds/{herIdA}/{herIdB}", agreement_for_pair, methods=["GET"],
                         response_class=Response, responses=_XML_RESPONSES, summary="CPA between two parties")
    router.add_api_route("/Agreements/{cpaId}", agreement_by_id, methods=["GET"], response_class=Response,
                         responses=_XML_RESPONSES, summary="CPA by id")
    return router


def _cpa(registry: Registry, agreement: Agreement) -> bytes:
    return cppa_xml.build_cpa(
        agreement.cpa_id,
        agreement.first,
        agreement.second,
        agreement.processes,
        time_to_perform=registry.time_to_perform,
        certificates={p.her_id: registry.certificates(p.her_id) for p in (agreement.first, agreement.second)},
    )
