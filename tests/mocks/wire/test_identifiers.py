"""Fødselsnummer and HER-id rules, and the synthetic-person generator."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, strategies as st

from mocks.wire.identifiers import (
    IdentifierError,
    fnr_problem,
    herid_problem,
    is_valid_fnr,
    synthetic_fnr,
    validate_fnr,
    validate_herid,
)


@pytest.mark.parametrize(
    "fnr",
    [
        "13116900216",  # helsenorge's EKONTAKT sample
        "15720255178",  # NHN Meldingsvalidering sample (month + 65)
        "21905297101",  # Test-Norge style (month + 80)
        "12057900308",
    ],
)
def test_public_sample_numbers_are_valid(fnr):
    assert fnr_problem(fnr) is None


@pytest.mark.parametrize(
    ("fnr", "rule"),
    [
        ("1311690021", "fnr.format"),
        ("1311690021a", "fnr.format"),
        ("13116900217", "fnr.check-digits"),
        ("13116900226", "fnr.check-digits"),
        ("32116900216", "fnr.date"),
        ("13136900216", "fnr.date"),
    ],
)
def test_broken_numbers_name_the_rule(fnr, rule):
    assert fnr_problem(fnr)[0] == rule
    with pytest.raises(IdentifierError) as caught:
        validate_fnr(fnr)
    assert caught.value.rule == rule


@given(
    birth=st.dates(min_value=date(1900, 1, 1), max_value=date(2039, 12, 31)),
    seed=st.integers(min_value=0, max_value=499),
)
def test_synthetic_numbers_are_valid_and_marked_as_test_norge(birth, seed):
    low = 0 if birth.year < 2000 else 500
    fnr = synthetic_fnr(birth, low + seed)
    if fnr is None:
        return
    assert is_valid_fnr(fnr)
    assert int(fnr[2:4]) == birth.month + 80
    assert fnr[:2] == f"{birth.day:02d}" and fnr[4:6] == f"{birth.year % 100:02d}"


def test_synthetic_rejects_individual_number_of_the_wrong_century():
    with pytest.raises(ValueError, match="does not encode year"):
        synthetic_fnr(date(1950, 1, 1), 700)


@pytest.mark.parametrize("good", ["93238", "8141333", "112374", "1", 999999999])
def test_valid_herids(good):
    assert validate_herid(good) == int(good)


@pytest.mark.parametrize("bad", ["", "0123", "12a4", "1234567890", "-5", " 93238"])
def test_invalid_herids(bad):
    assert herid_problem(bad)[0] == "herid.format"
    with pytest.raises(IdentifierError):
        validate_herid(bad)
