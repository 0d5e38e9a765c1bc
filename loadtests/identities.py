"""Who each Locust user pretends to be, handed out so that no two users ever act on the same thing.

Two users acting for the same recipient would race: both cancel the same visit
(the second gets ``cancel.pending``), both answer the same case (the second gets
``epj.state``). Those 409s would be the harness working correctly and the test
being wrong. So identities are exclusive:

* each recipient is played by exactly one side — even positions in the world's
  list by the recipient, odd ones by their relative with fullmakt — so a
  citizen user and a relative user never share a calendar or an inbox;
* each staff member is played by at most one user, and answers only the cases
  of its own partition (:meth:`Identity.owns_case`), because a service's inbox
  is shared by all its staff;
* across Locust processes the list is partitioned by worker index (position
  ``i`` belongs to worker ``i % workers``), and within a process a user takes
  the first free identity of its partition and gives it back when it stops, so
  a shape that ramps down and up again reuses identities instead of running out.

The world comes from ``world.json`` (what ``digihelse serve --db`` writes), or is
rebuilt from the seed when the server's files are out of reach: the same seed
gives the same people. Nothing here imports Locust.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from loadtests.load_profiles import ROLES


DEFAULT_SERVICES = 6
"""Services with recipients in ``digihelse serve``'s default world (two on Gerica, two on
Profil, one each on DIPS Front and CosDoc); a test keeps it honest."""


@dataclass(frozen=True, slots=True)
class Identity:
    role: str
    position: int
    """Place in the role's list (what partitions it across workers)."""
    service_her_id: int
    epj_key: str
    login_fnr: str | None = None
    """Who logs in to helsenorge: the recipient, or the relative holding the fullmakt."""
    subject_fnr: str | None = None
    """Whose messages and visits: always the recipient."""
    staff_id: str | None = None
    staff_index: int = 0
    staff_count: int = 1

    @property
    def on_behalf(self) -> bool:
        return self.role == "relative"

    def owns_case(self, case_id: str) -> bool:
        """Whether this staff member answers ``case_id``: a stable hash split over the service's staff."""
        digest = hashlib.blake2s(case_id.encode("utf-8"), digest_size=4).digest()
        return int.from_bytes(digest, "big") % self.staff_count == self.staff_index


def world_from_json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def world_from_seed(seed: int, patients_per_service: int = 6, staff_per_service: int = 3) -> dict:
    """The world ``digihelse serve --seed`` seeds, rebuilt in memory (no server needed) by serve's own builder,
    so through the one seeding path (:mod:`mocks.harness.seeding`): the same seed gives the same people."""
    from mocks.harness.app import ServeSettings, build_harness

    harness = build_harness(ServeSettings(seed=seed, patients_per_service=patients_per_service,
                                          staff_per_service=staff_per_service))
    try:
        return json.loads(harness.world.to_json())
    finally:
        harness.close()


def identities(world: dict) -> dict[str, list[Identity]]:
    """Every identity of every role, in a stable order."""
    epj_of = {int(k): v for k, v in world["epj_of_service"].items()}
    out: dict[str, list[Identity]] = {role: [] for role in ROLES}
    for i, r in enumerate(world["recipients"]):
        her_id = int(r["service_her_id"])
        if i % 2 == 0:
            out["citizen"].append(Identity("citizen", len(out["citizen"]), her_id, epj_of[her_id],
                                           login_fnr=r["fnr"], subject_fnr=r["fnr"]))
        else:
            out["relative"].append(Identity("relative", len(out["relative"]), her_id, epj_of[her_id],
                                            login_fnr=r["relative"]["fnr"], subject_fnr=r["fnr"]))
    for her_id, staff in sorted((int(k), v) for k, v in world["staff"].items()):
        for index, staff_id in enumerate(staff):
            out["staff"].append(Identity("staff", len(out["staff"]), her_id, epj_of[her_id], staff_id=staff_id,
                                         staff_index=index, staff_count=len(staff)))
    return out


class IdentityPool:
    """One process's share of the identities, lent out one user at a time.

    Not locked: Locust users are greenlets, and acquire/release never yield.
    """

    def __init__(self, world: dict, *, partition: int = 0, partitions: int = 1) -> None:
        if partitions < 1 or not 0 <= partition < partitions:
            raise ValueError(f"partition {partition} of {partitions} does not exist")
        self.partition, self.partitions = partition, partitions
        self._free = {
            role: [ident for ident in idents if ident.position % partitions == partition]
            for role, idents in identities(world).items()
        }
        self._lent: set[tuple[str, int]] = set()

    def size(self, role: str) -> int:
        return len(self._free[role]) + sum(1 for r, _ in self._lent if r == role)

    def acquire(self, role: str) -> Identity | None:
        """The lowest free identity of ``role`` in this partition, or None when all are lent."""
        free = self._free[role]
        if not free:
            return None
        ident = free.pop(0)
        self._lent.add((role, ident.position))
        return ident

    def release(self, ident: Identity) -> None:
        key = (ident.role, ident.position)
        if key not in self._lent:
            return
        self._lent.discard(key)
        free = self._free[ident.role]
        free.append(ident)
        free.sort(key=lambda i: i.position)


def needed_world(peak_users: int, *, max_envelope: float = 1.0, partitions: int = 1) -> tuple[int, int]:
    """``(patients_per_service, staff_per_service)`` for a world that gives every user its own identity.

    Sized for the largest user count the shape reaches, with slack for uneven
    spreading over workers. Half of the recipients are played by themselves and
    half through their relative.
    """
    from loadtests.load_profiles import ROLE_SHARE

    services = DEFAULT_SERVICES
    most = peak_users * max(1.0, max_envelope)

    def per_role(role: str) -> int:
        return int(most * ROLE_SHARE[role] * 1.5) + 2 * partitions + 1

    patients = max(6, -(-2 * max(per_role("citizen"), per_role("relative")) // services))
    staff = max(3, -(-per_role("staff") // services))
    return patients, staff
