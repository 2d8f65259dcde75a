"""Charts for reports, drawn on the server as SVG with matplotlib: inlined in the HTML, they work offline
(no CDN, no script: this is breach data), print sharp at any size and keep their text as text.

Each function takes the numbers already aggregated by the store and returns one ``<svg>`` element. Colours
are the Okabe-Ito palette (told apart with every common colour-vision deficiency), and the same state has
the same colour in every chart."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

import matplotlib
from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure

__all__ = ["OUTCOME_COLOURS", "bucket_label", "bucket_seconds", "stacked_bars_svg", "timeline_svg"]

OUTCOME_COLOURS = {
    "sent": "#0072B2",
    "delivered": "#009E73",
    "reached": "#009E73",
    "accepted, no report yet": "#56B4E9",
    "in progress": "#E69F00",
    "failed": "#D55E00",
    "not reached": "#D55E00",
    "no receipt": "#CC79A7",
    "uncertain": "#F0E442",
    "waiting (fallback)": "#DDDDDD",
    "suppressed or skipped": "#999999",
    "already notified": "#999999",
}
_STYLE = {
    "svg.fonttype": "none",  # text stays text: searchable, selectable, small
    "svg.hashsalt": "notifier",  # the same numbers give the same file
    "font.family": ["DejaVu Sans", "sans-serif"],
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_NICE_BUCKETS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)


def bucket_seconds(first: datetime, last: datetime, max_bars: int = 150) -> int:
    """The smallest round bucket (1 s … 30 s, 1 … 30 minutes, hours, a day) that draws the span in at
    most ``max_bars`` buckets: a second-by-second line of a week-long campaign would be a smear, and a
    minute-by-minute one of a two-minute campaign a single dot."""
    span = (last - first).total_seconds() + 1
    return next((b for b in _NICE_BUCKETS if span / b <= max_bars), _NICE_BUCKETS[-1])


def bucket_label(seconds: int) -> str:
    """``10 seconds``, ``minute``, ``15 minutes``, ``hour``, ``6 hours``: what "per …" reads as."""
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds % size == 0:
            n = seconds // size
            return unit if n == 1 else f"{n} {unit}s"
    return f"{seconds} seconds"


def _svg(figure: Figure, label: str) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]  # the XML prolog and doctype do not belong inside HTML
    # A name for screen readers; the table beside every chart carries the numbers themselves.
    return svg.replace("<svg ", f'<svg role="img" aria-label="{_attr(label)}" ', 1)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def timeline_svg(
    series: Mapping[str, Mapping[datetime, int]], *, bucket: int, title: str, width: float = 9.0
) -> str:
    """Counts per time bucket of ``bucket`` seconds (UTC) as one line per series (``sent``,
    ``delivered``, ``failed``)."""
    with matplotlib.rc_context(cast(Any, _STYLE)):
        figure = Figure(figsize=(width, 3.0))
        axes = figure.subplots()
        for name, points in series.items():
            if not points:
                continue
            times = sorted(points)
            # Buckets with nothing in them are drawn as zero, not skipped over by the line.
            filled: dict[datetime, int] = {}
            moment, step = times[0], timedelta(seconds=bucket)
            while moment <= times[-1]:
                filled[moment] = points.get(moment, 0)
                moment += step
            axes.plot(
                cast(Any, list(filled)),  # matplotlib's date converter takes datetimes; its stubs do not say
                list(filled.values()),
                label=name,
                color=OUTCOME_COLOURS.get(name, "#000000"),
                marker="o" if len(filled) <= 40 else None,
                markersize=3,
                linewidth=1.6,
                drawstyle="steps-mid" if len(filled) > 40 else "default",
            )
        axes.set_title(title, loc="left", fontsize=10)
        axes.set_ylabel(f"messages per {bucket_label(bucket)}")
        moments = sorted({m for points in series.values() for m in points})
        days = sorted({f"{m:%d %b %Y}" for m in moments})
        # The day once, in the axis label, when the campaign fits in it: the ticks stay short and legible.
        axes.set_xlabel(f"time (UTC), {days[0]}" if len(days) == 1 else "time (UTC)")
        if len(moments) <= 8:
            axes.set_xticks(cast(Any, moments))  # one tick per bucket: no ticks between seconds
        else:
            axes.xaxis.set_major_locator(AutoDateLocator(maxticks=10))  # type: ignore[no-untyped-call]
        clock = "%H:%M:%S" if bucket < 60 else "%H:%M"
        pattern = clock if len(days) == 1 else f"%d %b {clock}"
        axes.xaxis.set_major_formatter(DateFormatter(pattern))  # type: ignore[no-untyped-call]
        axes.set_ylim(bottom=0)
        axes.grid(axis="y", linewidth=0.4, alpha=0.6)
        if any(series.values()):
            axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False, ncols=3)
        else:
            axes.text(0.5, 0.5, "nothing sent yet", transform=axes.transAxes, ha="center", color="#555555")
        return _svg(figure, title)


def stacked_bars_svg(
    rows: Sequence[tuple[str, Mapping[str, int]]], *, segments: Sequence[str], title: str, unit: str
) -> str:
    """One horizontal bar per row label, split into ``segments`` (in that order, coloured by name), each
    segment labelled with its count where it is wide enough."""
    height = 0.9 + 0.38 * max(len(rows), 1)
    with matplotlib.rc_context(cast(Any, _STYLE)):
        figure = Figure(figsize=(9.0, height))
        axes = figure.subplots()
        labels = [label for label, _ in rows][::-1]
        values = [counts for _, counts in rows][::-1]
        totals = [sum(v.get(s, 0) for s in segments) or 1 for v in values]
        left = [0] * len(values)
        for segment in segments:
            widths = [v.get(segment, 0) for v in values]
            if not any(widths):
                continue
            bars = axes.barh(
                labels,
                widths,
                left=left,
                label=segment,
                color=OUTCOME_COLOURS.get(segment, "#000000"),
                height=0.6,
            )
            texts = [f"{w:,}" if w and w / t >= 0.07 else "" for w, t in zip(widths, totals, strict=True)]
            axes.bar_label(bars, labels=texts, label_type="center", fontsize=8, color="#000000")
            left = [a + b for a, b in zip(left, widths, strict=True)]
        axes.set_title(title, loc="left", fontsize=10)
        axes.set_xlabel(unit)
        axes.grid(axis="x", linewidth=0.4, alpha=0.6)
        axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0 + 0.35 / height), frameon=False, ncols=4)
        return _svg(figure, title)
