"""The reference EPJ (role Helsepersonell): the municipal home-care side of DigiHelse.

A sans-IO core (:class:`EpjCore`) over a SQLite store (:class:`EpjStore`), with
vendor profiles for Gerica, Profil, DIPS Front and CosDoc, seeding helpers, and
a thin FastAPI staff API (:func:`mocks.epj.http.epj_router`, imported
separately so the core does not pull in FastAPI).
"""

from mocks.epj.core import EpjCore, classify
from mocks.epj.model import (
    Case,
    CaseEvent,
    CaseKind,
    CaseStatus,
    EpjError,
    HandheldNotice,
    IllegalCaseTransition,
    InvalidInput,
    InvalidTransition,
    NotAuthorised,
    NotFound,
    PatientRecord,
    Reply,
    Service,
    Staff,
    Visit,
    VisitState,
)
from mocks.epj.seed import SeededService, seed_municipality, seed_service, staff_password
from mocks.epj.store import EpjStore
from mocks.epj.vendors import COSDOC, DIPS_FRONT, GERICA, PROFIL, PROFILES, HerIdLayout, VendorProfile

__all__ = [
    "COSDOC",
    "Case",
    "CaseEvent",
    "CaseKind",
    "CaseStatus",
    "DIPS_FRONT",
    "EpjCore",
    "EpjError",
    "EpjStore",
    "GERICA",
    "HandheldNotice",
    "HerIdLayout",
    "IllegalCaseTransition",
    "InvalidInput",
    "InvalidTransition",
    "NotAuthorised",
    "NotFound",
    "PROFIL",
    "PROFILES",
    "PatientRecord",
    "Reply",
    "SeededService",
    "Service",
    "Staff",
    "VendorProfile",
    "Visit",
    "VisitState",
    "classify",
    "seed_municipality",
    "seed_service",
    "staff_password",
]
