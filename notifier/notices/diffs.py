"""What changed in a piece since legal last approved it: its rendered text, the incident's facts as read
in its language, and its template sources, each as a line diff (difflib), only where something changed."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["DiffSection", "diff_snapshots"]

RENDERED = {"subject": "Subject", "text": "Text (as the customer reads it)", "sms": "SMS"}


@dataclass(frozen=True, slots=True)
class DiffSection:
    title: str
    lines: list[tuple[str, str]]  # ("+" added, "-" removed, " " unchanged, "@" where), text


def _lines(title: str, before: str, after: str) -> DiffSection | None:
    if before == after:
        return None
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=2)
    lines = [(line[:1], line[1:]) for line in list(diff)[2:]]  # the ---/+++ header says nothing here
    return DiffSection(title, lines)


def diff_snapshots(before: dict[str, Any], after: dict[str, Any]) -> list[DiffSection]:
    """The sections that differ between two snapshots (``notices.approval.snapshot``), rendered text first."""
    sections = []
    for key, title in RENDERED.items():
        old, new = before.get("rendered", {}).get(key), after.get("rendered", {}).get(key)
        if old is not None or new is not None:
            sections.append(_lines(title, old or "", new or ""))
    facts = (
        json.dumps(s.get("facts", {}), indent=2, sort_keys=True, ensure_ascii=False) for s in (before, after)
    )
    sections.append(_lines("The incident's facts, as read in this language", *facts))
    sources_before, sources_after = before.get("sources", {}), after.get("sources", {})
    for path in sorted(set(sources_before) | set(sources_after)):
        sections.append(_lines(f"Template {path}", sources_before.get(path, ""), sources_after.get(path, "")))
    return [s for s in sections if s is not None]
