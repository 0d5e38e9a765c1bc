"""A deadline for reading a request, so slow clients cannot hold the server's connections for ever.

uvicorn bounds the time *between* requests on a keep-alive connection
(``timeout_keep_alive``) and h11 bounds a request head's *size*, but nothing
bounds how long a client may take to send its head or its body: a client
trickling one header byte a minute (slowloris) or a body byte a minute keeps a
connection — and, for a body, a request handler — forever. :class:`ReadDeadlineProtocol`
is uvicorn's own h11 protocol with one addition: from a request's first byte
until its last, at most :data:`READ_TIMEOUT_S` may pass; a client slower than that
gets ``408 request.too-slow`` (when no answer has begun) and the connection is closed.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

READ_TIMEOUT_S = 15.0
"""Longest time to receive one whole request (head and body). The largest body the APIs accept (256 kB)
takes well under a second on any link a test harness runs over."""

KEEP_ALIVE_S = 5
"""Idle time allowed between requests on a kept-alive connection (uvicorn's ``timeout_keep_alive``)."""

_TOO_SLOW = b"request.too-slow: the request was not received within %d s\n"


class ReadDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request arrives slower than ``read_timeout``."""

    read_timeout: float = READ_TIMEOUT_S

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._read_deadline: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        if self._read_deadline is None:
            self._read_deadline = self.loop.call_later(self.read_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
            self._arm()  # a request has begun (or goes on): it must be complete in time
        super().data_received(data)
        if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            self._disarm()  # read in full (or the connection is ending): the handler's time is not limited here

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _too_slow(self) -> None:
        self._read_deadline = None
        if self.transport.is_closing():
            return
        if self.conn.our_state is h11.IDLE:  # nothing answered yet: say why before closing
            body = _TOO_SLOW % self.read_timeout
            self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                                 b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        self.transport.close()


SERVER_LIMITS: dict = {"http": ReadDeadlineProtocol, "timeout_keep_alive": KEEP_ALIVE_S,
                       "h11_max_incomplete_event_size": 16 * 1024}
"""Keyword arguments for ``uvicorn.run``/``uvicorn.Config``: the read deadline, the keep-alive timeout, and
h11's cap on a request head (16 kB, uvicorn's default made explicit)."""
