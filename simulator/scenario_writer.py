"""Write a municipality's own go-live rehearsal as a scenario file, from a few answers.

A working group knows its municipalities, its EPJ, the day each service goes live, how many weeks to look at and
its own cancellation rule; it should not have to learn the scenario schema to say so. :func:`write_scenario`
turns those answers into TOML with a comment on every figure that is an estimate, and validates the text with the
same pydantic schema ``digihelse simulate`` uses (so a written file always loads). Municipalities can be named by
number or by name; an unknown one is answered with the closest names.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import get_args

from simulator.scenario import ScenarioError, ServiceKind, Vendor, municipality_table, parse_scenario

VENDORS: tuple[str, ...] = get_args(Vendor)
SERVICES: tuple[str, ...] = get_args(ServiceKind)


class AnswerError(ValueError):
    """An answer the scenario cannot be written from; the message names the answer and the allowed values."""


def _fold(text: str) -> str:
    """Lower case without accents and punctuation, so 'Ørsta', 'orsta' and 'ØRSTA kommune' meet."""
    text = text.lower().replace("ø", "o").replace("æ", "ae").replace("å", "a").removesuffix(" kommune")
    text = unicodedata.normalize("NFKD", text)
    return re.sub(r"[^a-z0-9]+", " ", "".join(c for c in text if not unicodedata.combining(c))).strip()


def resolve_municipality(answer: str) -> str:
    """A kommunenummer from a number or a name (``"1516"``, ``"Ulstein"``, ``"orsta"``).

    A name two municipalities share (Herøy, Våler, Bø) must be given by number: the error lists them with their
    counties. An unknown name is refused with the closest names."""
    table = municipality_table()
    answer = answer.strip()
    if re.fullmatch(r"\d{4}", answer):
        if answer in table:
            return answer
        raise AnswerError(f"municipality: no municipality has kommunenummer {answer} (2024 numbering)")
    wanted = _fold(answer)
    names = {number: _fold(record.name) for number, record in table.items()}
    exact = [number for number, name in names.items() if name == wanted]
    if len(exact) == 1:
        return exact[0]
    if exact:
        choices = ", ".join(f"{table[n].name} in {table[n].county} ({n})" for n in sorted(exact))
        raise AnswerError(f"municipality: {answer!r} names more than one municipality: {choices}; give the number")
    by_name = {name: number for number, name in names.items()}
    close = difflib.get_close_matches(wanted, list(by_name), n=4, cutoff=0.6)
    hint = ("; did you mean " + ", ".join(f"{table[by_name[c]].name} ({by_name[c]})" for c in close) + "?"
            if close else "; give a kommunenummer or a name from SSB's list (simulator/data/municipalities.csv)")
    raise AnswerError(f"municipality: no municipality is called {answer!r}{hint}")


@dataclass
class Answers:
    """What a working group says about its rehearsal."""

    name: str
    municipalities: list[str]
    """Numbers or names."""
    vendor: str = "Gerica"
    go_live: dict[str, date] = field(default_factory=dict)
    """Service kind → the day it goes live."""
    start: date | None = None
    """First simulated day (a Monday is usual); default: the Monday on or after the last go-live."""
    weeks: int = 1
    shared_database: bool = True
    """The municipalities share one EPJ installation (as Søre Sunnmøre's seven share one Gerica database)."""
    cancellation_notice_hours: float = 24.0
    first_workday_cutoff: str = "15:00"
    reply_workdays: int = 1
    seed: int = 1
    description: str | None = None


def _check(answers: Answers) -> tuple[list[str], date]:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", answers.name):
        raise AnswerError(f"name: {answers.name!r} must be lower-case letters, digits and '-' (it names the file)")
    if not answers.municipalities:
        raise AnswerError("municipality: give at least one (a number such as 1516 or a name such as Ulstein)")
    numbers: list[str] = []
    for answer in answers.municipalities:
        number = resolve_municipality(answer)
        if number in numbers:
            raise AnswerError(f"municipality: {answer!r} is given twice")
        numbers.append(number)
    if answers.vendor not in VENDORS:
        raise AnswerError(f"vendor: {answers.vendor!r} is not one of {', '.join(VENDORS)}")
    if not answers.go_live:
        raise AnswerError(f"go-live: give at least one SERVICE=DATE, SERVICE one of {', '.join(SERVICES)}")
    for service in answers.go_live:
        if service not in SERVICES:
            raise AnswerError(f"go-live: {service!r} is not a service; allowed: {', '.join(SERVICES)}")
    if not 1 <= answers.weeks <= 52:
        raise AnswerError(f"weeks: must be from 1 to 52 (got {answers.weeks})")
    last = max(answers.go_live.values())
    start = answers.start or last + timedelta(days=(7 - last.weekday()) % 7)
    return numbers, start


def render(answers: Answers) -> str:
    """The scenario as TOML text, every estimate labelled; raises :class:`AnswerError` on a bad answer."""
    numbers, start = _check(answers)
    table = municipality_table()
    names = ", ".join(f"{table[n].name} ({n})" for n in numbers)
    phases: dict[date, list[str]] = {}
    for service, day in sorted(answers.go_live.items(), key=lambda item: (item[1], SERVICES.index(item[0]))):
        phases.setdefault(day, []).append(service)
    plan = " → ".join(f"{day.isoformat()} {', '.join(kinds)}" for day, kinds in phases.items())
    description = answers.description or (
        f"Go-live rehearsal for {names} on {answers.vendor}: {plan}; {answers.weeks} week(s) from {start.isoformat()}.")
    lines = [
        f"# {answers.name}: a go-live rehearsal written by `digihelse scenario new`.",
        "# Every figure not set here takes the documented default of the schema (scenarios/README.md lists each with",
        "# its label: SOLID = official statistics, MEDIUM = one source or our own documents, ESTIMATE = assumed).",
        "# Behaviour (who logs in, how often people write and cancel, how fast they sign up after go-live) is all",
        "# ESTIMATE: no DigiHelse usage figures are published.",
        "",
        f'name = "{answers.name}"',
        f"description = {_toml_string(description)}",
        f"seed = {answers.seed}",
        "municipalities = [" + ", ".join(f'"{n}"' for n in numbers) + "]",
        "",
        "[[periods]]",
        f"start = {start.isoformat()}",
        f"days = {answers.weeks * 7}",
        f'label = "{answers.weeks} week(s) after the go-live"',
        "",
    ]
    if answers.shared_database and len(numbers) > 1:
        lines += ["[digihelse]",
                  "# One EPJ installation serves them all (a shared database, as in Søre Sunnmøre).",
                  "shared_database = [[" + ", ".join(f'"{n}"' for n in numbers) + "]]", ""]
    for number in numbers:
        lines += ["[[digihelse.rollout]]", f'kommunenummer = "{number}"  # {table[number].name}',
                  f'vendor = "{answers.vendor}"', "phases = ["]
        lines += [f'    {{ from_date = {day.isoformat()}, services = [{", ".join(f"{chr(34)}{k}{chr(34)}" for k in kinds)}] }},'
                  for day, kinds in phases.items()]
        lines += ["]", ""]
    default_rule = (answers.cancellation_notice_hours == 24.0 and answers.first_workday_cutoff == "15:00"
                    and answers.reply_workdays == 1)
    if not default_rule:
        lines += [
            "# The municipalities' own cancellation cut-off and reply deadline (the default is Søre Sunnmøre's",
            "# routine: 24 h, 15:00 the last workday before a first workday, a reply by the end of the next workday).",
            "[[rules]]",
            "municipalities = [" + ", ".join(f'"{n}"' for n in numbers) + "]",
            f"cancellation_notice_hours = {answers.cancellation_notice_hours:g}",
            f'first_workday_cutoff = "{answers.first_workday_cutoff}"',
            f"reply_workdays = {answers.reply_workdays}",
            "",
        ]
    text = "\n".join(lines)
    try:
        parse_scenario(tomllib.loads(text), source=f"{answers.name}.toml")
    except ScenarioError as exc:  # an answer the schema refuses (e.g. a cut-off clock): say which
        raise AnswerError(str(exc)) from None
    return text


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
