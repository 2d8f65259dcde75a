"""``memory://email`` or ``memory://sms``: keeps sent messages in a list. For dry runs and tests.

Connection string: ``memory://<email|sms>?fail=<address>,<address>&keep=<n>`` (listed recipients get a
permanent error, to exercise failure paths without a server; ``keep`` holds only the last n messages,
for long dry runs whose memory must stay flat)."""

from __future__ import annotations

from collections import deque
from urllib.parse import parse_qs, urlsplit

from notifier.errors import ConfigurationError, PermanentDeliveryError
from notifier.models import Channel, Receipt, RenderedMessage

__all__ = ["MemoryChannel"]


class MemoryChannel:
    def __init__(self, kind: Channel, *, fail: frozenset[str] = frozenset(), keep: int | None = None) -> None:
        self.kind = kind
        self.fail = fail
        self.sent: deque[tuple[str, RenderedMessage]] = deque(maxlen=keep)
        self.count = 0

    @classmethod
    def from_url(cls, url: str) -> MemoryChannel:
        parts = urlsplit(url)
        try:
            channel_kind = Channel(parts.netloc)
        except ValueError:
            raise ConfigurationError(
                f"memory:// needs 'email', 'sms' or 'letter' as host, got {parts.netloc!r}"
            ) from None
        query = parse_qs(parts.query)
        fail = frozenset(v for item in query.get("fail", []) for v in item.split(","))
        try:
            keep = int(query["keep"][-1]) if "keep" in query else None
        except ValueError:
            raise ConfigurationError("memory:// keep= must be a whole number") from None
        return cls(channel_kind, fail=fail, keep=keep)

    def __repr__(self) -> str:
        return f"MemoryChannel({self.kind.value}, sent={self.count})"

    async def send(self, message: RenderedMessage, *, token: str) -> Receipt:
        if message.to in self.fail:
            raise PermanentDeliveryError("recipient refused by memory:// fail list", code=550)
        self.sent.append((token, message))
        self.count += 1
        return Receipt(provider_message_id=f"memory-{token}")

    async def aclose(self) -> None:
        return None
