"""Vendor profiles: where the four Norwegian home-care EPJs plausibly differ on the bus.

A municipality rehearsing go-live wants to see *its* vendor's behaviour, and a
conformance run wants the harness to survive all of them. Three differences
matter to the messages and the timing:

* **HER-id layout.** Some installations register one communication party
  (HER-id, with its own queues) per home-care service, so "Hjemmesykepleien
  sone 1" and "Praktisk bistand" are addressed separately on helsenorge; others
  register one party for the municipality's whole health-and-care department.
  The seeding code (:mod:`mocks.epj.seed`) reads :attr:`VendorProfile.her_id_layout`.
* **AppRec version.** AppRec 1.0 (2004) and 1.1 (2012) are both accepted on the
  bus; older integrations still answer with 1.0.
* **Latency.** How long a synchronous HentPlanlagteTimer takes to answer, and
  how long an asynchronous message waits before the EPJ has journaled it and
  sent the AppRec. The core only *reports* these; the SimPy model samples
  around them and the networked adapter may sleep them.

**Every value below is an illustrative estimate.** No public source documents
vendor internals (which HER-id layout each vendor's customers use, which AppRec
version each sends, or response times); the numbers are plausible defaults
chosen so that the four profiles differ, and a scenario can override any of
them. Do not read them as measurements of the named products.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mocks.wire.models import AppRecVersion


class HerIdLayout(StrEnum):
    PER_SERVICE = "per_service"
    """One communication party per home-care service (sone, praktisk bistand, …)."""
    PER_MUNICIPALITY = "per_municipality"
    """One communication party for the municipality's health-and-care department."""


@dataclass(frozen=True, slots=True)
class VendorProfile:
    key: str
    vendor: str
    product: str
    her_id_layout: HerIdLayout
    apprec_version: AppRecVersion
    sync_response_latency_s: float
    """Typical time to answer HentPlanlagteTimer (must stay well under the 15 s CallTimeout)."""
    async_processing_latency_s: float
    """Typical time from an async message arriving to its AppRec leaving (journaling included)."""
    software_version: str

    @property
    def software_name(self) -> str:
        """What the AppRec's ``SoftwareName`` says; marked as the harness's stand-in, not the product."""
        return f"{self.product} (DigiHelse harness reference EPJ)"


GERICA = VendorProfile(
    key="gerica",
    vendor="Tietoevry",
    product="Gerica",
    her_id_layout=HerIdLayout.PER_SERVICE,
    apprec_version=AppRecVersion.V1_1,
    sync_response_latency_s=1.2,
    async_processing_latency_s=30.0,
    software_version="sim-1",
)

PROFIL = VendorProfile(
    key="profil",
    vendor="Visma",
    product="Profil",
    her_id_layout=HerIdLayout.PER_SERVICE,
    apprec_version=AppRecVersion.V1_1,
    sync_response_latency_s=0.8,
    async_processing_latency_s=20.0,
    software_version="sim-1",
)

DIPS_FRONT = VendorProfile(
    key="dips-front",
    vendor="DIPS",
    product="DIPS Front",
    her_id_layout=HerIdLayout.PER_MUNICIPALITY,
    apprec_version=AppRecVersion.V1_1,
    sync_response_latency_s=0.5,
    async_processing_latency_s=10.0,
    software_version="sim-1",
)

COSDOC = VendorProfile(
    key="cosdoc",
    vendor="Acos",
    product="CosDoc",
    her_id_layout=HerIdLayout.PER_MUNICIPALITY,
    apprec_version=AppRecVersion.V1_0,
    sync_response_latency_s=1.5,
    async_processing_latency_s=60.0,
    software_version="sim-1",
)

PROFILES: dict[str, VendorProfile] = {p.key: p for p in (GERICA, PROFIL, DIPS_FRONT, COSDOC)}
"""The one vendor table, keyed by profile key (``gerica``, ``dips-front``, …: what installation keys and the
``/epj/{key}`` paths are made of). Scenarios and AR name the product (``DIPS Front``): :func:`by_product`."""


def profile(key: str) -> VendorProfile:
    try:
        return PROFILES[key]
    except KeyError:
        raise ValueError(f"unknown EPJ vendor profile {key!r}; known: {', '.join(PROFILES)}") from None


def by_product(product: str) -> VendorProfile:
    """The profile of the EPJ product a scenario or AR names (``Gerica``, ``DIPS Front``, …)."""
    for candidate in PROFILES.values():
        if candidate.product == product:
            return candidate
    known = ", ".join(p.product for p in PROFILES.values())
    raise ValueError(f"vendor: unknown EPJ product {product!r}; known: {known}")


__all__ = [
    "COSDOC", "DIPS_FRONT", "GERICA", "PROFIL", "PROFILES", "HerIdLayout", "VendorProfile", "by_product", "profile",
]
