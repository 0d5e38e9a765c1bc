"""One conformance run, from options to results: broker, reference EPJ if asked, parties, session, tests.

The command line and the kit's own tests both come through :func:`run_kit`, so
what the tests prove about the kit is what a vendor runs.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, Field, field_validator, model_validator

from mocks.epj.faults import Fault, fault as parse_fault
from mocks.exchange.base import Exchange
from mocks.exchange.envelope import SYNC_CALL_TIMEOUT_S
from mocks.exchange.namespace import Namespace
from mocks.wire.identifiers import fnr_problem, herid_problem
from mocks.security.certificates import load_credentials, save_credentials, thumbprint
from mocks.wire.schema import SchemaDirError, SchemaSet

from conformance.broker_url import BARE_NAMES_REFUSED, split_namespace
from conformance.inputs import MessageFactory, unknown_patient_fnr
from conformance.external import ExternalRegistry, RegistrationError, base_url, kit_certificates
from conformance.parties import DEFAULT_KIT_HER_ID, KIT_ORG_HER_ID, KIT_ORG_NAME, Agreement, KitParties
from conformance.protection import CertificateProblem, KitProtection, issue_credentials, publish
from conformance.registries import RegistryUrls, ServedRegistries, parse_host_port
from conformance.reference import DEFAULT_HER_ID_BASE, ReferenceEpj
from conformance.results import RunSettings, RunTarget, SuiteResult
from conformance.runner import Listener, run_suite
from conformance.session import Session, Target, Timing
from conformance.suite import all_tests, select
from conformance.timefmt import duration


class UsageError(ValueError):
    """The run cannot start as asked (exit code 2): bad options, unusable schemas, no broker."""


class KitOptions(BaseModel):
    """What a run is told, validated at the boundary (the command line builds one of these)."""

    broker: str | None = Field(None, description="amqp:// URL, or 'embedded' (with --reference only)")
    epj_her_id: int | None = None
    service_her_ids: list[int] = Field(default_factory=list)
    patients: list[str] = Field(default_factory=list)
    unknown_patient: str | None = None
    kit_her_id: int = DEFAULT_KIT_HER_ID
    only: list[str] = Field(default_factory=list)
    schemas: Path | None = None
    sync_timeout: float = Field(15.0, gt=0)
    apprec_timeout: float | None = Field(None, gt=0)
    manual_timeout: float = Field(300.0, ge=0)
    reference: bool = False
    fault: str | None = None
    reference_her_id_base: int = DEFAULT_HER_ID_BASE
    slow_sync_s: float | None = Field(None, gt=0, description="slow-sync: seconds before answering "
                                      "[default: the sync timeout + 1 s, so the answer is always late]")
    registries: str | None = Field(None, description="HOST:PORT to serve the kit's AR and CPPA on for the run")
    parties: Path | None = Field(None, description="JSON list of the EPJ's own AR entries, as /ar/api/parties takes them")
    protect: bool = Field(False, description="CMS sign-then-encrypt with the kit's certificates, to the EPJ's "
                          "AR-published ones; what comes back is decrypted and verified")
    reference_certificates: CertificateProblem = Field(CertificateProblem.VALID, description="with --reference and "
                                                       "--protect: publish the reference EPJ's certificates valid, "
                                                       "expired, without KeyUsage or with the usages swapped")
    epj_certificates: Path | None = Field(None, description="JSON {signing, encryption} PEM, as PUT "
                                          "/ar/api/parties/{herId}/certificates takes it: the EPJ's public "
                                          "certificates, published in the kit's AR for its organisation and services")
    kit_credentials: Path | None = Field(None, description="PEM file keeping the kit's credentials across runs "
                                         "(created when absent)")
    workers: int | None = Field(None, ge=1, description="tests run side by side, at most this many at once "
                                "[default: all]; 1 runs them one after another")
    namespace: Namespace = Field(None, description="Helsenorge.Messaging's namespace: the RabbitMQ exchange the "
                                  "kit sends through, /exchange/{namespace}/{queue}; also read from the path of "
                                  "--broker (amqp://…/NAMESPACE), as the library reads its connection string")
    register_in: str | None = Field(None, description="http:// URL of an AR the vendor already runs (digihelse "
                                    "serve's): the kit registers its party there for the run instead of serving its own")
    operator_token: str | None = Field(None, description="with --register-in: the AR's operator token, sent as "
                                       "Authorization: Bearer on registrations and removals")
    bare_names: bool = Field(False, description="the library's addressing without a namespace (bare queue names): "
                             "refused, RabbitMQ 3.x cannot route it")

    @field_validator("registries")
    @classmethod
    def _host_port(cls, value):
        if value is not None:
            parse_host_port(value)
        return value

    @field_validator("register_in")
    @classmethod
    def _register_url(cls, value):
        if value is not None:
            base_url(value)
        return value

    @field_validator("patients", "unknown_patient")
    @classmethod
    def _fnr(cls, value):
        for fnr in [value] if isinstance(value, str) else value or []:
            problem = fnr_problem(fnr)
            if problem is not None:
                raise ValueError(f"{fnr}: {problem[1]}")
        return value

    @field_validator("service_her_ids", "epj_her_id", "kit_her_id")
    @classmethod
    def _her_ids(cls, value):
        for her_id in [value] if isinstance(value, int) else value or []:
            problem = herid_problem(str(her_id))
            if problem is not None:
                raise ValueError(problem[1])
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "KitOptions":
        if self.bare_names:
            raise ValueError(BARE_NAMES_REFUSED)
        if self.broker is not None and self.broker.startswith(("amqp://", "amqps://")):
            self._namespace_from_path()
        if self.fault is not None:
            if not self.reference:
                raise ValueError("--fault needs --reference (it breaks the built-in reference EPJ)")
            if parse_fault(self.fault) is Fault.NO_TRANSPORT_CHECKS and self.protect:
                raise ValueError("--fault no-transport-checks cannot run with --protect: that reference EPJ skips "
                                 "the receiver's checks, and opening the CMS payload is one of them")
        if self.reference_certificates is not CertificateProblem.VALID and not (self.reference and self.protect):
            raise ValueError("--reference-certificates needs --reference and --protect (it breaks the reference "
                             "EPJ's published certificates)")
        if (self.epj_certificates is not None or self.kit_credentials is not None) and not self.protect:
            raise ValueError("--epj-certificates and --kit-credentials need --protect")
        if self.register_in is not None:
            for other, given in (("--reference", self.reference), ("--registries", self.registries is not None),
                                 ("--parties", self.parties is not None)):  # fmt: skip
                if given:
                    raise ValueError(f"--register-in cannot be combined with {other}: the kit registers its party in "
                                     "that AR and reads the EPJ's entries from it")  # fmt: skip
        elif self.operator_token is not None:
            raise ValueError("--operator-token needs --register-in (it is that AR's token)")
        if self.protect and not self.reference and self.epj_certificates is None and self.register_in is None:
            raise ValueError("--protect needs the EPJ's certificates (--epj-certificates FILE): the kit encrypts to "
                             "the EPJ's encryption certificate and verifies its signatures")
        if self.reference and self.epj_certificates is not None:
            raise ValueError("--epj-certificates is for a vendor's EPJ; the reference EPJ makes its own")
        if self.namespace is not None and self.broker == "embedded":
            raise ValueError("--namespace needs a RabbitMQ (an amqp:// URL, or none with --reference), not 'embedded'")
        if self.broker == "embedded" and not self.reference:
            raise ValueError("--broker embedded works only with --reference: a vendor's EPJ needs a real broker")
        if self.broker is not None and self.broker != "embedded" and not self.broker.startswith(("amqp://", "amqps://")):
            raise ValueError(f"--broker {self.broker!r} is not an amqp:// URL")
        if not self.reference:
            missing = [name for name, v in (("--broker", self.broker), ("--epj-her-id", self.epj_her_id),
                                            ("--patient", self.patients)) if not v]  # fmt: skip
            if missing:
                raise ValueError(f"{', '.join(missing)} required (or use --reference)")
        return self

    def _namespace_from_path(self) -> None:
        """``--broker amqp://…/NS`` is ``--namespace NS`` (the library's connection string); both, differing, is
        a usage error naming both."""
        url, from_path = split_namespace(self.broker)
        if from_path is not None and self.namespace is not None and from_path != self.namespace:
            raise ValueError(f"--broker names namespace {from_path!r} in its path but --namespace says "
                             f"{self.namespace!r}: give one, or the same in both")  # fmt: skip
        self.broker = url
        if from_path is not None:
            self.namespace = from_path


def load_parties(path: Path) -> list:
    """The vendor's AR entries from ``--parties FILE``: a JSON list of what ``POST /ar/api/parties`` takes."""
    import json

    from pydantic import TypeAdapter, ValidationError

    from mocks.registry.http import PartyIn

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--parties {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"--parties {path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    try:
        entries = TypeAdapter(list[PartyIn]).validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise UsageError(f"--parties {path}: [{where}] {first['msg']}") from None
    return [entry.to_party() for entry in entries]


def load_certificates(path: Path) -> dict[str, bytes | None]:
    """The EPJ's public certificates from ``--epj-certificates FILE`` (JSON as ``PUT
    /ar/api/parties/{herId}/certificates`` takes it), as DER by kind."""
    import json

    from pydantic import ValidationError

    from mocks.registry.http import CertificatesIn
    from mocks.registry.model import RegistryError

    try:
        payload = CertificatesIn.model_validate(json.loads(path.read_text(encoding="utf-8")))
        certificates = payload.to_der()
    except OSError as exc:
        raise UsageError(f"--epj-certificates {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"--epj-certificates {path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        raise UsageError(f"--epj-certificates {path}: [{'.'.join(map(str, first['loc']))}] {first['msg']}") from None
    except RegistryError as exc:
        raise UsageError(f"--epj-certificates {path}: [{exc.field}] {exc.message}") from None
    return certificates


def redact(url: str) -> str:
    """The broker URL without its password, for reports."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _schemas(directory: Path | None) -> SchemaSet | None:
    if directory is None:
        return None
    try:
        return SchemaSet.load(directory)
    except SchemaDirError as exc:
        raise UsageError(str(exc)) from None


def _amqp(url: str, namespace: str | None = None, *, node: bool = False) -> Exchange:
    """The kit's exchange, or (``node``) the reference EPJ's: its loops are its queues' only consumers."""
    from mocks.exchange.amqp import NODE_PREFETCH, AmqpExchange

    return AmqpExchange(url, namespace=namespace, min_receive_wait=0.01, prefetch=NODE_PREFETCH if node else 1)


def namespace_setting(namespace: str | None) -> str:
    """How the kit addresses queues, in the words an EPJ's configuration needs."""
    if namespace is None:
        return "none: the kit's queues are addressed by bare name or /amq/queue/{queue}"
    return (f"{namespace}: end the EPJ's connection string in /{namespace}; the library (and the kit) then sends "
            f"to /exchange/{namespace}/{{queue}} and receives from /amq/queue/{{queue}}")  # fmt: skip


def epj_settings(urls: RegistryUrls, parties: KitParties, broker_url: str,
                 namespace: str | None = None) -> list[tuple[str, str]]:  # fmt: skip
    """What a Helsenorge.Messaging-based EPJ must be configured with to reach the kit (printed at start)."""
    return [
        ("AR (SOAP 1.1, Basic binding: the library's default)", urls.ar_soap11),
        ("AR (SOAP 1.2, WSHttpBinding)", urls.ar_soap12),
        ("CPPA (REST v2, no authentication)", urls.cppa),
        ("the kit's HER-id (helsenorge role)", str(parties.kit_her_id)),
        ("the EPJ's services registered in that AR", " ".join(map(str, parties.service_her_ids))),
        ("broker", redact(broker_url)),
        ("namespace", namespace_setting(namespace)),
    ]


def run_kit(
    options: KitOptions,
    listener: Listener | None = None,
    announce: Callable[[list[tuple[str, str]]], None] | None = None,
) -> SuiteResult:
    """Run the selected tests against the EPJ the options name (or the reference EPJ) and return the results.

    With ``options.registries`` the kit's AR and CPPA are served on that address for the run and
    ``announce`` gets the settings an EPJ needs (before the first test).
    """
    try:
        tests = select(all_tests(), options.only)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    schemas = _schemas(options.schemas)
    with ExitStack() as stack:
        broker_url = options.broker
        if broker_url is None:  # --reference without --broker: a private RabbitMQ on loopback
            broker_url = stack.enter_context(PrivateBroker(options.namespace))
        if broker_url == "embedded":
            from mocks.exchange.embedded import EmbeddedExchange

            shared = EmbeddedExchange()
            stack.callback(shared.close)
            kit_exchange = epj_exchange = shared
        else:
            namespace = options.namespace
            kit_exchange = _amqp(broker_url, namespace)
            stack.callback(kit_exchange.close)
            epj_exchange = _amqp(broker_url, namespace, node=True) if options.reference else None
            if epj_exchange is not None:
                stack.callback(epj_exchange.close)
        reference = None
        names: dict[int, str] = {}
        patient_names: dict[str, tuple[str, str]] = {}
        if options.reference:
            try:  # seeding declares the reference EPJ's queues (and binds them to the namespace)
                reference = ReferenceEpj(epj_exchange, options.kit_her_id, fault=parse_fault(options.fault),
                                         her_id_base=options.reference_her_id_base,
                                         slow_sync_s=options.slow_sync_s or options.sync_timeout + 1.0)  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - the reference EPJ cannot run without its queues
                detail = str(exc).replace(broker_url, redact(broker_url))
                raise UsageError(f"cannot declare the reference EPJ's queues on {redact(broker_url)}: {detail}") from None
            epj_her_id, services, patients = reference.epj_her_id, reference.service_her_ids, reference.patients
            names, patient_names = reference.names, reference.patient_names
        else:
            epj_her_id = options.epj_her_id
            services = options.service_her_ids or [epj_her_id]
            patients = options.patients
        external = None
        declared = load_parties(options.parties) if options.parties else None
        if options.register_in is not None:
            external = ExternalRegistry(base_url(options.register_in), options.operator_token)
            stack.callback(external.close)
            declared = _read_epj(external, epj_her_id, services)
        try:
            parties = KitParties(options.kit_her_id, epj_her_id, services, names=names, declared=declared)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        protection = _protection(options, parties, reference, external) if options.protect else None
        if reference is not None:
            reference.start()
            stack.callback(reference.stop)
        if options.registries is not None:
            host, port = parse_host_port(options.registries)
            served = ServedRegistries(parties.registry, host, port)
            try:
                served.start()
            except OSError as exc:
                raise UsageError(f"--registries {options.registries}: {exc}") from None
            stack.callback(served.stop)
            if announce is not None:
                announce(epj_settings(served.urls, parties, broker_url, options.namespace)
                         + _protection_settings(protection))  # fmt: skip
        if external is not None:
            _register_kit(external, parties, protection)
            stack.callback(external.unregister)
            if announce is not None:
                announce(epj_settings(external.urls, parties, broker_url, options.namespace)
                         + _protection_settings(protection))  # fmt: skip
        try:
            agreement = _external_agreement(external, parties, services[0]) or parties.agreement(services[0])
        except LookupError as exc:
            raise UsageError(f"--parties: {exc}") from None
        if options.apprec_timeout is not None:
            deadline, source = options.apprec_timeout, "--apprec-timeout"
        elif agreement.time_to_perform is not None:
            deadline = agreement.time_to_perform.total_seconds()
            source = f"timeToPerform {duration(deadline)} in CPA {agreement.cpa_id}"
        else:
            deadline, source = 180 * 60.0, "no timeToPerform in the CPA: NHN's usual 180 min"
        factory = MessageFactory(parties, names=patient_names)
        factory.cpa_ids = {service: parties.agreement(service).cpa_id for service in services
                           if parties.agreed_processes(service)}  # fmt: skip
        unknown = options.unknown_patient or unknown_patient_fnr(set(patients) | set(patient_names))
        timing = Timing(sync_timeout=options.sync_timeout, apprec_deadline=deadline, deadline_source=source,
                        manual_timeout=options.manual_timeout,
                        precondition_timeout=max(SYNC_CALL_TIMEOUT_S, 3 * options.sync_timeout))  # fmt: skip
        session = Session(kit_exchange, parties, factory, Target(epj_her_id, services, patients, unknown), timing,
                          schemas=schemas, driver=reference, protection=protection)  # fmt: skip
        try:
            session.open()
        except Exception as exc:  # noqa: BLE001 - nothing can run without the kit's queues
            detail = str(exc).replace(broker_url, redact(broker_url))
            raise UsageError(f"cannot declare the kit's queues on {redact(broker_url)}: {detail}") from None
        target = RunTarget(broker=redact(broker_url), epj_her_id=epj_her_id, service_her_ids=services,
                           patients=patients, kit_her_id=options.kit_her_id, reference=options.reference,
                           fault=options.fault)  # fmt: skip
        settings = RunSettings(sync_timeout_s=options.sync_timeout, apprec_deadline_s=deadline,
                               apprec_deadline_source=source, manual_timeout_s=options.manual_timeout,
                               cpa_id=agreement.cpa_id, schemas=str(schemas.directory) if schemas else None,
                               only=options.only)  # fmt: skip
        return run_suite(session, tests, target=target, settings=settings, listener=listener, workers=options.workers)


def _read_epj(external: ExternalRegistry, epj_her_id: int, services: list[int]) -> list:
    """The EPJ's organisation and services as the vendor's AR holds them (queues, processes): the kit's own view."""
    entries = {}
    try:
        for her_id, option in [(epj_her_id, "--epj-her-id"), *((s, "--service-her-id") for s in services)]:
            if her_id not in entries:
                entries[her_id] = external.party(her_id, option)
        parent = entries[epj_her_id].parent_her_id
        if parent is not None and parent not in entries:  # the organisation above, so the kit's copy holds together
            entries[parent] = external.party(parent, f"the parent of {epj_her_id}")
    except RegistrationError as exc:
        raise UsageError(str(exc)) from None
    return list(entries.values())


def _register_kit(external: ExternalRegistry, parties: KitParties, protection: KitProtection | None) -> None:
    """Post the kit's organisation (unless that AR has it already) and party, with its certificates under
    ``--protect``; a refusal undoes what was posted and is a usage error."""
    mine = [parties.kit_her_id]
    if parties.kit_her_id != KIT_ORG_HER_ID:
        try:
            external.party(KIT_ORG_HER_ID, "the kit's organisation")
        except RegistrationError:
            mine.insert(0, KIT_ORG_HER_ID)
    certificates = kit_certificates(protection.credentials) if protection is not None else None
    try:
        external.register([parties.registry.get(her_id) for her_id in mine], certificates)
    except RegistrationError as exc:
        raise UsageError(str(exc)) from None


def _external_agreement(external: ExternalRegistry | None, parties: KitParties, service: int) -> Agreement | None:
    """With ``--register-in``: the CPA as that CPPA gives it (None when the kit keeps its own registries)."""
    if external is None:
        return None
    try:
        return external.agreement(parties.kit_her_id, service)
    except RegistrationError as exc:
        raise UsageError(str(exc)) from None


def _protection_settings(protection: KitProtection | None) -> list[tuple[str, str]]:
    """With ``--protect``: which certificates the EPJ will find for the kit in the AR above."""
    if protection is None:
        return []
    own = protection.credentials
    return [("payload protection (--protect)",
             f"CMS sign-then-encrypt; the kit's certificates in that AR: signing {thumbprint(own.signing.certificate)}, "
             f"encryption {thumbprint(own.encryption.certificate)}")]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _protection(options: KitOptions, parties: KitParties, reference: ReferenceEpj | None,
                external: ExternalRegistry | None = None) -> KitProtection:  # fmt: skip
    """``--protect``: the kit's credentials, published in its AR; the reference EPJ's too when the kit runs it.

    A vendor's EPJ gives its public certificates (``--epj-certificates``); the kit publishes them in its AR
    for the EPJ's organisation and services and finds them there, as the EPJ (with ``--registries``) finds the
    kit's. ``--kit-credentials`` keeps the kit's own pair across runs, since the library caches AR for an hour.
    """
    now = _now()
    path = options.kit_credentials
    if path is not None and path.exists():
        try:
            kit = load_credentials(path, parties.kit_her_id)
        except (OSError, ValueError) as exc:
            raise UsageError(f"--kit-credentials {path}: {exc}") from None
    else:
        kit = issue_credentials(parties.kit_her_id, KIT_ORG_NAME, now)
        if path is not None:
            save_credentials(path, kit)
    publish(parties.registry, kit)
    if options.epj_certificates is not None:
        certificates = load_certificates(options.epj_certificates)
        for her_id in {parties.epj_her_id, *parties.service_her_ids}:
            parties.registry.publish_certificates(her_id, **certificates)
    elif external is not None:  # the EPJ's certificates as the vendor's AR publishes them
        for her_id in {parties.epj_her_id, *parties.service_her_ids}:
            try:
                parties.registry.publish_certificates(her_id, **external.certificates(her_id))
            except RegistrationError as exc:
                raise UsageError(str(exc)) from None
    if reference is not None:
        epj = issue_credentials(reference.epj_her_id, "Konformans kommune", now, options.reference_certificates)
        for her_id in (reference.epj_her_id, *reference.service_her_ids):
            publish(parties.registry, replace(epj, her_id=her_id))
        reference.protect(epj, parties.registry)
    return KitProtection(kit, parties.registry, _now)


class PrivateBroker:
    """A LocalBroker in a temporary directory for the length of the run, with the namespace's exchange if one is given."""

    def __init__(self, namespace: str | None = None) -> None:
        self.namespace = namespace

    def __enter__(self) -> str:
        from mocks.harness.broker import BrokerError, LocalBroker, find_rabbitmq_bin, free_port

        if find_rabbitmq_bin() is None:
            raise UsageError("--reference without --broker starts a private RabbitMQ, but rabbitmq-server is not "
                             "installed (scripts/install-rabbitmq.sh); give --broker amqp://… or --broker embedded")  # fmt: skip
        self._dir = tempfile.mkdtemp(prefix="digihelse-conformance-")
        self._broker = LocalBroker(port=free_port(), dir=self._dir)
        try:
            self._broker.start()
            if self.namespace is not None:
                self._broker.declare_namespace(self.namespace)
        except BrokerError as exc:
            self._broker.stop()
            shutil.rmtree(self._dir, ignore_errors=True)
            raise UsageError(f"could not start a private RabbitMQ: {exc}") from None
        return self._broker.url

    def __exit__(self, *exc: object) -> None:
        try:
            self._broker.stop()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)
