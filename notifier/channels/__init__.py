"""Channels: send one message, return a Receipt or raise a Transient/PermanentDeliveryError.

A channel never loops, retries or throttles; the delivery engine does. Channels are chosen by URL
scheme through the alias table below (imported lazily); secrets in URLs are masked in every repr.

=================  ==========================================================
scheme             channel
=================  ==========================================================
``smtp://``        email over SMTP (optionally STARTTLS), ``notifier.channels.email``
``smtps://``       email over implicit TLS
``twilio://``      SMS through Twilio's Messages API, ``notifier.channels.sms``
``twilio+http://`` SMS through a local Twilio stand-in over plain HTTP (tests, demo)
``printfile://``   letters as merged PDF batches for a print vendor, ``notifier.channels.printfile``
``memory://``      records messages in memory (dry runs, tests)
=================  ==========================================================
"""

from __future__ import annotations

import difflib
import importlib
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from notifier.config import ChannelSettings
from notifier.errors import ConfigurationError
from notifier.models import Channel, Receipt, RenderedMessage

__all__ = ["SCHEMES", "DeliveryChannel", "channel_from_settings", "channel_from_url"]

SCHEMES: dict[str, str] = {
    "smtp": "notifier.channels.email:SmtpChannel",
    "smtps": "notifier.channels.email:SmtpChannel",
    "twilio": "notifier.channels.sms:TwilioChannel",
    "twilio+http": "notifier.channels.sms:TwilioChannel",
    "printfile": "notifier.channels.printfile:PrintFileChannel",
    "memory": "notifier.channels.memory:MemoryChannel",
}


@runtime_checkable
class DeliveryChannel(Protocol):
    """The whole contract between the delivery engine and a provider."""

    kind: Channel

    async def send(self, message: RenderedMessage, *, token: str) -> Receipt:
        """Send one message. ``token`` identifies the outbox row (Message-ID, VERP, callbacks)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def channel_from_url(url: str, kind: Channel | None = None) -> DeliveryChannel:
    """Build the channel a URL names; a typo in the scheme gets a suggestion."""
    scheme = urlsplit(url).scheme.lower()
    target = SCHEMES.get(scheme)
    if target is None:
        close = difflib.get_close_matches(scheme, SCHEMES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else f" Known: {', '.join(sorted(SCHEMES))}."
        raise ConfigurationError(f"No such channel scheme: {scheme!r}.{hint}")
    module_name, _, class_name = target.partition(":")
    channel_class = getattr(importlib.import_module(module_name), class_name)
    channel: DeliveryChannel = channel_class.from_url(url)
    if kind is not None and channel.kind is not kind:
        raise ConfigurationError(f"{scheme}:// is a {channel.kind} channel, not {kind}")
    return channel


def channel_from_settings(configured: ChannelSettings) -> DeliveryChannel:
    """The channel of a configured account, from what ``Settings`` parsed (an SMTP URL is parsed once)."""
    if configured.smtp is not None:
        from notifier.channels.email import SmtpChannel

        return SmtpChannel.from_settings(configured.smtp)
    return channel_from_url(configured.url, configured.kind)
