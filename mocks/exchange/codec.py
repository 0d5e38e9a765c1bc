"""Envelopes as text, for stores that keep one to send again (resends, duplicate receipts).

One codec for every store, so an envelope saved by the EPJ, helsenorge or the
resend tracker comes back exactly as it went in. An in-process envelope that
carries its document instead of bytes (the simulation's fast path) is stored as
a pickle of that document: serialising XML that nobody may ever resend would
cost more than the rest of the simulation. Only this process writes and reads
those rows (the simulation's stores are in memory), so no pickle ever comes
from outside; an envelope from a wire always has bytes and is stored as bytes.
"""

from __future__ import annotations

import base64
import json
import pickle
from dataclasses import replace

from mocks.exchange.embedded import envelope_from_row, envelope_to_row
from mocks.exchange.envelope import Envelope

_PICKLED = "pickle:"


def _register_fast_reducers() -> None:
    """Pickle the wire dataclasses as (class, field tuple): several times faster than the slots default."""
    import copyreg
    import dataclasses

    from mocks.wire import models

    for value in vars(models).values():
        if isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == models.__name__:
            if all(f.init and not f.kw_only for f in dataclasses.fields(value)):
                names = tuple(f.name for f in dataclasses.fields(value))
                copyreg.pickle(value, lambda obj, cls=value, names=names: (cls, tuple(getattr(obj, n) for n in names)))


_register_fast_reducers()


def envelope_to_json(envelope: Envelope) -> str:
    row = list(envelope_to_row(envelope))
    if envelope.document is not None and not envelope.body:
        row[-1] = _PICKLED + base64.b64encode(pickle.dumps(envelope.document, pickle.HIGHEST_PROTOCOL)).decode()
    else:
        row[-1] = base64.b64encode(row[-1]).decode("ascii")
    return json.dumps(row, ensure_ascii=False)


def envelope_from_json(text: str) -> Envelope:
    row = json.loads(text)
    body = row[-1]
    if body.startswith(_PICKLED):
        row[-1] = b""
        return replace(envelope_from_row(row), document=pickle.loads(base64.b64decode(body[len(_PICKLED):])))
    row[-1] = base64.b64decode(body)
    return envelope_from_row(row)


class EnvelopeStash:
    """How one store keeps the envelopes it may send again: as JSON text in a file (durable across a restart,
    readable by :mod:`mocks.harness.invariants`), or — for a store in memory, which a restart loses anyway — as the
    objects themselves behind a short key, which saves serialising every message of a simulated week."""

    _PREFIX = "mem:"

    def __init__(self, *, durable: bool) -> None:
        self.durable = durable
        self._objects: dict[str, Envelope] = {}

    def dump(self, envelope: Envelope) -> str:
        if self.durable:
            return envelope_to_json(envelope)
        key = f"{self._PREFIX}{len(self._objects)}"
        self._objects[key] = envelope  # frozen dataclasses all the way down: safe to keep the reference
        return key

    def load(self, text: str) -> Envelope:
        if text.startswith(self._PREFIX):
            return self._objects[text]
        return envelope_from_json(text)
