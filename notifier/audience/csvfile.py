"""CSV files people hand us, read so that every physical line is accounted for.

Python's csv module, given an unclosed quote, reads the whole rest of the file into one field: a
1,001-line file then imports two customers and reports one bad line. Here a record may span at most
``MAX_RECORD_LINES`` lines (a quoted name with a line break in it is fine); past that it is reported as
an unclosed quote on the line it started, and reading goes on with the next line, so every other line
still counts. The delimiter is read from the header (comma, semicolon, tab or bar: exports from
spreadsheets in many locales use semicolons), never guessed from data."""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from notifier.errors import InputError

__all__ = ["MAX_RECORD_LINES", "Record", "detect_delimiter", "read_records"]

MAX_RECORD_LINES = 3
DELIMITERS = (",", ";", "\t", "|")
_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "bar"}


@dataclass(frozen=True, slots=True)
class Record:
    """One record: its first physical line, and its values, or why it could not be read."""

    line: int
    values: list[str] | None
    error: str | None = None


class _RunawayRecordError(Exception):
    """A record ran past MAX_RECORD_LINES physical lines."""


class _Lines:
    """Physical lines for the csv reader, numbered, with the current record's lines kept for a rewind."""

    def __init__(self, lines: Iterable[str], first_line: int) -> None:
        self._source = iter(lines)
        self._pushback: deque[str] = deque()
        self._current: list[str] = []
        self.next_line = first_line

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if len(self._current) >= MAX_RECORD_LINES:
            raise _RunawayRecordError
        line = self._pushback.popleft() if self._pushback else next(self._source)
        self._current.append(line)
        return line

    def start_record(self) -> int:
        self.next_line += len(self._current)
        self._current = []
        return self.next_line

    def skip_first_line(self) -> None:
        """Give back every line of the current record but its first: they are read again on their own."""
        self._pushback.extendleft(reversed(self._current[1:]))
        self._current = self._current[:1]


def detect_delimiter(header: str, required: str) -> str:
    """The delimiter with which ``header`` has a ``required`` column; an InputError naming what was seen."""
    for delimiter in DELIMITERS:
        columns = next(csv.reader([header], delimiter=delimiter), [])
        if required in (c.strip().lower() for c in columns):
            return delimiter
    counts = {d: header.count(d) for d in DELIMITERS}
    seen = max(counts, key=lambda d: counts[d])
    shown = f"; it looks {_NAMES[seen]}-separated" if counts[seen] else ""
    raise InputError(f"line 1: missing column(s) {required} in the header {header.strip()[:80]!r}{shown}")


def read_records(lines: Iterable[str], *, delimiter: str = ",", first_line: int = 2) -> Iterator[Record]:
    """Every record of ``lines`` (the file after its header line), numbered from ``first_line``; broken
    ones carry the error instead of values."""
    source = _Lines(lines, first_line)
    while True:
        line = source.start_record()
        reader = csv.reader(source, delimiter=delimiter, strict=True)
        try:
            values = next(reader)
        except StopIteration:
            return
        except _RunawayRecordError:
            source.skip_first_line()
            yield Record(
                line,
                None,
                f"a quoted field does not close within {MAX_RECORD_LINES} lines (an unclosed "
                "quote?); this line is skipped and reading goes on with the next",
            )
            continue
        except csv.Error as exc:
            source.skip_first_line()
            yield Record(line, None, f"broken CSV: {exc}")
            continue
        yield Record(line, values)
