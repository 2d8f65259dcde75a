"""Score the bounce classifier against real-world bounces: the corpus (``tests/data/bounces``) and the
held-out set (``tests/data/bounces-unseen``), which no rule was written from.

Run ``python -m bench.bounces`` from the repository root (``-v`` lists the files). For each set it
prints address accuracy, class accuracy, the expected-versus-ours confusion matrix and the files it
gets wrong grouped by mail system; then classification speed. ``tests/test_bounce_classifier.py``
uses :func:`score` too, so the numbers in docs/bounces.md and the regression floors in the test come
from one function.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from notifier.config import PROJECT_ROOT
from notifier.tracking.bounces.classify import BounceReport, Failure, classify

CLASSES = ("hard", "soft", "null")


CORPUS = PROJECT_ROOT / "tests" / "data" / "bounces"  # carried in the repository, with its license
UNSEEN = PROJECT_ROOT / "tests" / "data" / "bounces-unseen"  # held out: measures generalisation


def load_corpus(directory: Path) -> list[tuple[dict[str, Any], bytes]]:
    """(expected entry, raw message bytes) for every file listed in expected.json."""
    expected = json.loads((directory / "expected.json").read_text(encoding="utf-8"))
    return [(entry, (directory / entry["file"]).read_bytes()) for entry in expected]


@dataclass
class Score:
    address_hits: int = 0
    address_total: int = 0  # expected recipients whose class is hard or soft
    class_hits: int = 0
    class_total: int = 0  # all expected recipients
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)  # (expected, ours)
    wrong: dict[str, Counter[str]] = field(default_factory=dict)  # mta -> Counter of files wrong

    @property
    def address_accuracy(self) -> float:
        return self.address_hits / self.address_total if self.address_total else 0.0

    @property
    def class_accuracy(self) -> float:
        return self.class_hits / self.class_total if self.class_total else 0.0


def _matching_failure(recipient: dict[str, Any], report: BounceReport) -> Failure | None:
    names = {str(recipient["recipient"]).lower(), *(str(a).lower() for a in recipient.get("alias") or [])}
    for failure in report.failures:
        if failure.address is not None and failure.address.lower() in names:
            return failure
    return None


def score_one(entry: dict[str, Any], report: BounceReport, total: Score) -> bool:
    """Add one file's outcome to ``total``; True when every recipient in it was right."""
    recipients = entry["recipients"]
    all_right = True
    for recipient in recipients:
        expected = recipient["class"] or "null"
        total.class_total += 1
        if expected == "null":
            ours = "null" if report.category != "failure" else _only_kind(report)
            right = report.category != "failure"
        else:
            total.address_total += 1
            failure = _matching_failure(recipient, report)
            found = failure is not None
            if found:
                total.address_hits += 1
            elif len(recipients) == 1 and len(report.failures) == 1:
                failure = report.failures[0]
            ours = failure.kind if failure is not None and report.category == "failure" else "null"
            right = ours == expected
            all_right = all_right and found
        total.confusion[(expected, ours)] += 1
        total.class_hits += right
        all_right = all_right and right
    if not all_right:
        mta = entry.get("mta") or "unknown"
        total.wrong.setdefault(mta, Counter())[entry["file"]] += 1
    return all_right


def _only_kind(report: BounceReport) -> str:
    return report.failures[0].kind if report.failures else "null"


def score(corpus: list[tuple[dict[str, Any], bytes]]) -> Score:
    total = Score()
    for entry, raw in corpus:
        score_one(entry, classify(raw), total)
    return total


def format_confusion(result: Score) -> str:
    lines = ["expected \\ ours   hard   soft   null", "-" * 37]
    for expected in CLASSES:
        cells = "".join(f"{result.confusion[(expected, ours)]:>7}" for ours in CLASSES)
        lines.append(f"{expected:<15}{cells}")
    return "\n".join(lines)


def print_score(name: str, corpus: list[tuple[dict[str, Any], bytes]], verbose: bool) -> None:
    result = score(corpus)
    print(f"{name}: {len(corpus)} files, {result.class_total} expected recipients")
    print(f"address accuracy: {result.address_accuracy:.1%} ({result.address_hits}/{result.address_total})")
    print(f"class accuracy:   {result.class_accuracy:.1%} ({result.class_hits}/{result.class_total})")
    print()
    print(format_confusion(result))
    print()
    wrong_files = sum(sum(c.values()) for c in result.wrong.values())
    print(f"files with a wrong address or class: {wrong_files}, by MTA:")
    for mta, files in sorted(result.wrong.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        listing = " ".join(Path(f).stem for f in sorted(files)) if verbose else ""
        print(f"  {mta:<16}{len(files):>3}  {listing}".rstrip())
    print()


def main(argv: list[str] | None = None) -> int:
    corpus = load_corpus(CORPUS)
    verbose = "-v" in (argv if argv is not None else sys.argv[1:])
    print_score("corpus", corpus, verbose)
    if (UNSEEN / "expected.json").is_file():
        print_score("held-out", load_corpus(UNSEEN), verbose)

    # Speed: several passes over the whole corpus so that one slow file does not dominate.
    passes = 5
    start = time.perf_counter()
    for _ in range(passes):
        for _, raw in corpus:
            classify(raw)
    elapsed = time.perf_counter() - start
    print(f"speed: {passes * len(corpus) / elapsed:,.0f} messages/s ({passes} passes, one core)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
