"""SMS encoding and segment counts against the vectors from Twilio's own calculator (shared/testdata)."""

from __future__ import annotations

import json
from pathlib import Path

from notifier.notices.segments import segment_info


def test_segment_counts_match_twilio_vectors(test_data: Path) -> None:
    vectors = [
        json.loads(line)
        for line in (test_data / "sms" / "segment-vectors.jsonl").read_text().splitlines()
        if line.strip()
    ]
    assert len(vectors) >= 10
    mismatches = [
        (v["text"][:30], v["encoding"], v["segments"], info.encoding, info.segments)
        for v in vectors
        if ((info := segment_info(v["text"])).encoding, info.segments) != (v["encoding"], v["segments"])
    ]
    assert mismatches == []


def test_cyrillic_and_vietnamese_force_ucs2() -> None:
    assert segment_info("Привет").encoding == "UCS-2"
    assert segment_info("Hỗ trợ").encoding == "UCS-2"
    assert segment_info("Hello {world}").units == 15  # braces are GSM-7 extension characters
