"""``digihelse conformance``: run the vendor conformance kit against an EPJ on an AMQP 1.0 broker.

Mounted by ``digihelse/cli.py`` as ``app.command(name="conformance")(conformance)``.
Exit codes: 0 every test passed (skips allowed), 1 a test failed, errored or was
left waiting, 2 the command was used wrongly (options, schemas, an unreachable
broker, a report file that cannot be written).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Optional

import typer
from pydantic import ValidationError
from rich.console import Console

from conformance.parties import DEFAULT_KIT_HER_ID

USAGE_ERROR = 2
console = Console()
errors = Console(stderr=True)


def _fail_usage(message: str) -> None:
    errors.print(f"error: {message}", highlight=False, markup=False)
    raise typer.Exit(USAGE_ERROR)


def _problem(error: dict) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    where = ".".join(map(str, error["loc"]))
    return f"{where}: {message}" if where else message


def _write(path: Path, data: str | bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    except OSError as exc:
        _fail_usage(f"cannot write {path}: {exc.strerror or exc}")


def _from_environment(ctx: typer.Context, name: str) -> bool:
    """Whether the option's value came from its environment variable (by name: typer may bring its own click)."""
    source = ctx.get_parameter_source(name)
    return getattr(source, "name", None) == "ENVIRONMENT"


def _announce(settings: list[tuple[str, str]]) -> None:
    """Print what the EPJ must be configured with, before the first test."""
    console.print("Point the EPJ at these registries (the kit's party is in them):", highlight=False)
    for name, value in settings:
        console.print(f"  {name}: {value}", highlight=False, markup=False)


def conformance(
    ctx: typer.Context,
    broker: Annotated[Optional[str], typer.Option("--broker", help="AMQP URL of the RabbitMQ (AMQP 1.0 plugin) the EPJ listens on, e.g. amqp://user:pass@host:5672; the EPJ's own connection string works as is: a path (amqp://…:5672/NAMESPACE) is the namespace, as Helsenorge.Messaging reads it (same as --namespace NAMESPACE). With --reference: omit it to start a private RabbitMQ on loopback, or give 'embedded' to run in-process.", show_default=False)] = None,
    epj_her_id: Annotated[Optional[int], typer.Option("--epj-her-id", help="HER-id of the EPJ's organisation (MsgHead receiver level 1); also its only service unless --service-her-id is given.", show_default=False)] = None,
    service_her_id: Annotated[Optional[list[int]], typer.Option("--service-her-id", help="HER-id of a service (communication party with its own queues) the EPJ serves; repeat for several. The first gets the message tests.", show_default=False)] = None,
    patient: Annotated[Optional[list[str]], typer.Option("--patient", help="Fødselsnummer of a (synthetic) recipient of the first service with planned visits; repeat for several.", show_default=False)] = None,
    unknown_patient: Annotated[Optional[str], typer.Option("--unknown-patient", help="A valid fødselsnummer the EPJ does not know (E35 test) [default: a synthetic one born 1903].", show_default=False)] = None,
    kit_her_id: Annotated[int, typer.Option("--kit-her-id", help="The kit's own HER-id (helsenorge role), from the synthetic range 9900000–9999999.")] = DEFAULT_KIT_HER_ID,
    only: Annotated[Optional[list[str]], typer.Option("--only", help="Run only these tests or groups (DH-MSG-001, DH-ROB, robustness, …); repeat for several.", show_default=False)] = None,
    junit: Annotated[Optional[Path], typer.Option("--junit", help="Write JUnit XML here (a testsuite per group).", show_default=False)] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the results as JSON here.", show_default=False)] = None,
    html: Annotated[Optional[Path], typer.Option("--html", help="Write a self-contained HTML report here.", show_default=False)] = None,
    schemas: Annotated[Optional[Path], typer.Option("--schemas", envvar="DIGIHELSE_SCHEMAS", help="Directory with the official KITH XSDs (MsgHead, Dialogmelding, AppRec); without it the XSD test is skipped.", show_default=False)] = None,
    sync_timeout: Annotated[float, typer.Option("--sync-timeout", min=0.001, help="Seconds a synchronous call waits for its reply (Helsenorge.Messaging's CallTimeout).")] = 15.0,
    apprec_timeout: Annotated[Optional[float], typer.Option("--apprec-timeout", min=0.001, help="Seconds to wait for an AppRec (and other asynchronous answers) [default: the timeToPerform of the CPA, 180 min].", show_default=False)] = None,
    manual_timeout: Annotated[float, typer.Option("--manual-timeout", min=0, help="Seconds to wait for a manual step (staff answering a message in the EPJ); 0 skips manual steps.")] = 300.0,
    reference: Annotated[bool, typer.Option("--reference", help="Test the built-in reference EPJ (seeded with its own services and patients) instead of a vendor's.")] = False,
    fault: Annotated[Optional[str], typer.Option("--fault", help="With --reference: break the reference EPJ one way (no-apprec, wrong-original-msgid, avvist-everything, journals-duplicates, slow-sync, no-transport-checks).", show_default=False)] = None,
    registries: Annotated[Optional[str], typer.Option("--registries", help="HOST:PORT on which to serve the kit's AR (/ar/soap, /ar/soap/Basic, /ar/api/parties) and CPPA (/cppa/…) for the run, so an EPJ built on Helsenorge.Messaging can look up the kit's party; the settings the EPJ needs are printed first.", show_default=False)] = None,
    namespace: Annotated[Optional[str], typer.Option("--namespace", help="Helsenorge.Messaging's namespace (the path of the EPJ's connection string, e.g. NHNTestServiceBus): the kit sends to /exchange/NAMESPACE/{queue} and receives from /amq/queue/{queue}, as the library does, and binds its own queues to that exchange. The broker must have the exchange (digihelse broker start --namespace NAMESPACE); with --reference and no --broker the private broker declares it.", show_default=False)] = None,
    register_in: Annotated[Optional[str], typer.Option("--register-in", help="Instead of --registries: the http:// URL of an AR the EPJ already uses (digihelse serve's, e.g. http://127.0.0.1:8080; AR at /ar, CPPA at /cppa). The kit reads the EPJ's entries (and, with --protect, its certificates) from that AR, registers its own party there (POST /ar/api/parties; its certificates with --protect) for the run and removes it at the end.", show_default=False)] = None,
    operator_token: Annotated[Optional[str], typer.Option("--operator-token", envvar="DIGIHELSE_OPERATOR_TOKEN", help="With --register-in: the operator token that AR demands for registrations (digihelse serve prints it at start).", show_default=False)] = None,
    bare_names: Annotated[bool, typer.Option("--bare-names", help="Address queues by bare name, as Helsenorge.Messaging does when its connection string has no namespace. Refused: RabbitMQ 3.x's AMQP 1.0 plugin cannot route bare names; give the EPJ a namespace instead.")] = False,
    parties: Annotated[Optional[Path], typer.Option("--parties", help="JSON file with the EPJ's own AR entries (a list of what POST /ar/api/parties takes: herId, name, type, parentHerId, processes, queues, …), registered in the kit's AR instead of the defaults; tests in a process the EPJ does not declare are skipped.", show_default=False)] = None,
    protect: Annotated[bool, typer.Option("--protect", help="CMS sign-then-encrypt as Helsenorge.Messaging does: the kit signs with its own certificate (published in its AR) and encrypts to the EPJ's encryption certificate from AR, and decrypts and verifies what comes back against the EPJ's signing certificate; certificate errors are reported with the library's conditions.")] = False,
    reference_certificates: Annotated[str, typer.Option("--reference-certificates", help="With --reference --protect: publish the reference EPJ's certificates valid, expired, no-key-usage or wrong-usage, to see the condition the kit reports for each.")] = "valid",
    epj_certificates: Annotated[Optional[Path], typer.Option("--epj-certificates", help="With --protect against a vendor's EPJ: a JSON file {\"signing\": PEM, \"encryption\": PEM} (as PUT /ar/api/parties/{herId}/certificates takes it) with the EPJ's public certificates, published in the kit's AR for the EPJ's organisation and services.", show_default=False)] = None,
    kit_credentials: Annotated[Optional[Path], typer.Option("--kit-credentials", help="With --protect: a PEM file that keeps the kit's certificates and keys across runs (created when absent), so an EPJ that caches AR keeps trusting the kit.", show_default=False)] = None,
    requirements: Annotated[bool, typer.Option("--requirements", help="Print the requirements, the tests that verify each, and those without tests; run nothing.")] = False,
    list_tests: Annotated[bool, typer.Option("--list", help="Print the tests (id, group, title, requirements); run nothing.")] = False,
) -> None:
    """Test an EPJ's DigiHelse messaging: the kit plays helsenorge (with its own AR party and CPA) over the broker.

    Groups: connectivity, messages, receipts, calendar, cancellation, idempotency, robustness, timing.
    Exit 0 when every test passes (skips allowed), 1 when any fails, errors or is left waiting, 2 on usage errors.
    """
    from conformance.kit import KitOptions, UsageError, run_kit
    from conformance.reports import render_html, render_json, render_junit
    from conformance.reports.console import ConsoleListener, print_coverage, print_summary
    from conformance.requirements import coverage, load_requirements
    from conformance.suite import GROUP_BY_ID, all_tests

    if requirements or list_tests:
        tests = all_tests()
        if list_tests:
            for test in tests:
                typer.echo(f"{test.id}  {GROUP_BY_ID[test.group].title:13} {test.title}  "
                           f"[{', '.join(test.requirements)}]")  # fmt: skip
        if requirements:
            reqs = load_requirements()
            print_coverage(console, reqs, coverage(reqs, [(t.id, t.requirements) for t in tests]))
        raise typer.Exit(0)
    if register_in is None and _from_environment(ctx, "operator_token"):
        operator_token = None  # DIGIHELSE_OPERATOR_TOKEN set for digihelse serve must not break a kit run without an AR
    try:
        options = KitOptions(
            broker=broker, epj_her_id=epj_her_id, service_her_ids=service_her_id or [], patients=patient or [],
            unknown_patient=unknown_patient, kit_her_id=kit_her_id, only=only or [], schemas=schemas,
            sync_timeout=sync_timeout, apprec_timeout=apprec_timeout, manual_timeout=manual_timeout,
            reference=reference, fault=fault, registries=registries, parties=parties,
            protect=protect, reference_certificates=reference_certificates,
            epj_certificates=epj_certificates, kit_credentials=kit_credentials,
            namespace=namespace, bare_names=bare_names, register_in=register_in, operator_token=operator_token,
        )  # fmt: skip
    except ValidationError as exc:
        _fail_usage("; ".join(_problem(e) for e in exc.errors()))
    logging.getLogger("mocks.kernel.node").setLevel(logging.ERROR)  # late sync replies are reported by the tests
    try:
        result = run_kit(options, ConsoleListener(console), announce=_announce)
    except UsageError as exc:
        _fail_usage(str(exc))
    print_summary(console, result)
    if junit is not None:
        _write(junit, render_junit(result))
    if json_out is not None:
        _write(json_out, render_json(result))
    if html is not None:
        _write(html, render_html(result))
    raise typer.Exit(result.exit_code)
