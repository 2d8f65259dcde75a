"""How many SMS segments a text costs: GSM-7 (160 per single, 153 per part) or UCS-2 (70 / 67).

One character outside the GSM 03.38 alphabet (Cyrillic, Vietnamese diacritics, emoji) switches the
whole message to UCS-2. Extension-table characters (``{ } [ ] ~ \\ | ^ €`` and form feed) take two
GSM-7 septets. UCS-2 counts UTF-16 code units, so an emoji takes two."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SegmentInfo", "segment_info"]

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    non_gsm: tuple[str, ...]


def segment_info(text: str) -> SegmentInfo:
    non_gsm = tuple(dict.fromkeys(ch for ch in text if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION))
    if not non_gsm:
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    if units == 0:
        segments = 0
    elif units <= single:
        segments = 1
    else:
        segments = -(-units // multi)
    return SegmentInfo(encoding=encoding, units=units, segments=segments, non_gsm=non_gsm)
