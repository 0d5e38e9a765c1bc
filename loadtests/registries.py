"""AR and CPPA for the AMQP load, served on ``--registries HOST:PORT`` (loopback only).

An EPJ that looks its counterpart up before answering (AR for the sender's
communication party, CPPA for the agreement) needs helsenorge's entries, as the
conformance kit gives them. This serves the harness's existing AR SOAP/JSON and CPPA
routers (:mod:`mocks.registry.http`) over the kit's registry
(:class:`conformance.parties.KitParties`) — one helsenorge HER-id per Locust process
registered beside the EPJ's services — with uvicorn in a thread for the run. Kept in
its own module so it can later be pointed at the conformance kit's own served
registries: ``/ar/soap``, ``/ar/api/parties``, ``/cppa/Profiles/{herId}``,
``/cppa/Agreements/...``.
"""

from __future__ import annotations

import ipaddress
import threading
import time

from conformance.parties import KIT_NAME, KitParties
from mocks.registry.model import INNBYGGER, CommunicationParty, PartyType
from mocks.registry.processes import DIGIHELSE_PROCESSES


def parse_host_port(text: str) -> tuple[str, int]:
    """``127.0.0.1:8089`` → (host, port); loopback only, the port a number in 1–65535."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--registries: {text!r} is not HOST:PORT (e.g. 127.0.0.1:8089)")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"--registries: {host} is not a loopback address")
    return host, int(port)


def kit_registry(kit_her_ids: list[int], epj_her_id: int, service_her_ids: list[int],
                 names: dict[int, str] | None = None) -> KitParties:  # fmt: skip
    """The kit's parties for the first HER-id, with every further Locust process's HER-id registered beside it."""
    parties = KitParties(kit_her_ids[0], epj_her_id, service_her_ids, names=names)
    parent = parties.registry.get(kit_her_ids[0]).parent_her_id
    for her_id in kit_her_ids[1:]:
        parties.registry.register(CommunicationParty(her_id, f"{KIT_NAME} {her_id}", PartyType.SERVICE,
                                                     parent_her_id=parent, processes=DIGIHELSE_PROCESSES,
                                                     role=INNBYGGER))  # fmt: skip
    return parties


class RegistryServer:
    """uvicorn serving AR (``/ar``) and CPPA (``/cppa``) for ``parties`` until :meth:`stop`."""

    def __init__(self, parties: KitParties, host: str, port: int) -> None:
        import uvicorn
        from fastapi import FastAPI

        from mocks.registry.http import ar_router, cppa_router

        app = FastAPI(title="DigiHelse load: AR and CPPA")
        app.include_router(ar_router(parties.registry), prefix="/ar")
        app.include_router(cppa_router(parties.registry), prefix="/cppa")
        self.url = f"http://{host}:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, name="registries", daemon=True)

    def start(self, timeout: float = 15.0) -> "RegistryServer":
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the registries did not start on {self.url}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
