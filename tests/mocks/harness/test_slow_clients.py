"""Slow clients get a deadline (issue 13, finding 10): a request head or body trickled in is cut off with 408.

A small app under uvicorn with :class:`mocks.harness.slow_clients.ReadDeadlineProtocol` (the protocol ``digihelse
serve`` runs) and a short read deadline; raw sockets play the slow client.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn
from fastapi import FastAPI, Request

from mocks.harness.broker import free_port
from mocks.harness.slow_clients import SERVER_LIMITS, ReadDeadlineProtocol


class QuickDeadline(ReadDeadlineProtocol):
    read_timeout = 0.5


@pytest.fixture(scope="module")
def port():
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        return {"bytes": len(await request.body())}

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                          **{**SERVER_LIMITS, "http": QuickDeadline}))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(timeout=10)


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded by the socket timeout)."""
    sock.settimeout(10)
    chunks = []
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def test_a_head_never_finished_is_408_and_closed(port):
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\n")  # and then nothing: slowloris
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 408") and b"request.too-slow" in answer


def test_a_body_never_finished_is_cut_off(port):
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                     b"content-length: 100\r\n\r\n{")
        answer = _answer(sock)  # the connection is closed: the handler is not held for ever
    assert b"200 OK" not in answer


def _one_response(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    data = b""
    while not data.endswith(b'{"bytes":2}'):
        chunk = sock.recv(4096)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


@pytest.mark.slow
def test_a_prompt_request_on_a_kept_alive_connection_is_answered(port):
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for pause in (0, 0, 1.0):  # idle between requests is the keep-alive timeout's business, not the deadline's
            time.sleep(pause)
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\ncontent-length: 2\r\n\r\n{}")
            assert _one_response(sock).startswith(b"HTTP/1.1 200")
