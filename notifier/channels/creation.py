"""What a failed "create this message" request leaves us knowing, decided once for every provider API
that creates messages (Twilio's Messages API today; a print-and-mail API or an email provider's later).

A failure known to have happened before the request reached the provider (the connection refused, the
name not resolved: nothing was written) or one the provider says created nothing (429, too many
requests) is retried as it is. Once the request was written, an answer that does not say (a 5xx, no
answer in time, the connection dropped) leaves it unknown whether the message exists: sending it again
could be a second breach notice, which looks like smishing. Such a row becomes ``uncertain`` and is
settled by asking the provider (the look-up by recipient, sender and text) before anything is resent.
A 4xx other than 429 is the provider's refusal of this message: permanent."""

from __future__ import annotations

import enum

from notifier.errors import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
    UncertainDeliveryError,
)

__all__ = ["Fate", "failure_of_create", "fate_of_create"]


class Fate(enum.Enum):
    NOT_CREATED = "not created"  # retry as is
    UNKNOWN = "may have been created"  # ask the provider before any resend
    REFUSED = "refused"  # permanent for this message


def fate_of_create(status: int | None, *, written: bool) -> Fate:
    """``status``: the HTTP status the provider answered (None: no answer at all); ``written``: whether
    the request had been sent when it failed."""
    if status is None:
        return Fate.UNKNOWN if written else Fate.NOT_CREATED
    if status == 429:
        return Fate.NOT_CREATED
    if status >= 500:
        return Fate.UNKNOWN
    return Fate.REFUSED


def failure_of_create(
    text: str,
    *,
    status: int | None,
    written: bool,
    code: int | None = None,
    retry_after: float | None = None,
    opted_out: bool = False,
) -> DeliveryError:
    """The delivery error a failed create request is, by ``fate_of_create``."""
    fate = fate_of_create(status, written=written)
    if fate is Fate.UNKNOWN:
        return UncertainDeliveryError(f"{text} (the request was sent: it may have been created)", code=code)
    if fate is Fate.NOT_CREATED:
        # 429: wait our turn; no answer at all: the provider's trouble (no attempt counted).
        return TransientDeliveryError(text, code=code, retry_after=retry_after, unreachable=status is None)
    return PermanentDeliveryError(text, code=code, opted_out=opted_out)
