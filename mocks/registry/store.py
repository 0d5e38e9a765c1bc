"""SQLite persistence for AR entries.

A vendor registers its test services once and expects them to be there after
the harness restarts, so the registry keeps its parties in SQLite (stdlib, no
server), opened the one way every store opens it
(:class:`mocks.kernel.sqlite.Database`: one connection shared by the HTTP
worker threads behind one lock; WAL, so a second process — a CLI, a report —
reads while the server writes).
"""

from __future__ import annotations

import json
from pathlib import Path

from mocks.kernel.sqlite import AlreadySeen, Database
from mocks.kernel.store_base import DatabaseStore

from mocks.registry.model import CommunicationParty, PartyCertificates

_SCHEMA = """
CREATE TABLE IF NOT EXISTS parties (
    her_id        INTEGER PRIMARY KEY,
    parent_her_id INTEGER,
    doc           TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS parties_parent ON parties(parent_her_id);
CREATE TABLE IF NOT EXISTS certificates (
    her_id     INTEGER PRIMARY KEY REFERENCES parties(her_id),
    signing    BLOB,
    encryption BLOB
);
"""


class DuplicateParty(AlreadySeen, KeyError):
    """A party with this HER-id is already stored."""


class RegistryStore(DatabaseStore):
    """Parties keyed by HER-id, in a file or ``":memory:"``."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        self._db = Database(self.path)
        self._db.script(_SCHEMA)

    def add(self, party: CommunicationParty) -> None:
        """Store a new party; :class:`DuplicateParty` if the HER-id is taken."""
        doc = json.dumps(party.to_dict(), ensure_ascii=False, sort_keys=True)
        try:
            self._db.execute(
                "INSERT INTO parties (her_id, parent_her_id, doc) VALUES (?, ?, ?)",
                (party.her_id, party.parent_her_id, doc),
            )
        except AlreadySeen:
            raise DuplicateParty(party.her_id) from None

    def update(self, party: CommunicationParty) -> None:
        """Replace a stored party; :class:`KeyError` if there is none."""
        doc = json.dumps(party.to_dict(), ensure_ascii=False, sort_keys=True)
        cursor = self._db.execute(
            "UPDATE parties SET parent_her_id = ?, doc = ? WHERE her_id = ?",
            (party.parent_her_id, doc, party.her_id),
        )
        if cursor.rowcount == 0:
            raise KeyError(party.her_id)

    def get(self, her_id: int) -> CommunicationParty | None:
        row = self._db.one("SELECT doc FROM parties WHERE her_id = ?", (her_id,))
        return None if row is None else CommunicationParty.from_dict(json.loads(row[0]))

    def list(self) -> list[CommunicationParty]:
        """All parties, ordered by HER-id."""
        rows = self._db.all("SELECT doc FROM parties ORDER BY her_id")
        return [CommunicationParty.from_dict(json.loads(doc)) for (doc,) in rows]

    def children(self, her_id: int) -> list[CommunicationParty]:
        """Parties whose parent is ``her_id``, ordered by HER-id."""
        rows = self._db.all("SELECT doc FROM parties WHERE parent_her_id = ? ORDER BY her_id", (her_id,))
        return [CommunicationParty.from_dict(json.loads(doc)) for (doc,) in rows]

    def remove(self, her_id: int) -> bool:
        """Delete a party and its published certificates; False if there was none."""
        with self._db.transaction():
            gone = self._db.execute("DELETE FROM parties WHERE her_id = ?", (her_id,)).rowcount
            self._db.execute("DELETE FROM certificates WHERE her_id = ?", (her_id,))
        return bool(gone)

    def put_certificates(self, certificates: PartyCertificates) -> None:
        """Store (or replace) the certificates published for a party."""
        self._db.execute(
            "INSERT OR REPLACE INTO certificates (her_id, signing, encryption) VALUES (?, ?, ?)",
            (certificates.her_id, certificates.signing, certificates.encryption),
        )

    def all_certificates(self) -> list[PartyCertificates]:
        """Every party's published certificates, ordered by HER-id."""
        rows = self._db.all("SELECT her_id, signing, encryption FROM certificates ORDER BY her_id")
        return [PartyCertificates(her_id, signing, encryption) for her_id, signing, encryption in rows]

    def __len__(self) -> int:
        return self._db.one("SELECT COUNT(*) FROM parties")[0]
