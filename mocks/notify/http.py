"""Read-only HTTP view of the notification outbox, for tests, the ledger and people."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from mocks.kernel.auth import OperatorGate, TokenError, TokenSigner, bearer_token
from mocks.kernel.routing import Provide, provided

from mocks.notify.outbox import Notification, NotificationOutbox


class NotificationOut(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    id: int
    recipient: str
    channel: str
    address: str
    text: str
    created_at: datetime
    kind: str
    about: str | None = None

    @classmethod
    def of(cls, n: Notification) -> "NotificationOut":
        return cls(
            id=n.id, recipient=n.recipient, channel=n.channel, address=n.address, text=n.text,
            created_at=n.created_at, kind=n.kind, about=n.about,
        )


@dataclass(frozen=True, slots=True)
class NotifyApi:
    """What the outbox view works with; :func:`notify_router` puts it on each request it answers."""

    outbox: NotificationOutbox
    operator: OperatorGate | None
    signer: TokenSigner | None
    clock: Callable[[], datetime]


async def _api(request: Request) -> NotifyApi:
    return provided(request, "notify", NotifyApi)


Api = Annotated[NotifyApi, Depends(_api)]


def reader(api: Api, authorization: str | None = Header(default=None)) -> str | None:
    """None for the operator (or an open outbox); else the fnr whose notifications may be read."""
    operator = api.operator
    if operator is None or operator.allows(authorization):
        return None
    token = bearer_token(authorization)
    if api.signer is not None and token is not None:
        try:
            claims = api.signer.verify(token, now=api.clock())
        except TokenError:
            claims = None  # neither a citizen's token nor the operator's: auth.operator below
        if claims is not None and claims.role == "citizen":
            return claims.sub
    operator.require(authorization)  # neither: 401 auth.operator
    return None


def list_outbox(api: Api, recipient: str | None = None, since: datetime | None = Query(default=None),
                own: str | None = Depends(reader)):
    if own is not None:
        if recipient not in (None, own):
            raise HTTPException(403, {"rule": "notify.other-citizen", "field": "recipient",
                                      "message": "a citizen reads their own notifications only"})
        recipient = own
    if since is not None and (since.tzinfo is None or since.utcoffset() is None):
        raise HTTPException(
            422, {"rule": "request.naive-datetime", "field": "since",
                  "message": "since must carry a time-zone offset, e.g. 2025-03-10T09:00:00+01:00"},
        )
    if since is not None and not 1900 <= since.year <= 2999:  # year 1 or 9999 with an offset overflows UTC
        raise HTTPException(
            422, {"rule": "request.datetime-range", "field": "since",
                  "message": "since must lie between the years 1900 and 2999"},
        )
    return [NotificationOut.of(n) for n in api.outbox.list(recipient=recipient, since=since)]


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def notify_router(
    outbox: NotificationOutbox, *, operator: OperatorGate | None = None, signer: TokenSigner | None = None,
    clock: Callable[[], datetime] | None = None,
) -> APIRouter:
    """With ``operator``, the whole outbox (every citizen's fnr, phone and e-mail) is the operator's; a citizen
    logged in on helsenorge (``signer``'s token) reads their own notifications only."""
    api = NotifyApi(outbox, operator, signer, clock or _utc_now)
    router = APIRouter(dependencies=[Depends(Provide("notify", api))])
    router.add_api_route("/api/outbox", list_outbox, methods=["GET"], response_model=list[NotificationOut])
    return router
