"""The HTML report of one simulation run: one self-contained file, for people.

``write_report(ledger, summary, path)`` writes a single HTML page with inline CSS
and the plots inline as base64 PNG (no scripts, no external fonts or images), so
it can be mailed, attached to an issue or opened from a CI artefact as it is.

Every figure is aggregated in SQL on the ledger -- a national week is about six
million rows, and none of them is loaded into Python -- and every text that
comes from data (municipality names, vendors, statuses, check names, the
scenario description) is escaped: a message may contain markup, and a report
must never run it. A plot without data becomes a readable "no data" panel.

Days are ``floor(t / 86400)`` from the period start, which the model writes to
the ledger's meta table (``start``); without it, days are shown by number.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot; the report never opens a window

from matplotlib.figure import Figure  # noqa: E402  (after the backend is chosen)
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator, PercentFormatter  # noqa: E402

from simulator.business_case import BusinessCase, BusinessCaseRow, Figure as CaseFigure  # noqa: E402
from simulator.ledger import Ledger  # noqa: E402
from simulator.summary import Check, Summary  # noqa: E402

__all__ = ["write_report", "PLOTS"]

DAY = 86_400
HOUR = 3_600
MAX_TABLE_ROWS = 50  # per-municipality table: the largest by recipients beyond this
MAX_BARS = 40  # reply-compliance bars: the lowest shares beyond this
MAX_DAY_SPAN = 62  # a longer period is shown by the days that have data, gaps marked
LATENCY_BINS = 40

PLOTS = (
    "visits per day by service",
    "messages per hour",
    "AppRec latency",
    "reply-deadline compliance",
    "cancellations per day",
    "what DigiHelse buys",
)

SERVICES = {"nursing": ("home nursing", "#2b6cb0"), "help": ("practical help", "#dd8a26")}
OTHER = "#a0aec0"
PALETTE = ("#2b6cb0", "#dd8a26", "#2f855a", "#805ad5", "#c05621", "#2c7a7b", "#b83280")
ACCEPTED, REFUSED, WASTED = "#2f855a", "#c53030", "#4a5568"

KINDS = {
    "visit.planned": "a visit on the day's plan",
    "visit.completed": "a visit carried out (at its end)",
    "visit.delay_reported": "the EPJ sent that a visit will start late (the delay notice)",
    "visit.moved": "the service rescheduled a visit a day or more ahead (the changed notice)",
    "visit.cancelled": "a cancellation accepted (before the cut-off)",
    "visit.cancel_refused": "a cancellation refused (after the cut-off)",
    "visit.wasted_trip": "staff drove to a cancelled visit",
    "visit.trip_avoided": "a visit cancelled in time was off the handheld: nobody drove there",
    "message.sent": "a citizen or relative sent a message",
    "message.welcome": "a service welcomed a newly digital recipient (a staff-initiated eKontakt)",
    "digital.checked": "the EPJ asked helsenorge whether a recipient is digitally active (DIGITALBRUKER SjekkStatus)",
    "digital.status": "what the EPJ then knew (value 1 active, 0 not, empty: no StatusSvar yet)",
    "message.journaled": "the EPJ journaled a message",
    "message.receipted": "the sender got its AppRec",
    "message.failed": "the sender saw a message fail",
    "reply.sent": "staff answered",
    "calendar.read": "a citizen or relative opened the calendar",
    "notification.sent": "an SMS or e-mail went out",
    "login": "a citizen or relative logged in",
    "access.denied": "an access attempt was refused",
    "transport.error": "a transport error went to an _error queue",
}


# --------------------------------------------------------------------------- helpers


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _n(value: float | int) -> str:
    """Thousands with a narrow no-break space (Norwegian style), integers without decimals."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}".replace(",", "\u202f")
    return f"{int(value):,}".replace(",", "\u202f")


def _pct(share: float | None, digits: int = 1) -> str:
    return "—" if share is None else f"{share * 100:.{digits}f}\u00a0%"


def _value(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return _n(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if abs(value) >= 1000:
            return _n(round(value))
        return f"{value:.4g}"
    return str(value)


DURATIONS = (0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 6 * 3600, 12 * 3600,
             86_400, 2 * 86_400, 7 * 86_400)
COARSE_DURATIONS = (0.001, 0.01, 0.1, 1, 10, 60, 600, 3600, 6 * 3600, 86_400, 7 * 86_400)


def _short(s: float) -> str:
    """A tick label for a duration: 500 ms, 30 s, 5 min, 6 h, 2 d."""
    if s < 1:
        return f"{s * 1000:g} ms"
    if s < 60:
        return f"{s:g} s"
    if s < HOUR:
        return f"{s / 60:g} min"
    if s < DAY:
        return f"{s / HOUR:g} h"
    return f"{s / DAY:g} d"


def _seconds(s: float) -> str:
    if s < 120:
        return f"{s:.3g} s"
    if s < 2 * HOUR:
        return f"{s / 60:.3g} min"
    if s < 2 * DAY:
        return f"{s / HOUR:.3g} h"
    return f"{s / DAY:.3g} d"


def _floor(unit: int) -> str:
    """SQL for floor(t / unit) as an integer."""
    return f"CAST(FLOOR(t / {unit}.0) AS BIGINT)"


def _axis(units: Iterable[int], max_span: int) -> tuple[list[int], bool]:
    """The units to plot and whether any were left out: the whole range if short, else those with data."""
    present = sorted(set(units))
    if not present:
        return [], False
    if present[-1] - present[0] + 1 <= max_span:
        return list(range(present[0], present[-1] + 1)), False
    return present, True


def _gaps(units: Sequence[int]) -> list[int]:
    """Positions after which the axis jumps over units without data."""
    return [i for i in range(len(units) - 1) if units[i + 1] - units[i] > 1]


@dataclass(frozen=True)
class _Days:
    start: date | None

    def label(self, day: int, *, year: bool = False) -> str:
        if self.start is None:
            return f"day {day}"
        d = self.start + timedelta(days=day)
        return d.strftime("%a %d.%m.%Y" if year else "%a %d.%m")

    def period(self, first: int, last: int) -> str:
        if self.start is None:
            return f"day {first}–{last}"
        a, b = self.start + timedelta(days=first), self.start + timedelta(days=last)
        return f"{a:%d.%m.%Y}–{b:%d.%m.%Y}" if a != b else f"{a:%d.%m.%Y}"


def _start(meta: dict[str, str], summary: Summary) -> date | None:
    for raw in (meta.get("start"), summary.start):
        if raw:
            try:
                return date.fromisoformat(raw.strip()[:10])
            except ValueError:
                continue
    return None


def _ticks(ax, positions: Sequence[int], labels: Sequence[str], limit: int = 16) -> None:
    step = max(1, math.ceil(len(positions) / limit))
    ax.set_xticks(list(positions[::step]), list(labels[::step]))
    if len(positions[::step]) > 8:
        ax.tick_params(axis="x", labelrotation=35)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")


def _plain(text: str) -> str:
    """Data text for a plot: a "$" is a dollar sign, not the start of TeX."""
    return text.replace("$", r"\$")


def _counts(ax, axis: str = "y") -> None:
    """A count axis: whole numbers only, thousands separated by a space."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(MaxNLocator(integer=True))
    target.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}".replace(",", " ")))


def _style(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#e2e8f0", linewidth=0.8)
    ax.set_axisbelow(True)


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(width: float = 11.0, height: float = 3.8) -> tuple[Figure, object]:
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots()


# --------------------------------------------------------------------------- queries


def _per_day(ledger: Ledger, kinds: Sequence[str], columns: Sequence[str]) -> dict[int, list[int]]:
    """Per day with data: ``[COUNT(*), TOTAL(column)...]`` over ``kind IN kinds`` (one grouped scan)."""
    marks = ", ".join("?" * len(kinds))
    sums = "".join(f", TOTAL({c})" for c in columns)
    rows = ledger.query(f"SELECT {_floor(DAY)} AS d, COUNT(*){sums} FROM events WHERE kind IN ({marks}) GROUP BY d",
                        tuple(kinds))
    return {int(day): [int(v) for v in values] for day, *values in rows if values[0]}


# --------------------------------------------------------------------------- panels


@dataclass
class Panel:
    title: str
    caption: str = ""  # HTML, already escaped
    png: str | None = None  # base64
    empty: str = "no data"  # shown instead of a plot when png is None

    def html(self) -> str:
        head = f"<h3>{_e(self.title)}</h3>"
        if self.png is None:
            body = f'<div class="nodata"><strong>no data</strong><span>{_e(self.empty)}</span></div>'
        else:
            body = f'<img src="data:image/png;base64,{self.png}" alt="{_e(self.title)}">'
        caption = f"<figcaption>{self.caption}</figcaption>" if self.caption else ""
        return f'<figure class="panel">{head}{body}{caption}</figure>'


def _visits_panel(visits: dict[int, list[int]], days: list[int], gaps: bool, cal: _Days) -> Panel:
    panel = Panel("Visits per day by service", empty="no visit.completed events in the ledger")
    if not visits:
        return panel
    rows = [visits.get(d, [0, 0, 0]) for d in days]  # [count, nursing, help]
    series = {
        "nursing": [r[1] for r in rows],
        "help": [r[2] for r in rows],
        "": [r[0] - r[1] - r[2] for r in rows],
    }
    fig, ax = _figure()
    x = list(range(len(days)))
    bottom = [0] * len(days)
    for key, values in series.items():
        if not any(values):
            continue
        label, color = SERVICES.get(key, ("other / unspecified", OTHER))
        ax.bar(x, values, bottom=bottom, color=color, label=label, width=0.8)
        bottom = [b + v for b, v in zip(bottom, values)]
    for i in _gaps(days):
        ax.axvline(i + 0.5, color="#718096", linestyle=":", linewidth=1)
    year = cal.start is not None and len({(cal.start + timedelta(days=d)).year for d in days}) > 1
    _ticks(ax, x, [cal.label(d, year=year) for d in days])
    _style(ax)
    _counts(ax)
    ax.set_ylabel("visits completed")
    ax.legend(loc="upper left", frameon=False, ncols=3)
    ax.set_ylim(0, max(bottom) * 1.15)
    panel.png = _png(fig)
    total = sum(r[0] for r in visits.values())
    by = [f"{SERVICES[k][0]} {_n(sum(series[k]))}" for k in ("nursing", "help") if sum(series[k])]
    if sum(series[""]):
        by.append(f"other {_n(sum(series['']))}")
    panel.caption = (
        f"{_n(total)} visits completed on {len(visits)} days ({cal.period(days[0], days[-1])}), "
        f"{_n(round(total / len(visits)))} per day with visits; {_e(', '.join(by))}."
        + (" Days without visits are left out (dotted lines)." if gaps else "")
    )
    return panel


def _messages_panel(ledger: Ledger, cal: _Days) -> Panel:
    panel = Panel("Messages sent per hour", empty="no message.sent events in the ledger")
    rows = ledger.query(
        f"SELECT {_floor(HOUR)} AS h, COALESCE(detail, ''), COUNT(*) FROM events "
        "WHERE kind = 'message.sent' GROUP BY h, 2"
    )
    if not rows:
        return panel
    totals: dict[str, int] = {}
    for _h, kind, n in rows:
        totals[kind] = totals.get(kind, 0) + n
    ranked = sorted(totals, key=lambda k: (-totals[k], k))
    shown = ranked if len(ranked) <= 7 else ranked[:6]  # the six largest kinds, the rest together
    # whole days on the axis: every hour of each day with messages
    days, gaps = _axis((math.floor(h / 24) for h, _k, _n in rows), MAX_DAY_SPAN)
    hours = [d * 24 + k for d in days for k in range(24)]
    index = {h: i for i, h in enumerate(hours)}
    layers = {k: [0] * len(hours) for k in shown}
    other = [0] * len(hours)
    for h, kind, n in rows:
        (layers[kind] if kind in layers else other)[index[h]] += n
    series = [(_plain(kind) or "(no kind)", values, PALETTE[i % len(PALETTE)])
              for i, (kind, values) in enumerate(layers.items())]
    if any(other):
        series.append((f"{len(ranked) - len(shown)} other kinds", other, OTHER))
    fig, ax = _figure()
    bottom = [0] * len(hours)
    edges = [i - 0.5 for i in range(len(hours) + 1)]
    for label, values, color in series:  # one filled step polygon per kind, not one patch per hour
        top = [b + v for b, v in zip(bottom, values)]
        ax.stairs(top, edges, baseline=bottom, fill=True, color=color, label=label, linewidth=0)
        bottom = top
    # a tick at the start of each day, a dotted line where days without messages are left out
    year = cal.start is not None and len({(cal.start + timedelta(days=d)).year for d in days}) > 1
    _ticks(ax, [24 * i for i in range(len(days))], [cal.label(d, year=year) for d in days])
    for i in _gaps(days):
        ax.axvline(24 * (i + 1) - 0.5, color="#718096", linestyle=":", linewidth=1)
    ax.set_xlim(-0.5, len(hours) - 0.5)
    _style(ax)
    _counts(ax)
    ax.set_ylabel("messages per hour")
    ax.legend(loc="upper left", frameon=False, ncols=min(4, len(series)), fontsize="small")
    ax.set_ylim(0, max(bottom) * 1.2)
    panel.png = _png(fig)
    total = sum(totals.values())
    peak = max(bottom)
    panel.caption = (
        f"{_n(total)} messages sent; busiest hour {_n(peak)}; "
        f"by kind (the ledger's <code>detail</code>): "
        + _e(", ".join(f"{k or '(none)'} {_n(totals[k])}" for k in ranked[:10]))
        + (f" and {len(ranked) - 10} more kinds" if len(ranked) > 10 else "")
        + "."
        + (" Days without messages are left out (dotted lines)." if gaps else "")
    )
    return panel


def _latency_panel(ledger: Ledger) -> Panel:
    panel = Panel("AppRec latency", empty="no message.receipted events with a latency in the ledger")
    n, lo, hi, lo_pos = ledger.query(
        "SELECT COUNT(value), MIN(value), MAX(value), MIN(CASE WHEN value > 0 THEN value END) "
        "FROM events WHERE kind = 'message.receipted'"
    )[0]
    if not n:
        return panel
    log = lo_pos is not None and hi > 0 and hi / lo_pos >= 100
    if log:
        ratio = (hi / lo_pos) ** (1 / LATENCY_BINS)
        edges = [lo_pos * ratio**i for i in range(LATENCY_BINS)] + [hi]
    elif hi > lo:
        edges = [lo + (hi - lo) * i / LATENCY_BINS for i in range(LATENCY_BINS + 1)]
    else:
        edges = [lo - 0.5, lo + 0.5]
    inner = edges[1:-1]
    cums = "".join(f", TOTAL(value < {e!r})" for e in inner)
    rows = ledger.query(
        f"SELECT COALESCE(detail, ''), COUNT(value){cums} FROM events "
        "WHERE kind = 'message.receipted' AND value IS NOT NULL GROUP BY 1 ORDER BY 2 DESC"
    )
    per_status: list[tuple[str, list[int]]] = []  # (legend label, count per bin), largest status first
    for status, count, *cum in rows:
        cum = [int(c) for c in cum]
        per_status.append((f"status {status}" if status else "(no status)",
                           [b - a for a, b in zip([0, *cum], [*cum, count])]))
    if len(per_status) > 5:  # the four largest statuses, the rest together
        rest = [sum(v) for v in zip(*(bins for _s, bins in per_status[4:]))]
        per_status = per_status[:4] + [(f"{len(per_status) - 4} other statuses", rest)]
    counts = [sum(v) for v in zip(*(bins for _s, bins in per_status))]
    fig, ax = _figure()
    lefts, widths = edges[:-1], [b - a for a, b in zip(edges[:-1], edges[1:])]
    bottom = [0] * len(counts)
    for i, (label, bins) in enumerate(per_status):
        ax.bar(lefts, bins, width=widths, bottom=bottom, align="edge", linewidth=0.3, edgecolor="white",
               color=PALETTE[i % len(PALETTE)], label=_plain(label))
        bottom = [b + v for b, v in zip(bottom, bins)]
    if log:
        ax.set_xscale("log")
        ticks = [s for s in DURATIONS if edges[0] <= s <= edges[-1]]
        if len(ticks) > 9:  # a wide range: round steps only
            ticks = [s for s in COARSE_DURATIONS if edges[0] <= s <= edges[-1]]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _short(v)))
    quantiles = {q: _quantile(edges, counts, q, log) for q in (0.5, 0.95, 0.99)}
    for row, (q, x) in enumerate(quantiles.items()):
        ax.axvline(x, color="#1a202c", linestyle="--", linewidth=1)
        if log and x > 0:
            where = math.log(x / edges[0]) / math.log(edges[-1] / edges[0])
        else:
            where = (x - edges[0]) / (edges[-1] - edges[0])
        right = where > 0.7  # near the right edge the label goes to the left of its line
        ax.annotate(f"p{round(q * 100)} ≈ {_seconds(x)}", (x, 1 - 0.09 * row), xycoords=("data", "axes fraction"),
                    xytext=(-4 if right else 4, -2), textcoords="offset points", va="top",
                    ha="right" if right else "left", fontsize="small",
                    bbox={"boxstyle": "square,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85})
    _style(ax)
    _counts(ax)
    ax.set_xlabel("time from sending to the AppRec" + (" (log scale)" if log else ", seconds"))
    ax.set_ylabel("receipts")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize="small")
    ax.set_ylim(0, max(counts) * 1.35)
    panel.png = _png(fig)
    statuses = ", ".join(f"{label.removeprefix('status ')} {_n(sum(bins))}" for label, bins in per_status)
    panel.caption = (
        f"{_n(n)} receipts; median ≈ {_seconds(quantiles[0.5])}, p95 ≈ {_seconds(quantiles[0.95])}, "
        f"p99 ≈ {_seconds(quantiles[0.99])} (interpolated in {len(counts)} bins), "
        f"fastest {_seconds(lo)}, slowest {_seconds(hi)}; by status: {_e(statuses)}."
    )
    return panel


def _quantile(edges: Sequence[float], counts: Sequence[int], q: float, log: bool) -> float:
    target = q * sum(counts)
    seen = 0
    for i, c in enumerate(counts):
        if c and seen + c >= target:
            f = (target - seen) / c
            a, b = edges[i], edges[i + 1]
            return a * (b / a) ** f if log and a > 0 else a + (b - a) * f
        seen += c
    return edges[-1]


def _reply_panel(ledger: Ledger, names: dict[str, str]) -> Panel:
    panel = Panel("Reply-deadline compliance", empty="no reply.sent events in the ledger")
    rows = ledger.query(
        "SELECT COALESCE(municipality, ''), COUNT(*), TOTAL(value >= 0) FROM events "
        "WHERE kind = 'reply.sent' GROUP BY 1"
    )
    if not rows:
        return panel
    total = sum(r[1] for r in rows)
    within = sum(r[2] for r in rows)
    overall = within / total
    shares = [(names.get(m, m) or "(none)", m, n, w / n) for m, n, w in rows]
    if len(shares) > MAX_BARS:
        shown = sorted(shares, key=lambda s: (s[3], s[0]))[:MAX_BARS]
        note = f"The {MAX_BARS} municipalities with the lowest share of {len(shares)}, lowest at the top."
    else:
        shown = sorted(shares, key=lambda s: s[0])
        note = ""
    shown = list(reversed(shown))  # barh draws from the bottom
    fig, ax = _figure(height=max(2.6, 0.24 * len(shown) + 1.2))
    y = list(range(len(shown)))
    ax.barh(y, [s[3] for s in shown], color="#2b6cb0", height=0.7)
    labels = [_plain(f"{name} ({m})" if name != m and m else name) for name, m, _n2, _s in shown]
    ax.set_yticks(y, labels)
    for yi, (_name, _m, count, share) in zip(y, shown):
        ax.annotate(f"{share * 100:.1f} %  (n={count:,})".replace(",", " "), (share, yi), xytext=(4, 0),
                    textcoords="offset points", va="center", fontsize="small")
    ax.axvline(overall, color="#c53030", linestyle="--", linewidth=1.2)
    ax.annotate(f"overall {overall * 100:.1f} %", (overall, 1.0), xycoords=("data", "axes fraction"),
                xytext=(-4, 2), textcoords="offset points", ha="right", va="bottom", color="#c53030",
                fontsize="small")
    ax.set_xlim(0, 1.22)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="x", color="#e2e8f0", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.set_xlabel("share of replies sent before the reply deadline")
    panel.png = _png(fig)
    kinds = ledger.query(
        "SELECT COALESCE(detail, ''), COUNT(*), TOTAL(value >= 0) FROM events "
        "WHERE kind = 'reply.sent' GROUP BY 1 ORDER BY 2 DESC"
    )
    by_kind = ", ".join(f"{k or '(none)'} {_n(n)} ({w / n * 100:.1f} % in time)" for k, n, w in kinds)
    panel.caption = (
        f"<strong>Overall {_pct(overall)}</strong> of {_n(total)} replies sent before the deadline "
        f"({_n(total - int(within))} late). By kind: {_e(by_kind)}. {_e(note)}"
    )
    return panel


def _cancel_panel(cancels: dict[int, list[int]], days: list[int], gaps: bool, cal: _Days) -> Panel:
    panel = Panel("Cancellations per day", empty="no visit.cancelled or visit.cancel_refused events in the ledger")
    if not cancels:
        return panel
    zero = [0, 0, 0, 0]
    accepted = [cancels.get(d, zero)[1] for d in days]
    refused = [cancels.get(d, zero)[2] for d in days]
    wasted = [cancels.get(d, zero)[3] for d in days]
    series = [("accepted (before the cut-off)", accepted, ACCEPTED), ("refused (after the cut-off)", refused, REFUSED)]
    if any(wasted):
        series.append(("wasted trips", wasted, WASTED))
    fig, ax = _figure()
    width = 0.8 / len(series)
    for i, (label, values, color) in enumerate(series):
        offset = (i - (len(series) - 1) / 2) * width
        ax.bar([x + offset for x in range(len(days))], values, width=width, color=color, label=label)
    for i in _gaps(days):
        ax.axvline(i + 0.5, color="#718096", linestyle=":", linewidth=1)
    year = cal.start is not None and len({(cal.start + timedelta(days=d)).year for d in days}) > 1
    _ticks(ax, list(range(len(days))), [cal.label(d, year=year) for d in days])
    _style(ax)
    _counts(ax)
    ax.set_ylabel("cancellations")
    ax.legend(loc="upper left", frameon=False, ncols=3)
    top = max(max(v) for _l, v, _c in series)
    ax.set_ylim(0, max(1, top) * 1.18)
    panel.png = _png(fig)
    a, r, w = sum(accepted), sum(refused), sum(wasted)
    panel.caption = (
        f"{_n(a)} accepted, {_n(r)} refused"
        + (f" ({_pct(r / (a + r))} refused)" if a + r else "")
        + f"; {_n(w)} wasted trips."
        + (" Days without visits or cancellations are left out (dotted lines)." if gaps else "")
    )
    return panel


# --------------------------------------------------------------------------- what DigiHelse buys

COSTS = (("NHN one-off", "nhn", "#2c7a7b"), ("KS one-off", "ks_one_off", "#805ad5"),
         ("KS per inhabitant", "ks_per_inhabitant", "#b794f4"), ("Digifin per inhabitant", "digifin", "#dd8a26"))
"""The cost of joining's parts, as the price model names them (simulator/business_case.py)."""
BUYS = (("wasted trips avoided", "wasted_trips_avoided", ACCEPTED), ("phone calls avoided", "phone_calls_avoided",
                                                                     "#2b6cb0"))
"""What the plot shows bought, per municipality."""
MAX_CASE_ROWS = 25  # plot: the municipalities with the most recipients beyond this (the table lists up to 50)


def _kr(value: float | None) -> str:
    return "—" if value is None else f"kr\u00a0{_n(round(value))}"


def _fig(figure: CaseFigure, mark: str, digits: int = 0) -> str:
    """A table cell: the value and the footnote mark that says how it is known."""
    if figure.value is None:
        return "—"
    value = figure.value if digits else round(figure.value)
    text = f"{value:,.{digits}f}".replace(",", "\u202f") if digits else _n(value)
    return f'{text}<sup class="mark">{mark}</sup>'


def _case_panel(case: BusinessCase | None) -> Panel:
    panel = Panel("Cost of joining against what the run bought",
                  empty="no business case in summary.json (a summary from before it, or no municipalities)")
    if case is None or not case.rows:
        return panel
    rows = sorted(case.rows, key=lambda r: (-r.recipients, r.kommunenummer or ""))[:MAX_CASE_ROWS]
    costly = [r for r in rows if r.cost_of_joining is not None]
    bought = any((getattr(r, key).value or 0) > 0 for r in rows for _l, key, _c in BUYS)
    if not costly and not bought:
        return panel
    rows = list(reversed(rows))  # barh draws from the bottom: the largest at the top
    labels = [_plain(r.name) for r in rows]
    fig = Figure(figsize=(11.0, max(2.6, 0.32 * len(rows) + 1.4)), layout="constrained")
    cost_ax, buy_ax = fig.subplots(1, 2, sharey=True)
    y = list(range(len(rows)))
    left = [0.0] * len(rows)
    for label, key, color in COSTS:
        values = [getattr(r.cost_of_joining, key) if r.cost_of_joining else 0.0 for r in rows]
        cost_ax.barh(y, values, left=left, color=color, label=label, height=0.7)
        left = [a + b for a, b in zip(left, values)]
    cost_ax.set_yticks(y, labels)
    cost_ax.set_title("cost of joining, one-off (estimate: the seeds' price model)", loc="left")
    cost_ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v / 1000:,.0f}k".replace(",", " ")))
    cost_ax.set_xlabel("NOK")
    cost_ax.legend(loc="lower right", frameon=False, fontsize="small")
    height = 0.7 / len(BUYS)
    for i, (label, key, color) in enumerate(BUYS):
        offset = (i - (len(BUYS) - 1) / 2) * height
        values = [getattr(r, key).value or 0 for r in rows]
        basis = getattr(rows[0], key).basis
        buy_ax.barh([v - offset for v in y], values, height=height, color=color, label=f"{label} ({basis})")
    buy_ax.set_title(f"bought in the run ({case.simulated_days} days, scale {case.scale:g})", loc="left")
    buy_ax.legend(loc="lower right", frameon=False, fontsize="small")
    for ax in (cost_ax, buy_ax):
        _style(ax)
        ax.grid(axis="y", visible=False)
        ax.grid(axis="x", color="#e2e8f0", linewidth=0.8)
    _counts(buy_ax, axis="x")
    panel.png = _png(fig)
    t = case.total
    total_cost = t.cost_of_joining.total if t.cost_of_joining else None
    panel.caption = (
        f"Left: what joining costs each municipality once ({_kr(total_cost)}"
        f" in total). Right: what the run bought: {_n(t.wasted_trips_avoided.value or 0)} wasted trips avoided "
        f"(measured) and about {_n(round(t.phone_calls_avoided.value or 0))} phone calls avoided (estimate)."
        + (f" The {MAX_CASE_ROWS} municipalities with the most recipients." if len(case.rows) > MAX_CASE_ROWS else "")
    )
    return panel


def _case_section(summary: Summary, panel: Panel) -> str:
    """The business case a working group can put before its council: a table, its sources, the plot."""
    case = summary.business_case
    notices = ""
    if summary.notifications_by_kind:
        kinds = ", ".join(f"{k} {_n(n)}" for k, n in summary.notifications_by_kind.items())
        notices = f'<p class="note"><strong>Notices to citizens by kind:</strong> {_e(kinds)}. ' \
                  f"{_e(summary.notifications_note)}</p>"
    if case is None or not case.rows:
        return f'<h2 id="what-digihelse-buys">What DigiHelse buys</h2>\n{panel.html()}{notices}'
    marks: dict[str, str] = {}

    def mark(figure: CaseFigure) -> str:
        key = f"{figure.basis}: {figure.source}"
        if key not in marks:
            marks[key] = str(len(marks) + 1)
        return marks[key]

    def line(row: BusinessCaseRow, total: bool = False) -> str:
        cost = row.cost_of_joining
        cost_cell = "—"
        if cost is not None:
            cost_mark = mark(CaseFigure(value=cost.total, basis=cost.basis, source=cost.source))
            cost_cell = f'{_kr(cost.total)}<sup class="mark">{cost_mark}</sup>'
        name = "Total" if total else f'{_e(row.name)} <span class="kn">{_e(row.kommunenummer)}</span>'
        opening = '<tr class="total">' if total else "<tr>"
        inhabitants = "—" if row.inhabitants is None else _n(row.inhabitants)
        cells = [
            _fig(row.wasted_trips_avoided, mark(row.wasted_trips_avoided)),
            _fig(row.wasted_trips, mark(row.wasted_trips)),
            _fig(row.phone_calls_avoided, mark(row.phone_calls_avoided)),
            _fig(row.staff_minutes_on_messages, mark(row.staff_minutes_on_messages)),
            _fig(row.messages_per_1000_recipients_per_week, mark(row.messages_per_1000_recipients_per_week), 1),
            cost_cell,
        ]
        return (f'{opening}<td>{name}</td><td class="num">{inhabitants}</td><td class="num">{_n(row.recipients)}</td>'
                + "".join(f'<td class="num">{cell}</td>' for cell in cells) + "</tr>")

    shown = sorted(case.rows, key=lambda r: (-r.recipients, r.kommunenummer or ""))[:MAX_TABLE_ROWS]
    body = "".join(line(r) for r in shown) + (line(case.total, total=True) if len(case.rows) > 1 else "")
    more = ""
    if len(case.rows) > MAX_TABLE_ROWS:
        more = (f'<p class="note">The {MAX_TABLE_ROWS} municipalities with the most recipients of '
                f"{_n(len(case.rows))}; <code>summary.json</code> lists them all.</p>")
    sources = "".join(
        f'<li value="{n}"><span class="basis {key.split(":", 1)[0]}">{_e(key.split(":", 1)[0])}</span> '
        f"{_e(key.split(': ', 1)[1])}</li>"
        for key, n in marks.items()
    )
    scale = (f" Counts are of the simulated population at scale {case.scale:g}; the cost uses the real 2024 "
             "population.") if case.scale != 1 else ""
    return f"""<h2 id="what-digihelse-buys">What DigiHelse buys</h2>
<p class="note">Per municipality over the run's {_n(case.simulated_days)} simulated days. Each figure is
<span class="basis measured">measured</span> (counted in the ledger) or an <span class="basis estimate">estimate</span>
(a measured count times an assumed factor, or the seeds' price list); the numbered notes say which and give the
source.{_e(scale)}</p>
{more}<table class="case"><thead><tr><th>Municipality</th><th class="num">Inhabitants (2024)</th>
<th class="num">Recipients in the run</th><th class="num">Wasted trips avoided</th><th class="num">Wasted trips</th>
<th class="num">Phone calls avoided</th><th class="num">Staff minutes on messages</th>
<th class="num">Messages per 1,000 recipients per week</th><th class="num">Cost of joining (one-off)</th></tr></thead>
<tbody>{body}</tbody></table>
<ol class="sources">{sources}</ol>
{notices}
{panel.html()}"""


# --------------------------------------------------------------------------- page


def _checks_table(checks: dict[str, Check]) -> str:
    if not checks:
        return '<p class="note">This run has no checks.</p>'
    rows = []
    for name, check in checks.items():
        cls = "pass" if check.passed else "fail"
        mark = "✔ pass" if check.passed else "✘ FAIL"
        rows.append(
            f'<tr class="{cls}"><td>{_e(name)}</td><td class="mark">{mark}</td>'
            f'<td class="num">{_e(_value(check.value))}</td><td>{_e(check.expected)}'
            + (f'<div class="detail">{_e(check.detail)}</div>' if check.detail else "") + "</td></tr>"
        )
    return (
        '<table class="checks"><thead><tr><th>Check</th><th>Result</th><th class="num">Value</th>'
        f"<th>Expected</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


ROLE_NAMES = {"message_responsible": "responsible for messages", "nurse": "nurse", "skilled_worker": "skilled worker",
              "caseworker": "caseworker", "invoicing": "invoicing", "leader": "leader", "therapist": "therapist"}


def _staff_section(summary: Summary, cal: "_Days") -> str:
    """Staff and the routine: the minutes each role spent on messages, and the leader's morning overview."""
    parts = ['<h2 id="staff">Staff and the routine</h2>']
    case = summary.business_case
    if case is not None and case.rows:
        roles = sorted({role for row in [*case.rows, case.total] for role in row.staff_minutes_by_role})
        if roles:
            head = "".join(f'<th class="num">{_e(ROLE_NAMES.get(r, r))}</th>' for r in roles)
            shown = sorted(case.rows, key=lambda r: (-r.recipients, r.kommunenummer or ""))[:MAX_TABLE_ROWS]
            lines = [*shown, case.total] if len(case.rows) > 1 else shown
            body = "".join(
                f'<tr{" class=total" if row is case.total else ""}><td>{_e(row.name)}</td>'
                + "".join(f'<td class="num">{_n(round(row.staff_minutes_by_role.get(r, 0)))}</td>' for r in roles)
                + "</tr>" for row in lines)
            parts.append('<p class="note">Minutes spent on DigiHelse messages by role: each routine step the staff '
                         "did, at the scenario's <code>[staffing] step_minutes</code> (ESTIMATE), and welcome "
                         "messages.</p>"
                         f"<table><thead><tr><th>Municipality</th>{head}</tr></thead><tbody>{body}</tbody></table>")
    units = summary.leader_overview
    if not units:
        parts.append('<p class="note">No leader read an overview in this run (no workday day shift, or nothing '
                     "live).</p>")
        return "".join(parts)
    shown = units[:MAX_TABLE_ROWS]

    def morning(t: float | None) -> str:
        return "—" if t is None else _e(cal.label(int(t // 86_400)))

    body = "".join(
        f'<tr{" class=fail" if u.most_past_due else ""}><td>{_e(u.name)} <span class="kn">{_e(u.kommunenummer)}'
        f'</span></td><td class="num">{u.service_her_id}</td><td class="num">{_n(u.readings)}</td>'
        f'<td class="num">{_n(u.most_past_due)}</td><td>{morning(u.worst_morning)}</td>'
        f'<td class="num">{_n(u.last_past_due)}</td><td class="num">{_n(u.last_open)}</td></tr>'
        for u in shown)
    more = (f'<p class="note">The {MAX_TABLE_ROWS} units with the most late cases of {_n(len(units))}; '
            "<code>summary.json</code> lists them all.</p>") if len(units) > MAX_TABLE_ROWS else ""
    parts.append(
        '<h3>The leader\'s overview</h3><p class="note">What the leader saw each workday morning in the EPJ\'s '
        "overview (<code>GET /epj/{installation}/api/overview</code>): open cases per unit and those late by the "
        "routine — no answer past the reply deadline, or a temporary answer whose promised workday has ended.</p>"
        '<table><thead><tr><th>Municipality</th><th class="num">Unit (HER-id)</th><th class="num">Mornings read'
        '</th><th class="num">Most late cases</th><th>On</th><th class="num">Late at the last reading</th>'
        f'<th class="num">Open at the last reading</th></tr></thead><tbody>{body}</tbody></table>{more}')
    return "".join(parts)


def _municipality_table(summary: Summary) -> str:
    rows = sorted(summary.per_municipality, key=lambda r: (-r.recipients, r.kommunenummer))
    if not rows:
        return '<div class="nodata"><strong>no data</strong><span>the summary lists no municipalities</span></div>'
    note = ""
    if len(rows) > MAX_TABLE_ROWS:
        note = (
            f'<p class="note">The {MAX_TABLE_ROWS} municipalities with the most recipients of '
            f"{_n(len(rows))}; <code>summary.json</code> lists them all.</p>"
        )
        rows = rows[:MAX_TABLE_ROWS]
    body = "".join(
        f"<tr><td>{_e(r.kommunenummer)}</td><td>{_e(r.name)}</td><td>{_e(r.vendor or '—')}</td>"
        f'<td class="{"live" if r.live else "notlive"}">{"live" if r.live else "not live"}</td>'
        f'<td class="num">{_n(r.recipients)}</td><td class="num">{_n(r.visits)}</td>'
        f'<td class="num">{_n(r.messages)}</td><td class="num">{_pct(r.reply_within_deadline)}</td>'
        f"<td>{_e(r.rules or '—')}</td></tr>"
        for r in rows
    )
    return (
        f"{note}<table><thead><tr><th>Kommunenr.</th><th>Municipality</th><th>EPJ vendor</th>"
        '<th>DigiHelse</th><th class="num">Recipients</th><th class="num">Visits</th>'
        '<th class="num">Messages</th><th class="num">Replies in time</th><th>Local rules</th></tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


KIND_NAMES = {"home_nursing": "home nursing", "practical_help": "practical help", "meals": "meals on wheels",
              "other": "other services (respite care)", "health_station": "health station"}


def _spans(summary: Summary) -> str | None:
    """The periods' date ranges when there are several (the days are not consecutive), else None."""
    if len(summary.per_period) < 2:
        return None
    spans = []
    for p in summary.per_period:
        start = date.fromisoformat(p.start)
        spans.append(f"{start:%d.%m.%Y}–{start + timedelta(days=p.days - 1):%d.%m.%Y}")
    return f"{len(spans)} periods: " + ", ".join(spans)


def _period_table(summary: Summary) -> str:
    """Each period (rollout phase, week before/after an event) as a column: one glance, not a calculation."""
    periods = summary.per_period
    if not periods:
        return ""  # a summary from before per-period figures: no section rather than an empty one

    def kinds(names: list[str], unmodelled: list[str]) -> str:
        return ", ".join(_e(KIND_NAMES.get(k, k)) + (" (not modelled)" if k in unmodelled else "")
                         for k in names) or "—"

    def by_service(p) -> str:
        parts = [f"{_e(SERVICES.get(k, (k, ''))[0])} {_n(n)}" for k, n in p.messages_by_service.items()]
        return ", ".join(parts) or "—"

    rows = [
        ("First day", lambda p: _e(p.start)),
        ("Days", lambda p: _n(p.days)),
        ("Services live", lambda p: kinds(p.services_live, p.not_modelled)),
        ("New since the previous period", lambda p: kinds(p.newly_live, p.not_modelled)),
        ("Recipients", lambda p: _n(p.recipients)),
        ("Recipients reachable (last day)", lambda p: _n(p.reachable)),
        ("Messages", lambda p: _n(p.messages)),
        ("Messages by service", by_service),
        ("Messages per 1,000 recipients per week", lambda p: f"{p.messages_per_1000:,.1f}"),
        ("Cancellations accepted", lambda p: _n(p.cancellations)),
        ("Cancellations refused (after the cut-off)", lambda p: _n(p.cancellations_refused)),
        ("Replies within the deadline", lambda p: f"{_pct(p.replies_within_deadline)} of {_n(p.replies_due)}"),
        ("Notices (SMS/e-mail)", lambda p: _n(p.notices)),
        ("Welcome messages to the newly digital", lambda p: _n(p.welcomes)),
    ]
    head = "".join(f'<th class="num">{_e(p.label)}</th>' for p in periods)
    body = "".join(f"<tr><td>{_e(name)}</td>" + "".join(f'<td class="num">{cell(p)}</td>' for p in periods) + "</tr>"
                   for name, cell in rows)
    return (f'<h2>Periods and phases</h2>\n<table class="periods"><thead><tr><th></th>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


def _kinds_table(counts: dict[str, int]) -> str:
    if not counts:
        return '<div class="nodata"><strong>no data</strong><span>the ledger has no events</span></div>'
    order = [k for k in KINDS if k in counts] + sorted(k for k in counts if k not in KINDS)
    body = "".join(
        f'<tr><td><code>{_e(k)}</code></td><td class="num">{_n(counts[k])}</td><td>{_e(KINDS.get(k, ""))}</td></tr>'
        for k in order
    )
    return (
        '<table class="kinds"><thead><tr><th>Event kind</th><th class="num">Events</th><th>Meaning</th></tr>'
        f"</thead><tbody>{body}</tbody></table>"
    )


def _figures(summary: Summary) -> str:
    v, m = summary.visits, summary.messages
    deviation = (v.per_week / v.target_per_week - 1) if v.target_per_week else None
    services = ", ".join(
        f"{SERVICES.get(k, (k, ''))[0]} {_n(n)}" for k, n in sorted(v.by_service.items(), key=lambda kv: -kv[1])
    )

    def card(title: str, items: list[tuple[str, str]], *, bad: set[str] = frozenset()) -> str:
        cells = "".join(
            f'<div class="{"bad" if label in bad else ""}"><dt>{_e(label)}</dt><dd>{value}</dd></div>'
            for label, value in items
        )
        return f'<section class="card"><h3>{_e(title)}</h3><dl>{cells}</dl></section>'

    visits = card("Visits", [
        ("total", _n(v.total)),
        ("per week", _n(round(v.per_week))),
        ("target per week", _n(round(v.target_per_week))),
        ("deviation", "—" if deviation is None else f"{deviation * 100:+.2f}\u00a0%"),
    ])
    messages = card("Messages", [
        ("sent", _n(m.sent)), ("journaled", _n(m.journaled)), ("receipted", _n(m.receipted)),
        ("failed", _n(m.failed)), ("lost", _n(m.lost)), ("duplicates", _n(m.duplicates)),
    ], bad={k for k, n in (("lost", m.lost), ("duplicates", m.duplicates)) if n})
    run = card("Run", [
        ("municipalities", _n(summary.municipalities)),
        ("recipients", _n(summary.recipients)),
        ("events", _n(summary.events)),
        ("wall time", f"{summary.wall_seconds:.1f}\u00a0s"),
    ])
    faults = card("Faults ridden out", [
        *((kind.replace("_", " "), _n(n)) for kind, n in summary.faults.items()),
        ("shown failed to the sender", _n(m.shown_failed)),
    ]) if summary.faults else ""
    by = f'<p class="note">Visits by service: {_e(services)}.</p>' if services else ""
    return f'<div class="cards">{run}{visits}{messages}{faults}</div>{by}'


CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f4f6f8;color:#1a202c;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif}
main{max-width:1240px;margin:0 auto;padding:24px 28px 48px}
header{display:flex;gap:24px;align-items:flex-start;justify-content:space-between;background:#fff;border-radius:10px;padding:20px 24px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 10px}h3{font-size:16px;margin:0 0 8px}
.sub{color:#4a5568;margin:0 0 12px}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin:0}
.meta dt{color:#4a5568}.meta dd{margin:0;font-weight:600}
.fp{font:12px/1.4 ui-monospace,"DejaVu Sans Mono",Menlo,monospace;word-break:break-all;font-weight:400!important}
.verdict{min-width:200px;text-align:center;border-radius:10px;padding:14px 22px;color:#fff}
.verdict strong{display:block;font-size:46px;letter-spacing:3px;line-height:1.1}
.verdict span{font-size:14px}
.verdict.pass{background:#2f855a}.verdict.fail{background:#c53030}
.detail{color:#c53030;font-size:13px;margin-top:4px}
.cards{display:grid;grid-template-columns:repeat(3,1fr);gap:16px;margin-top:16px}
.card{background:#fff;border-radius:10px;padding:14px 18px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.card dl{display:grid;grid-template-columns:repeat(2,1fr);gap:6px 14px;margin:0}
.card dt{color:#4a5568;font-size:13px}.card dd{margin:0;font-size:18px;font-weight:600;font-variant-numeric:tabular-nums}
.card .bad dd{color:#c53030}
table{width:100%;border-collapse:collapse;background:#fff;border-radius:10px;overflow:hidden;box-shadow:0 1px 3px rgba(0,0,0,.08)}
th,td{padding:6px 12px;text-align:left;border-bottom:1px solid #edf2f7;vertical-align:top}
th{background:#edf2f7;font-size:13px;color:#2d3748}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr.fail td{background:#fde8e8}tr.fail td.mark{color:#c53030;font-weight:700}
tr.pass td.mark{color:#2f855a;font-weight:600}
td.live{color:#2f855a}td.notlive{color:#718096}
.panel{background:#fff;border-radius:10px;padding:16px 18px;margin:0 0 18px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.panel img{display:block;width:100%;height:auto}
figcaption,.note{color:#4a5568;font-size:14px;margin-top:8px}
.nodata{display:flex;flex-direction:column;align-items:center;justify-content:center;gap:4px;min-height:140px;border:2px dashed #cbd5e0;border-radius:8px;color:#718096}
.nodata strong{font-size:18px;text-transform:uppercase;letter-spacing:1px}
code{font:13px ui-monospace,"DejaVu Sans Mono",Menlo,monospace}
footer{margin-top:32px;color:#718096;font-size:13px}
sup.mark{color:#4a5568;font-size:10px;margin-left:2px}
.kn{color:#718096;font-size:12px}
tr.total td{font-weight:700;border-top:2px solid #cbd5e0}
ol.sources{color:#4a5568;font-size:13px;margin:8px 0 12px;padding-left:22px}
.basis{display:inline-block;border-radius:4px;padding:0 5px;font-size:12px;font-weight:600}
.basis.measured{background:#c6f6d5;color:#22543d}.basis.estimate{background:#feebc8;color:#7b341e}
@media (max-width:800px){.cards{grid-template-columns:1fr}header{flex-direction:column}}
"""


def write_report(ledger: Ledger, summary: Summary, path: Path) -> Path:
    """Write the run's report to ``path`` (one self-contained HTML file) and return the path."""
    path = Path(path)
    ledger.finish()  # idempotent: writes what is pending
    meta = dict(ledger.query("SELECT key, value FROM meta"))
    cal = _Days(_start(meta, summary))
    names = {row.kommunenummer: row.name for row in summary.per_municipality}

    with matplotlib.rc_context({
        "font.size": 10,
        "axes.titlesize": 11,
        "axes.edgecolor": "#4a5568",
        "xtick.color": "#2d3748",
        "ytick.color": "#2d3748",
    }):
        visits = _per_day(ledger, ["visit.completed"], ["service = 'nursing'", "service = 'help'"])
        cancel_kinds = ["visit.cancelled", "visit.cancel_refused", "visit.wasted_trip"]
        cancels = _per_day(ledger, cancel_kinds, [f"kind = '{k}'" for k in cancel_kinds])
        visit_days, visit_gaps = _axis(visits, MAX_DAY_SPAN)
        cancel_days, cancel_gaps = _axis([*visits, *cancels], MAX_DAY_SPAN)
        panels = [
            _visits_panel(visits, visit_days, visit_gaps, cal),
            _messages_panel(ledger, cal),
            _latency_panel(ledger),
            _reply_panel(ledger, names),
            _cancel_panel(cancels, cancel_days, cancel_gaps, cal),
        ]
        case_panel = _case_panel(summary.business_case)
    counts = dict(ledger.query("SELECT kind, COUNT(*) FROM events GROUP BY kind"))

    failed = summary.failed_checks
    if summary.passed:
        verdict = (
            f'<div class="verdict pass"><strong>PASS</strong><span>all {len(summary.checks)} checks passed'
            "</span></div>"
        )
    else:
        expected = ""
        if summary.as_expected:
            expected = (f" — the failure this scenario is built to show "
                        f"({_e(', '.join(summary.expected_failing))})")
        elif summary.expected_failing:
            expected = f" — not the failure this scenario expects ({_e(', '.join(summary.expected_failing))})"
        verdict = (
            f'<div class="verdict fail"><strong>FAIL</strong><span>{len(failed)} of {len(summary.checks)} '
            f"checks failed{expected}</span></div>"
        )
    description = summary.description or meta.get("description")
    first, last = 0, max(summary.simulated_days - 1, 0)
    meta_rows = [
        ("scenario", _e(summary.scenario)),
        ("seed", _e(summary.seed)),
        ("scale", _e(f"{summary.scale:g}")),
        ("transport", _e(summary.transport)),
        ("simulated days", f"{_n(summary.simulated_days)} ({_e(_spans(summary) or cal.period(first, last))})"),
        ("fingerprint", f'<span class="fp">{_e(summary.fingerprint)}</span>'),
    ]
    meta_html = "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in meta_rows)
    failed_note = (
        f'<p class="note"><strong>Failed:</strong> {_e(", ".join(failed))}.</p>' if failed else ""
    )
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{"PASS" if summary.passed else "FAIL"} · {_e(summary.scenario)} · DigiHelse simulation</title>
<style>{CSS}</style>
</head>
<body>
<main>
<header>
<div>
<h1>DigiHelse simulation: {_e(summary.scenario)}</h1>
{f'<p class="sub">{_e(description)}</p>' if description else ''}
<dl class="meta">{meta_html}</dl>
</div>
{verdict}
</header>
{_figures(summary)}
{_period_table(summary)}
<h2>Checks</h2>
{failed_note}
{_checks_table(summary.checks)}
<h2>Plots</h2>
{''.join(p.html() for p in panels)}
{_case_section(summary, case_panel)}
{_staff_section(summary, cal)}
<h2>Municipalities</h2>
{_municipality_table(summary)}
<h2>Ledger</h2>
{_kinds_table(counts)}
<footer>Generated by <code>digihelse simulate</code> from the run's ledger and <code>summary.json</code>.
All people in it are synthetic.</footer>
</main>
</body>
</html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
