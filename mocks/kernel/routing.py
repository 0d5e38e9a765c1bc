"""How module-level endpoints reach the service instance their router serves: a router-level dependency.

The HTTP adapters keep their endpoints as plain module-level functions (the
Starlette way: each endpoint readable and testable on its own, the routes listed
in one place), so the service cannot be a closure variable. Nor can it be one
``app.state`` attribute: one app mounts several installations of the same API
(an EPJ staff API per installation, each over its own core). So each factory
(``epj_router(core, ...)``) builds an ``APIRouter`` whose one router-level
dependency, :class:`Provide`, puts that router's service on ``request.state``;
FastAPI solves router-level dependencies before the endpoint's own, so the
endpoint's getter (``Annotated[StaffApi, Depends(_api)]``) finds it there.
:class:`Provide` takes only the request, so the OpenAPI document does not change; it and the getters
are ``async`` (they do no I/O), so they cost no trip to the thread pool.
"""

from __future__ import annotations

from typing import TypeVar

from fastapi import Request

T = TypeVar("T")


class Provide:
    """Router-level dependency: ``request.state.<name>`` is ``service`` for every request the router answers."""

    def __init__(self, name: str, service: object) -> None:
        self.name = name
        self.service = service

    async def __call__(self, request: Request) -> None:
        # async: no I/O here, so FastAPI runs it on the event loop instead of sending it to the thread pool
        setattr(request.state, self.name, self.service)

    def __repr__(self) -> str:
        return f"Provide({self.name!r}, {self.service!r})"


def provided(request: Request, name: str, kind: type[T]) -> T:
    """The ``kind`` a :class:`Provide` put on the request under ``name``; a clear error when the endpoint was
    mounted without the router its factory builds (so without the :class:`Provide`)."""
    service = getattr(request.state, name, None)
    if not isinstance(service, kind):
        raise LookupError(f"no {name!r} service on this request ({kind.__name__} expected, found "
                          f"{type(service).__name__}): mount the router its factory builds, which carries the "
                          "Provide dependency, not its endpoints alone")
    return service
