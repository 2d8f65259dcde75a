"""Benchmark results: a JSON record for later comparison and a plain-text pass/fail table."""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

Value = float | int | str | None
Target = tuple[str, float]
OPS = (">=", "<=", "within2%")
_NO_TARGET = "—"


def machine_info() -> dict[str, str | int | None]:
    """Describe the host, since throughput numbers mean little without it."""
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
    }


def write_results(results: dict[str, Value], path: Path) -> None:
    """Write ``results`` as indented JSON to ``path``, adding ``measured_at`` and ``machine``.

    The caller's dict is not modified; parent directories are created as needed.
    """
    record: dict[str, object] = dict(results)
    record["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    record["machine"] = machine_info()
    path.parent.mkdir(parents=True, exist_ok=True)
    # ensure_ascii=False keeps any Cyrillic notes readable in the file.
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def merge_results(results: dict[str, Value], path: Path, parts: list[str]) -> dict[str, Value]:
    """Merge the results of a run of only some ``parts`` into the record at ``path``: their keys replace
    the old values, every other part's are kept. ``measured_at`` and ``machine`` stay those of the last
    full run; ``measured_at_<part>`` says when each part was measured on its own. Returns the table rows
    (the record without ``measured_at*`` and ``machine``).

    Raises:
        ValueError: the record was measured at another ``scale`` (a record mixes no sizes).
    """
    old: dict[str, object] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if "scale" in old and old["scale"] != results.get("scale"):
        raise ValueError(
            f"{path} holds results at scale {old['scale']}, this run is at {results.get('scale')}"
        )
    now = datetime.now(UTC).isoformat(timespec="seconds")
    record = {k: v for k, v in old.items() if k not in ("measured_at", "machine")}
    record.update(results)
    record.update({f"measured_at_{part}": now for part in parts})
    record["measured_at"] = old.get("measured_at", now)
    record["machine"] = old.get("machine", machine_info())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return {
        k: v
        for k, v in record.items()
        if not k.startswith("measured_at")
        and k != "machine"
        and (v is None or isinstance(v, (int, float, str)))
    }


def meets(value: object, op: str, number: float) -> bool:
    """Return whether ``value`` satisfies ``op number``; a missing or non-numeric value never does.

    ``within2%`` means ``|value - number| <= 2% of |number|``.
    """
    if op not in OPS:
        raise ValueError(f"unknown target operator {op!r}; expected one of {OPS}")
    # bool is an int subclass, but True ">= 1" passing would only hide a bug upstream.
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    if op == ">=":
        return value >= number
    if op == "<=":
        return value <= number
    return abs(value - number) <= 0.02 * abs(number)


def _format_number(number: float) -> str:
    if isinstance(number, int):
        return f"{number:,}"
    return f"{number:,.2f}" if abs(number) < 100 else f"{number:,.1f}"


def _format_value(value: object) -> str:
    if value is None:
        return "not measured"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _format_number(value)
    return str(value)


def _format_target(op: str, number: float) -> str:
    # Targets are typed float but usually written as whole numbers; show them that way.
    shown = _format_number(int(number) if float(number).is_integer() else number)
    if op == "within2%":
        return f"within 2% of {shown}"
    return f"{op} {shown}"


def print_table(results: Mapping[str, object], targets: Mapping[str, Target]) -> None:
    """Print one aligned row per result: key, value, target and PASS/FAIL (— if untargeted).

    Targets whose key is missing from ``results`` are listed too, as FAIL, so a benchmark
    that silently did not run cannot look like a pass.
    """
    rows: list[tuple[str, str, str, str]] = []
    keys = list(results) + [key for key in targets if key not in results]
    for key in keys:
        value = results.get(key)
        if key in targets:
            op, number = targets[key]
            ok = meets(value, op, number)
            rows.append((key, _format_value(value), _format_target(op, number), "PASS" if ok else "FAIL"))
        else:
            rows.append((key, _format_value(value), _NO_TARGET, _NO_TARGET))
    header = ("metric", "value", "target", "result")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in rows:
        # Numbers read best right-aligned; the other columns left-aligned.
        cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].ljust(widths[2]), row[3]]
        print("  ".join(cells).rstrip())
