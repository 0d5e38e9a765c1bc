"""The kit's AR and CPPA, served over HTTP for the length of a run (``--registries HOST:PORT``).

An EPJ built on Helsenorge.Messaging looks up every party it answers in AR (queue
addresses, certificates) and checks the CPA/CPP before it sends
(``MessagingClient.PreCheckAsync``). The kit's own party exists only in the kit's
:class:`~conformance.parties.KitParties` registry, so the kit serves that registry
with the very routers ``digihelse serve`` mounts, at the same paths: AR at
``/ar/soap`` (SOAP 1.2 and 1.1), ``/ar/soap/Basic`` (SOAP 1.1, NHN's Basic binding)
and ``/ar/api/parties``; CPPA REST v2 at ``/cppa/Profiles/{herId}``,
``/cppa/Agreements/{cpaId}`` and ``/cppa/Agreements/HerIds/{a}/{b}``.

CPPA authentication (HelseID, scope ``nhn:cppa/access-with-dpop``) is out of scope for
a local kit: these endpoints take any caller, as ``digihelse serve``'s do.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

from fastapi import FastAPI

from mocks.registry.core import Registry
from mocks.registry.http import ar_router, cppa_router


def parse_host_port(value: str) -> tuple[str, int]:
    """``HOST:PORT`` → (host, port); a clear error naming the option and the rule otherwise."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--registries {value!r}: expected HOST:PORT with a port 1–65535, e.g. 127.0.0.1:8900")
    return host.strip("[]"), int(port)


@dataclass(frozen=True, slots=True)
class RegistryUrls:
    """What an EPJ's configuration needs to reach the kit's registries."""

    ar_soap12: str
    ar_soap11: str
    ar_parties: str
    cppa: str


class ServedRegistries:
    """uvicorn in a daemon thread serving ``registry`` at ``host:port`` until :meth:`stop`."""

    def __init__(self, registry: Registry, host: str, port: int) -> None:
        self.registry = registry
        self.host = host
        self.port = port
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def urls(self) -> RegistryUrls:
        base = self.base_url
        return RegistryUrls(f"{base}/ar/soap", f"{base}/ar/soap/Basic", f"{base}/ar/api/parties", f"{base}/cppa")

    def start(self, timeout: float = 15.0) -> "ServedRegistries":
        import uvicorn

        app = FastAPI(title="DigiHelse conformance kit registries")
        app.include_router(ar_router(self.registry), prefix="/ar")
        app.include_router(cppa_router(self.registry), prefix="/cppa")
        server = uvicorn.Server(uvicorn.Config(app, host=self.host, port=self.port, log_level="warning"))
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # not the main thread
        self._server = server
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:  # bind here, so a taken port is an error for the caller rather than a dying thread
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise OSError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from None
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="kit-registries",
                                        daemon=True)  # fmt: skip
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise OSError(f"could not serve the kit's registries on {self.host}:{self.port} "
                              "(is the port taken?)")  # fmt: skip
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> "ServedRegistries":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
