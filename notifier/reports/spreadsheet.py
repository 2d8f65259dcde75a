"""CSV cells that a spreadsheet will not run: customer data such as ``=HYPERLINK(…)`` is data.

OWASP's advice for CSV injection: a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is prefixed with a single quote, so spreadsheet programs show it as text instead of evaluating
it. Every CSV notifier writes passes its cells through ``spreadsheet_safe``."""

from __future__ import annotations

__all__ = ["spreadsheet_safe"]

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """``value`` as a CSV cell: text that a spreadsheet would read as a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(_TRIGGERS):
        return "'" + value
    return value
