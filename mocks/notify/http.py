"""Read-only HTTP view of the notification outbox, for tests, the ledger and people."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from .outbox import Notification, NotificationOutbox


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


def notify_router(outbox: NotificationOutbox) -> APIRouter:
    router = APIRouter()

    @router.get("/api/outbox", response_model=list[NotificationOut])
    def list_outbox(recipient: str | None = None, since: datetime | None = Query(default=None)):
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
        return [NotificationOut.of(n) for n in outbox.list(recipient=recipient, since=since)]

    return router
