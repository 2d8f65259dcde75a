"""``memory://email`` or ``memory://sms``: keeps sent messages in a list. For dry runs and tests.

Connection string: ``memory://<email|sms>?fail=<address>,<address>`` (listed recipients get a
permanent error, to exercise failure paths without a server)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from notifier.errors import ConfigurationError, PermanentDeliveryError
from notifier.models import Channel, Receipt, RenderedMessage
from notifier.store import utcnow

__all__ = ["MemoryChannel"]


class MemoryChannel:
    def __init__(self, kind: Channel, *, fail: frozenset[str] = frozenset()) -> None:
        self.kind = kind
        self.fail = fail
        self.sent: list[tuple[str, RenderedMessage]] = []

    @classmethod
    def from_url(cls, url: str) -> "MemoryChannel":
        parts = urlsplit(url)
        try:
            channel_kind = Channel(parts.netloc)
        except ValueError:
            raise ConfigurationError(f"memory:// needs 'email' or 'sms' as host, got {parts.netloc!r}") from None
        fail = frozenset(v for item in parse_qs(parts.query).get("fail", []) for v in item.split(","))
        return cls(channel_kind, fail=fail)

    def __repr__(self) -> str:
        return f"MemoryChannel({self.kind.value}, sent={len(self.sent)})"

    async def send(self, message: RenderedMessage, *, token: str) -> Receipt:
        if message.to in self.fail:
            raise PermanentDeliveryError("recipient refused by memory:// fail list", code=550)
        self.sent.append((token, message))
        return Receipt(provider_message_id=f"memory-{token}", accepted_at=utcnow())

    async def aclose(self) -> None:
        return None
