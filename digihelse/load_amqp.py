"""``digihelse load --amqp``: Locust plays helsenorge against an EPJ over AMQP 1.0, then the wire invariants.

The sequence (:func:`run_amqp_load`):

1. the broker: ``--amqp private`` starts a RabbitMQ node on loopback for the run (as the
   conformance kit's ``--reference`` does); otherwise an ``amqp://`` URL on loopback;
2. the EPJ: without ``--epj-her-id`` the built-in reference EPJ serves two home-care
   services on that broker (its own connections, receive loops in threads), so the
   command works with no EPJ at hand; ``reference_delay`` makes it deliberately slow
   (every message it sends waits that long first — its receive loop stalls with it);
3. the kit's queues, one helsenorge HER-id per Locust process;
4. Locust headless (:mod:`loadtests.amqp_locustfile`; ``--workers`` for master/worker),
   writing CSV/HTML with the AMQP request types and their percentiles;
5. late answers are read off the kit's queues for up to ``settle`` seconds, and
   :mod:`loadtests.amqp_invariants` checks the ledgers: every message exactly one AppRec
   with the right OriginalMsgId, nothing on the error queue.

Exit 1 when Locust saw failures (no AppRec in time, Avvist, transport errors) or an
invariant broke.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

from rich.console import Console

from mocks.exchange.base import ExchangeWrapper, discard_waiting
from mocks.exchange.envelope import Envelope, QueueKind, queue_name

from digihelse.load_cli import (ROOT, LoadResult, UsageError, conclude, parse_duration, read_failures, read_stats,
                       run_locust)

AMQP_LOCUSTFILE = ROOT / "loadtests" / "amqp_locustfile.py"
DEFAULT_KIT_HER_ID = 9_990_001


class SlowExchange(ExchangeWrapper):
    """A deliberately slow EPJ: every message it sends (AppRecs, replies) waits ``delay`` seconds first."""

    def __init__(self, inner, delay: float) -> None:
        super().__init__(inner)
        self.delay = delay

    def send(self, envelope: Envelope) -> None:
        time.sleep(self.delay)
        self.inner.send(envelope)


def require_loopback_amqp(url: str) -> str:
    import ipaddress

    parts = urlsplit(url)
    if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
        raise UsageError(f"--amqp: {url!r} is not an amqp:// URL (or 'private')")
    try:
        loopback = parts.hostname == "localhost" or ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise UsageError(f"--amqp: {parts.hostname} is not a loopback address; digihelse load only targets 127.0.0.1/::1")
    return url


def _amqp_exchange(url: str, namespace: str | None = None, prefetch: int = 1):
    from mocks.exchange.amqp import AmqpExchange

    return AmqpExchange(url, namespace=namespace, min_receive_wait=0.01, prefetch=prefetch)


def _drain_late(url: str, kit_her_ids: list[int], ledger: Path, records_done, settle: float) -> None:
    """Read answers that arrived after Locust stopped into ``ledger`` until ``records_done()`` or ``settle`` s."""
    from conformance.inbox import read
    from loadtests.amqp_party import AMQP_ADDRESS, Ledger, record_received
    from mocks.exchange.amqp import message_to_envelope
    from mocks.exchange.amqp_pipeline import PipelinedConnection

    book = Ledger(ledger)
    with PipelinedConnection(url, name="late-answers") as conn:

        def on(received) -> None:
            envelope, _ = message_to_envelope(received.message)
            if record_received(book, read(envelope, received.address.rsplit("/", 1)[-1])):
                conn.settle(received.handle)

        for her_id in kit_her_ids:
            for kind in (QueueKind.ASYNC, QueueKind.ERROR):
                conn.subscribe(AMQP_ADDRESS.format(queue=queue_name(her_id, kind)), on)
        deadline = time.monotonic() + settle
        time.sleep(min(0.5, settle))
        while time.monotonic() < deadline:
            book.flush()  # not closed and reopened: an answer arriving in between would be settled and lost
            if records_done():
                break
            time.sleep(0.25)
        time.sleep(0.2)  # settlements out before closing
    book.close()


def run_amqp_load(
    *,
    amqp: str,
    users: int = 10,
    spawn_rate: float = 5.0,
    run_time: float | str = 30.0,
    workers: int = 0,
    shape: str = "steady",
    out: Path | str = Path("build/load-amqp"),
    seed: int = 2026,
    epj_her_id: int | None = None,
    service_her_ids: list[int] | None = None,
    patients: list[str] | None = None,
    kit_her_id: int = DEFAULT_KIT_HER_ID,
    apprec_timeout: float = 30.0,
    rate: float | None = None,
    peak_multiple: float = 10.0,
    settle: float = 30.0,
    reference_delay: float = 0.0,
    registries: str | None = None,
    console: Console | None = None,
    namespace: str | None = None,
) -> LoadResult:
    from conformance.kit import PrivateBroker
    from conformance.reference import ReferenceEpj
    from mocks.exchange.amqp import NODE_PREFETCH, ExchangeError
    from loadtests.amqp_invariants import check_wire, read_ledgers
    from loadtests.load_profiles import profile as get_profile

    say = console or Console(stderr=True)
    seconds = parse_duration(run_time)
    if users < 1:
        raise UsageError("--users: at least 1")
    if workers < 0:
        raise UsageError("--workers: 0 (one process) or more")
    if apprec_timeout <= 0:
        raise UsageError("--apprec-timeout: must be positive")
    if rate is not None and rate <= 0:
        raise UsageError("--rate: must be positive")
    if peak_multiple <= 0:
        raise UsageError("--peak-multiple: must be positive")
    try:
        get_profile(shape)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if epj_her_id is not None and not patients:
        raise UsageError("--patient: give at least one fødselsnummer the EPJ knows (with --epj-her-id)")
    if amqp != "private":
        require_loopback_amqp(amqp)
    if namespace is not None:
        from mocks.exchange.amqp_bindings import namespace_problem

        problem = namespace_problem(namespace)
        if problem is not None:
            raise UsageError(f"--namespace: {problem}")
    if registries is not None:
        from loadtests.registries import parse_host_port

        try:
            registry_host, registry_port = parse_host_port(registries)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("locust*"), *out.glob("amqp-ledger-*.jsonl"), out / "report.html", out / "summary.json"]:
        if old.is_file():
            old.unlink()
    processes = max(1, workers)
    kit_ids = [kit_her_id + i for i in range(processes)]
    result = LoadResult(exit_code=1, out=str(out), shape=shape, host="", users=users, workers=workers,
                        run_time_s=seconds, locust_exit_code=None)  # fmt: skip
    with ExitStack() as stack:
        url = stack.enter_context(PrivateBroker(namespace)) if amqp == "private" else amqp
        result.host = url.split("@")[-1]
        services = list(service_her_ids or [])
        if epj_her_id is None:
            # one pipelined connection for all its loops, each consumer holding a window of its queue
            epj_exchange = _amqp_exchange(url, namespace, NODE_PREFETCH)
            if reference_delay > 0:
                epj_exchange = SlowExchange(epj_exchange, reference_delay)
            stack.callback(epj_exchange.close)
            try:  # seeding declares the reference EPJ's queues (and binds them to the namespace)
                reference = ReferenceEpj(epj_exchange, kit_her_id, seed=seed, patients_per_service=max(3, users))
            except ExchangeError as exc:
                raise UsageError(f"cannot declare the reference EPJ's queues: {exc}") from None
            # what an earlier run left (questions its reference EPJ never got to) would be answered in this one
            stale = discard_waiting(epj_exchange, [queue_name(h, kind) for h in reference.service_her_ids
                                                   for kind in (QueueKind.ASYNC, QueueKind.SYNC)])  # fmt: skip
            if stale:
                say.print(f"Dropped {stale} message(s) an earlier run left on the reference EPJ's queues")
            reference.start(poll=0.05)
            stack.callback(reference.stop)
            epj_her_id, services, patients = reference.epj_her_id, reference.service_her_ids, reference.patients
            say.print(f"Reference EPJ {epj_her_id} (services {services}) on {result.host}"
                      + (f", slowed by {reference_delay:g} s per message" if reference_delay else ""))
        elif not services:
            services = [epj_her_id]
        if registries is not None:
            from loadtests.registries import RegistryServer, kit_registry

            server = RegistryServer(kit_registry(kit_ids, epj_her_id, services), registry_host, registry_port).start()
            stack.callback(server.stop)
            say.print(f"AR and CPPA for the EPJ's look-ups on {server.url}/ar/soap and {server.url}/cppa")
        declarer = _amqp_exchange(url, namespace)
        try:
            for her_id in kit_ids:
                declarer.declare(her_id)
            # only helsenorge's own queues and the reference EPJ's: a vendor's EPJ queues are never touched
            stale = discard_waiting(declarer, [queue_name(h, kind) for h in kit_ids
                                               for kind in (QueueKind.ASYNC, QueueKind.SYNC_REPLY, QueueKind.ERROR)])
            if stale:
                say.print(f"Dropped {stale} message(s) an earlier run left on helsenorge's queues {kit_ids}")
        except ExchangeError as exc:
            raise UsageError(f"cannot declare helsenorge's queues: {exc}") from None
        finally:
            declarer.close()
        extra = ["--dh-amqp", url, "--dh-kit-her-id", str(kit_her_id), "--dh-epj-her-id", str(epj_her_id),
                 "--dh-service-her-ids", ",".join(map(str, services)), "--dh-patients", ",".join(patients or []),
                 "--dh-apprec-timeout", f"{apprec_timeout:g}", "--dh-shape", shape, "--dh-run-time", f"{seconds:g}",
                 "--dh-rate", f"{rate or 0:g}", "--dh-peak-multiple", f"{peak_multiple:g}",
                 "--dh-ledger-dir", str(out), "--dh-seed", str(seed), "--dh-partitions", str(processes),
                 "--run-time", f"{seconds:g}s"] + (["--dh-namespace", namespace] if namespace else [])  # fmt: skip
        say.print(f"Locust over AMQP: {users} users, {shape}, {seconds:g} s, "
                  f"{'%d workers' % workers if workers else 'one process'} …")
        locust = run_locust(AMQP_LOCUSTFILE, host="http://127.0.0.1", out=out, run_time=seconds, users=users,
                            spawn_rate=spawn_rate, workers=workers, extra=extra)  # fmt: skip
        result.locust_exit_code = locust.exit_code
        if locust.timed_out:
            result.problems.append("Locust did not finish in time and was stopped")
        result.reports = {"html": str(out / "report.html"), "csv": str(out / "locust_stats.csv"),
                          "logs": ", ".join(str(p) for p in locust.logs)}  # fmt: skip

        def done() -> bool:
            report = check_wire(read_ledgers(sorted(out.glob("amqp-ledger-*.jsonl"))))
            return report.checks[0].ok

        say.print(f"Reading late answers for up to {settle:g} s …")
        _drain_late(url, kit_ids, out / "amqp-ledger-late.jsonl", done, settle)

    result.endpoints, result.total = read_stats(out / "locust_stats.csv")
    result.failure_reasons = read_failures(out / "locust_failures.csv")
    ledgers = sorted(out.glob("amqp-ledger-*.jsonl"))
    if ledgers:
        result.invariants = check_wire(read_ledgers(ledgers)).to_dict()
    else:
        result.problems.append("no wire ledger was written (see the Locust log)")
    return conclude(result, out)
