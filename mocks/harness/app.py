"""All the mocks in one process: the harness ``digihelse serve`` runs and the tests drive.

:class:`Harness` wires the sans-IO cores to one exchange — helsenorge, one
reference EPJ installation per vendor (municipalities on the same product share
an installation, as the seven Søre Sunnmøre municipalities share one Gerica
database), AR/CPPA and the notification outbox — and :func:`build_app` puts
their HTTP adapters behind one FastAPI app with path prefixes.

Two ways to run the bus: ``background=True`` starts receive loops in threads
(the real server); ``background=False`` leaves delivery to :meth:`Harness.pump`,
which drains every queue until nothing moves — deterministic, for tests.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from fastapi import FastAPI
from pydantic import BaseModel, Field, model_validator

from mocks.kernel.auth import OperatorGate, TokenSigner
from mocks.harness.chaos import HELSENORGE_NAMES, Chaos, FaultInjector, epj_names
from mocks.epj.core import EpjCore
from mocks.epj.http import epj_router
from mocks.epj.store import EpjStore
from mocks.exchange.base import Exchange
from mocks.exchange.embedded import EmbeddedExchange
from mocks.exchange.envelope import Envelope
from mocks.exchange.namespace import Namespace
from mocks.harness.faulty import FaultyExchange
from mocks.helsenorge.core import HelsenorgeCore
from mocks.helsenorge.http import helsenorge_router
from mocks.helsenorge.store import HelsenorgeStore
from mocks.helsenorge.wiring import registry_hooks
from mocks.kernel.node import Node, SyncClient
from mocks.notify.http import notify_router
from mocks.notify.outbox import NotificationOutbox
from mocks.harness.population import default_seed, installations
from mocks.harness.seeding import InstallationSeed, World, seed_world
from mocks.kernel.ports import Clock, IdSource
from mocks.registry.core import Registry
from mocks.registry.http import ar_router, cppa_router
from mocks.registry.seed import HELSENORGE_HER_ID, HELSENORGE_ORG_HER_ID
from mocks.registry.store import RegistryStore

log = logging.getLogger(__name__)


class ServeSettings(BaseModel):
    """What ``digihelse serve`` is told; validated at the boundary."""

    broker: str = Field("embedded", description="'embedded' (SQLite, no server) or an amqp:// URL of a RabbitMQ with AMQP 1.0")
    db: Path | None = Field(None, description="directory for the SQLite files; None keeps everything in memory")
    seed: int = Field(2026, description="seed for the default population, and for every id when nothing is "
                                        "kept (no db)")
    secret: str | None = Field(None, description="token signing secret; random per start when not given")
    patients_per_service: int = Field(6, ge=1, le=10_000)
    staff_per_service: int = Field(3, ge=1, le=1_000)
    chaos: Chaos | None = Field(None, description="transport faults to inject (see mocks.harness.chaos); None for none")
    protect: bool = Field(False, description="CMS sign-then-encrypt on the bus, certificates published in AR")
    operator_token: str | None = Field(None, min_length=16, description="the token administrative endpoints "
                                       "(AR writes, certificate publication, the notification outbox) demand; "
                                       "random per start when not given")
    namespace: Namespace = Field(None, description="with an amqp:// broker: Helsenorge.Messaging's namespace, the "
                                  "exchange sends go through (/exchange/{namespace}/{queue}); None for /amq/queue/")


    @model_validator(mode="after")
    def _namespace_needs_rabbitmq(self) -> "ServeSettings":
        if self.namespace is not None and not self.broker.startswith(("amqp://", "amqps://")):
            raise ValueError("namespace needs an amqp:// broker (a RabbitMQ); the embedded exchange has no exchanges")
        return self


def wall_clock() -> datetime:
    return datetime.now(timezone.utc)


class ExchangeOutbox:
    """The ``Outbox`` port over an exchange: what a core returns goes on the bus."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange

    def send(self, envelopes: Iterable[Envelope]) -> None:
        for envelope in envelopes:
            try:
                self.exchange.send(envelope)
            except ConnectionError as exc:  # the bus is down: the sender has stored and tracked it, and resends
                log.warning("not sent now, left to the sender's resend: %s", exc)


def _sqlite(settings: ServeSettings, name: str) -> str:
    if settings.db is None:
        return ":memory:"
    settings.db.mkdir(parents=True, exist_ok=True)
    return str(settings.db / f"{name}.sqlite")


def make_exchange(settings: ServeSettings) -> Exchange:
    if settings.broker == "embedded":
        return EmbeddedExchange(_sqlite(settings, "exchange"))
    if settings.broker.startswith(("amqp://", "amqps://")):
        from mocks.exchange.amqp import NODE_PREFETCH, AmqpExchange

        return AmqpExchange(settings.broker, namespace=settings.namespace, prefetch=NODE_PREFETCH)
    raise ValueError(f"broker: {settings.broker!r} is neither 'embedded' nor an amqp:// URL")


@dataclass
class Harness:
    exchange: Exchange
    registry: Registry
    helsenorge: HelsenorgeCore
    epjs: dict[str, EpjCore]
    notifications: NotificationOutbox
    signer: TokenSigner
    clock: Clock
    world: World
    nodes: list[Node] = field(default_factory=list)
    background: bool = False
    operator_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    """What ``Authorization: Bearer`` must carry on administrative endpoints (see :class:`mocks.kernel.auth.OperatorGate`)."""
    poll: float = 0.2
    """Seconds a background receive loop waits on an empty queue before looking again."""
    tick_every: float = 5.0
    """Seconds between background resend ticks."""

    def __post_init__(self) -> None:
        self.outbox = ExchangeOutbox(self.exchange)
        self.sync = SyncClient(self.exchange, HELSENORGE_HER_ID, pump=None if self.background else self.pump)

    def pump(self) -> int:
        """Deliver everything waiting, across all parties, until nothing moves."""
        total = 0
        while True:
            moved = sum(node.pump() for node in self.nodes)
            total += moved
            if not moved:
                return total

    def tick(self) -> int:
        """Resend what is due (both directions)."""
        return sum(node.tick() for node in self.nodes)

    def start(self) -> None:
        for node in self.nodes:
            node.start(poll=self.poll, tick_every=self.tick_every)
        self.sync.start()

    def stop(self) -> None:
        self.sync.stop()
        for node in self.nodes:
            node.stop()

    def close(self) -> None:
        self.stop()
        self.exchange.close()


def build_harness(
    settings: ServeSettings | None = None,
    *,
    clock: Clock = wall_clock,
    background: bool = False,
    exchange: Exchange | None = None,
) -> Harness:
    settings = settings or ServeSettings()
    exchange = exchange or make_exchange(settings)
    # With --db the stores outlive the process: a seeded stream would hand out the ids of the last run again
    # (message, thread, fullmakt and case ids colliding with stored ones). Fresh randomness per start there;
    # in memory nothing outlives the process, and the seed keeps a run reproducible.
    ids = IdSource(settings.seed if settings.db is None else None)
    registry = Registry(RegistryStore(_sqlite(settings, "registry")))
    notifications = NotificationOutbox(_sqlite(settings, "notify"))
    lookup, route_check = registry_hooks(registry, her_id=HELSENORGE_HER_ID)
    helsenorge = HelsenorgeCore(
        HelsenorgeStore(_sqlite(settings, "helsenorge")), her_id=HELSENORGE_HER_ID,
        org_her_id=HELSENORGE_ORG_HER_ID, ids=ids, registry_lookup=lookup, route_check=route_check,
        notifications=notifications,
    )

    def make_epj(installation: InstallationSeed) -> EpjCore:
        return EpjCore(
            EpjStore(_sqlite(settings, f"epj-{installation.key}"), password_cost=2**10), profile=installation.profile,
            ids=ids, helsenorge_her_id=HELSENORGE_HER_ID, helsenorge=helsenorge.sender,
        )

    secret = (settings.secret or os.urandom(32).hex()).encode()
    saved = settings.db / "world.json" if settings.db is not None else None
    if saved is not None and saved.exists():  # a restart: the stores already hold this world
        epjs = {installation.key: make_epj(installation) for installation in installations()}
        world = World.from_json(saved.read_text(encoding="utf-8"))
    else:
        description = default_seed(random.Random(settings.seed), clock(),
                                   patients_per_service=settings.patients_per_service,
                                   staff_per_service=settings.staff_per_service)
        seeded = seed_world(description, registry=registry, helsenorge=helsenorge, make_epj=make_epj)
        epjs, world = seeded.epjs, seeded.world
        if saved is not None:
            saved.write_text(world.to_json(), encoding="utf-8")
    credentials = _protection(settings, registry, world, clock) if settings.protect else {}
    if credentials:
        from mocks.security.protection import ProtectingExchange

        exchange = ProtectingExchange(exchange, credentials, registry)
    if settings.chaos is not None and settings.chaos.active:
        exchange = FaultyExchange(exchange, FaultInjector(settings.chaos, settings.seed), clock,
                                  _outage_names(registry, world))
    return assemble_harness(
        exchange, registry, helsenorge, epjs, notifications, world, signer=TokenSigner(secret), clock=clock, ids=ids,
        background=background, operator_token=settings.operator_token, credentials=credentials,
    )


def assemble_harness(
    exchange: Exchange,
    registry: Registry,
    helsenorge: HelsenorgeCore,
    epjs: dict[str, EpjCore],
    notifications: NotificationOutbox,
    world: World,
    *,
    signer: TokenSigner,
    clock: Clock,
    ids: IdSource,
    background: bool = False,
    operator_token: str | None = None,
    credentials: dict | None = None,
    on_processed=None,
) -> Harness:
    """Seeded cores on an exchange: helsenorge's receive loop, one per EPJ installation serving services, and
    queues for every AR party. What ``serve`` runs, and what the simulation serves over HTTP with its own world
    (``on_processed`` tells it of every delivery handled)."""
    credentials = credentials or {}
    harness = Harness(exchange, registry, helsenorge, epjs, notifications, signer, clock, world,
                      background=background, operator_token=operator_token or secrets.token_urlsafe(24))
    harness.nodes.append(Node(exchange, [HELSENORGE_HER_ID], helsenorge.receive, clock, ids,
                              on_tick=helsenorge.due_resends, on_processed=on_processed,
                              unprotect=_unprotector(credentials, [HELSENORGE_HER_ID], registry)))
    for key, epj in epjs.items():
        services = sorted(h for h, k in world.epj_of_service.items() if k == key)
        if services:
            harness.nodes.append(Node(exchange, services, epj.receive, clock, ids, on_sync=epj.receive_sync,
                                      on_tick=epj.due_resends, on_processed=on_processed,
                                      unprotect=_unprotector(credentials, services, registry)))
    for party in registry.parties():  # every AR party has its queues, live or not
        exchange.declare(party.her_id)
    return harness


def _protection(settings: ServeSettings, registry: Registry, world: World, clock: Clock) -> dict:
    """Test credentials for every party this harness serves, their certificates published in AR. With ``--db``
    they are kept beside the stores, so what was protected before a restart can be opened after it."""
    from datetime import timedelta

    from mocks.security.certificates import der, load_credentials, party_credentials, save_credentials

    now = clock()
    credentials = {}
    for her_id in [HELSENORGE_HER_ID, *sorted(world.epj_of_service)]:
        party = registry.get(her_id)
        kept = settings.db / "credentials" / f"{her_id}.pem" if settings.db is not None else None
        if kept is not None and kept.exists():
            made = load_credentials(kept, her_id)
        else:
            made = party_credentials(her_id, party.name, valid_from=now - timedelta(days=1),
                                     valid_to=now + timedelta(days=2 * 365))
            if kept is not None:
                save_credentials(kept, made)
        registry.publish_certificates(her_id, signing=der(made.signing.certificate),
                                      encryption=der(made.encryption.certificate))
        credentials[her_id] = made
    return credentials


def _unprotector(credentials: dict, her_ids: list[int], registry: Registry):
    if not credentials:
        return None
    from mocks.security.protection import Unprotector

    return Unprotector({h: credentials[h] for h in her_ids if h in credentials}, registry)


def _outage_names(registry: Registry, world: World):
    """Queue → what a ``--fault outage=PARTY@…`` may call its receiver (helsenorge, '*', installation, kommune)."""
    def names_of(queue: str) -> frozenset[str]:
        her_id = int(queue.split("_", 1)[0])
        if her_id in (HELSENORGE_HER_ID, HELSENORGE_ORG_HER_ID):
            return HELSENORGE_NAMES
        key = world.epj_of_service.get(her_id)
        if key is None:
            return frozenset()
        municipality = registry.get(her_id).municipality
        return epj_names(key, [municipality] if municipality else [])

    return names_of


def build_app(harness: Harness) -> FastAPI:
    """One FastAPI app: /helsenorge, /epj/{installation}, /ar, /cppa, /notify, /health, /docs."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if harness.background:
            harness.start()
        try:
            yield
        finally:
            harness.stop()

    app = FastAPI(
        title="DigiHelse harness",
        description="Mocks of helsenorge (Innbygger), reference EPJs (Helsepersonell), NHN AR/CPPA and the "
        "notification gateway, over an AMQP-style exchange.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.harness = harness
    app.include_router(
        helsenorge_router(harness.helsenorge, signer=harness.signer, clock=harness.clock, outbox=harness.outbox,
                          sync=harness.sync),
        prefix="/helsenorge", tags=["helsenorge"],
    )
    for key, epj in harness.epjs.items():
        app.include_router(
            epj_router(epj, signer=harness.signer, clock=harness.clock, outbox=harness.outbox),
            prefix=f"/epj/{key}", tags=[f"EPJ {epj.profile.product}"],
        )
    operator = OperatorGate(harness.operator_token)
    app.include_router(ar_router(harness.registry, lambda party: harness.exchange.declare(party.her_id),
                                 operator=operator), prefix="/ar", tags=["AR"])
    app.include_router(cppa_router(harness.registry), prefix="/cppa", tags=["CPPA"])
    app.include_router(notify_router(harness.notifications, operator=operator, signer=harness.signer,
                                     clock=harness.clock), prefix="/notify", tags=["notifications"])

    @app.get("/epj/api/installations", tags=["EPJ"])
    def installations() -> list[dict]:
        """Which reference EPJ installation serves which services (the staff API lives under /epj/{key})."""
        return [
            {"key": key, "product": epj.profile.product, "vendor": epj.profile.vendor,
             "services": sorted(h for h, k in harness.world.epj_of_service.items() if k == key)}
            for key, epj in harness.epjs.items()
        ]

    @app.get("/health", tags=["health"])
    def health() -> dict:
        injector = getattr(harness.exchange, "injector", None)
        return {"status": "ok", "background": harness.background,
                "nodes": [{"herIds": n.her_ids, "received": n.stats.received, "sent": n.stats.sent,
                           "transportErrors": n.stats.transport_errors, "failures": n.stats.failures}
                          for n in harness.nodes],
                "faultsInjected": dict(injector.injected) if injector is not None else None}

    return app
