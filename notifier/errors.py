"""One exception tree for notifier.

NotifierError
├── InputError (ValueError)            bad data from a user: CSV rows, ids files, incident files
├── SelectionError                     a selection query or source that cannot be used
├── CampaignStateError                 an action the campaign's state does not allow
├── RenderError                        a notice that cannot be rendered completely (never sent)
├── MailboxError                       an IMAP mailbox that cannot be read (unreachable, login refused)
└── DeliveryError                      a provider refused or failed one message
    ├── TransientDeliveryError         try again later (SMTP 4xx, disconnects, timeouts, Twilio 429, a
    │                                  connection to the provider refused)
    ├── UncertainDeliveryError         the request went out and the answer does not say whether the
    │                                  message exists (Twilio 5xx, no answer in time): ask before resending
    └── PermanentDeliveryError         never retry this message on this channel (SMTP 5xx, invalid number)

ConfigurationError (ValueError)        deliberately *not* a NotifierError: a broken channel URL or
                                       setting must stop the run, and no delivery handler may swallow it.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AccessDeniedError",
    "CampaignStateError",
    "ConfigurationError",
    "DeliveryError",
    "InputError",
    "LoginRefusedError",
    "MailboxError",
    "NotifierError",
    "PermanentDeliveryError",
    "RenderError",
    "SelectionError",
    "StoreError",
    "TransientDeliveryError",
    "UncertainDeliveryError",
]


class NotifierError(Exception):
    """Root of every error notifier raises on purpose."""


class InputError(NotifierError, ValueError):
    """User-supplied data is malformed; the message says what and where. When it lists several problems
    (an incident's facts), ``problems`` holds them one by one, for a form to show each by its field."""

    def __init__(self, message: str, *, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[str, ...] = tuple(problems) or (message,)


class SelectionError(NotifierError):
    """The affected-customer selection cannot be evaluated."""


class CampaignStateError(NotifierError):
    """The campaign is not in a state that allows this action."""


class AccessDeniedError(NotifierError):
    """The person is not signed in, or their roles do not allow the action; the message says which."""


class LoginRefusedError(NotifierError):
    """A sign-in failed: unknown user, wrong password, disabled or locked (the message does not say which
    to the person signing in; the audit log does)."""


class StoreError(NotifierError):
    """The store cannot be used as it is: unreachable, or not migrated to this version."""


class MailboxError(NotifierError):
    """An IMAP mailbox cannot be read: unreachable, TLS refused, login refused, no such folder."""


class RenderError(NotifierError):
    """A notice could not be rendered completely; it must not be sent."""


class DeliveryError(NotifierError):
    """A provider did not accept one message.

    ``code`` is the provider's code (SMTP reply code, Twilio error code) when there is one;
    ``retry_after`` is the provider's hint in seconds, if it gave one.
    """

    def __init__(self, message: str, *, code: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


class TransientDeliveryError(DeliveryError):
    """Worth retrying later: the provider was busy, slow or unreachable.

    ``unreachable`` marks a failure to talk to the provider at all (connection refused or dropped,
    timeouts, the provider's own 5xx): the provider's trouble, not the recipient's. It counts no attempt
    against the row, and enough of them in a row pause the channel (``sending.health``)."""

    def __init__(self, message: str, *, code: int | None = None, retry_after: float | None = None,
                 unreachable: bool = False) -> None:  # fmt: skip
        super().__init__(message, code=code, retry_after=retry_after)
        self.unreachable = unreachable


class UncertainDeliveryError(DeliveryError):
    """No answer that says whether the provider took the message: its request was written, then the
    provider answered 5xx, or too late, or the connection dropped (``channels.creation`` decides, for every
    provider API that creates messages). Sending it again could be a second notice; the row becomes
    ``uncertain`` and is settled by asking the provider first. It also counts against the provider's
    health, as trouble on its side."""


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help: the address or number is refused for good.

    ``opted_out`` marks a recipient who told the provider to stop (Twilio 21610):
    the caller must suppress, not merely fail, that channel for the customer.
    """

    def __init__(self, message: str, *, code: int | None = None, opted_out: bool = False) -> None:
        super().__init__(message, code=code)
        self.opted_out = opted_out


class ConfigurationError(ValueError):
    """A setting or channel URL is unusable. Not a NotifierError on purpose (see module docstring)."""
