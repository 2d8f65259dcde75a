"""``report_rss_mb_*`` / ``report_seconds_*``: the delivery report of a big campaign in a fresh process.

``python -m bench.delivery_report --url URL --campaign NAME --out DIR`` writes the report as
``notifier report delivery`` does (HTML, CSV and JSON, contacts masked, audited) and prints one JSON line:
the seconds ``write_delivery_report`` took and the files written. Its peak RSS is measured from outside
(bench/rss.py), so it covers the whole process: interpreter, imports (matplotlib, Jinja2), the aggregates,
the charts and the CSV streamed row by row (``yield_per``; a server-side cursor on PostgreSQL)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.bigstore import BigStore
from bench.rss import peak_rss_mb_of
from notifier.config import PROJECT_ROOT
from notifier.reports.delivery import write_delivery_report
from notifier.store import Store

FORMATS = ("html", "csv", "json")


class ReportTimeoutError(RuntimeError):
    """The report was still running at the timeout and was killed."""


@dataclass(frozen=True, slots=True)
class ReportRun:
    rss_mb: float
    seconds: float
    csv_lines: int
    expected_lines: int  # outbox rows + customers with no channel + the header


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--campaign", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    store = Store(args.url)
    began = time.perf_counter()
    paths = write_delivery_report(store, args.campaign, args.out, formats=FORMATS, actor="bench")
    seconds = time.perf_counter() - began
    store.dispose()
    print(json.dumps({"seconds": seconds, **{fmt: str(path) for fmt, path in paths.items()}}), flush=True)


def _lines(path: Path) -> int:
    count = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
    return count


def report_run(big: BigStore, out: Path, timeout: float = 3600) -> ReportRun:
    """Run the report of ``big``'s campaign in a fresh process; its peak RSS, seconds and CSV lines."""
    peak, code, tail = peak_rss_mb_of(
        [
            sys.executable,
            "-m",
            "bench.delivery_report",
            "--url",
            big.url,
            "--campaign",
            big.campaign,
            "--out",
            str(out),
        ],
        cwd=str(PROJECT_ROOT),
        timeout=timeout,
    )
    if code == -9 and "timeout]" in tail:
        raise ReportTimeoutError(f"killed after {timeout:g} s (peak RSS by then {peak:.0f} MB)")
    if code != 0:
        raise RuntimeError(f"bench.delivery_report failed ({code}): {tail}")
    written = json.loads(tail.strip().splitlines()[-1])
    expected = big.rows["outbox"] + big.no_channel + 1
    lines = _lines(Path(written["csv"]))
    if lines != expected:
        raise RuntimeError(f"the CSV has {lines} lines, not {expected} (outbox + no channel + header)")
    for fmt in ("html", "json"):
        if not Path(written[fmt]).stat().st_size:
            raise RuntimeError(f"the {fmt} report is empty")
    return ReportRun(peak, float(written["seconds"]), lines, expected)


if __name__ == "__main__":
    main()
