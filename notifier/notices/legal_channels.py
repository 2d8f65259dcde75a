"""Which channel is a person's notice in law, as data: ``templates/legal_channels.toml`` loaded and checked.

In most US states and under HIPAA a breach notice is a letter, and an email counts only when the person
agreed to electronic notices (the US E-SIGN Act); an SMS is never the notice there. In the EU, the UK,
Russia and Vietnam any direct channel is. Each jurisdiction profile of ``content.toml`` says which
channels count and under what condition; every other channel a campaign uses is a courtesy copy. The
plan records, per person, the channels the law would accept (``legal_options``); after duplicates are
removed the store settles which of them the campaign actually uses (``legal_channel``) and, for whoever
has none, why (``legal_gap``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from notifier.errors import ConfigurationError
from notifier.models import CustomerRecord, LegalGap
from notifier.notices.content import ContentModel, load_content
from notifier.notices.datafile import load_data_file

__all__ = [
    "CONDITIONS",
    "LEGAL_CHANNELS_FILE",
    "LEGAL_ORDER",
    "LegalChannels",
    "LegalOption",
    "LegalRule",
    "NoticeLaw",
    "gap_words",
    "legal_notice_word",
    "load_legal_channels",
]

LEGAL_CHANNELS_FILE = "legal_channels.toml"
# The channels a legal notice can go by, fastest first: the first the campaign sends and the law accepts
# is the person's legal notice.
LEGAL_ORDER = ("email", "sms", "letter")


def _esign_consent(customer: CustomerRecord) -> bool:
    return customer.esign_consent_at is not None


# What a condition of the file means for one person, declared once.
CONDITIONS = {"esign_consent": _esign_consent}
CONDITION_WORDS = {"esign_consent": "no recorded consent to electronic notices"}


@dataclass(frozen=True, slots=True)
class LegalOption:
    channel: str
    when: str | None = None  # a key of CONDITIONS, or None: always


@dataclass(frozen=True, slots=True)
class LegalRule:
    """One profile's legal channels and the rule they come from."""

    profile: str
    rule: str
    options: tuple[LegalOption, ...]

    def accepted(self, customer: CustomerRecord) -> tuple[str, ...]:
        """The channels the law accepts as this person's notice, whatever the campaign sends. A letter
        only counts with a postal address the post can deliver to."""
        channels = []
        for option in self.options:
            if option.when is not None and not CONDITIONS[option.when](customer):
                continue
            if option.channel == "letter" and (customer.address is None or customer.address_problem):
                continue
            channels.append(option.channel)
        return tuple(c for c in LEGAL_ORDER if c in channels)

    def unmet(self, customer: CustomerRecord) -> tuple[str, ...]:
        """Words for the conditions this person does not meet (``no recorded consent …``)."""
        return tuple(
            CONDITION_WORDS[o.when]
            for o in self.options
            if o.when is not None and not CONDITIONS[o.when](customer)
        )


@dataclass(frozen=True, slots=True)
class LegalChannels:
    rules: Mapping[str, LegalRule]

    def rule(self, profile: str) -> LegalRule:
        return self.rules[profile]


def gap_words(gap: LegalGap, rule: LegalRule | None) -> str:
    """Why nobody can tell these people in a way the law accepts, for a comms person."""
    only_letter = rule is not None and [o.channel for o in rule.options if o.when is None] == ["letter"]
    words = {
        LegalGap.CHANNEL_NOT_USED: (
            "the channel the law accepts for them (with a usable contact) is one this campaign leaves out: "
            "add it to the campaign's channels, or choose the policy 'all'"
        ),
        LegalGap.NEEDS_LETTER: (
            "only a postal letter counts as their notice (email only with recorded e-sign consent, "
            "SMS never), and this campaign sends no letters"
            if only_letter
            else "no email or SMS of this campaign reaches them; only a postal letter would, and this "
            "campaign sends no letters"
        ),
        LegalGap.NO_LEGAL_CONTACT: (
            "no postal address on record, and no email address they agreed to get notices at: nothing "
            "notifier can send is their notice in law (a substitute notice may be needed)"
            if only_letter
            else "no usable email, mobile number or postal address: nothing reaches them (a substitute "
            "notice may be needed)"
        ),
        LegalGap.UNKNOWN_CUSTOMER: "the affected id is not a customer in the store: nobody to tell",
    }
    return words[gap]


def legal_notice_word(channel: str | None, legal_channel: str | None, legal_gap: str | None) -> str:
    """What one message (or a person with none) is in law, for reports and the evidence ledger: ``yes``
    (the person's notice), ``courtesy copy``, ``none: <gap>``, or empty when the plan did not decide."""
    if legal_gap:
        return f"none: {legal_gap}"
    if legal_channel is None:
        return ""
    return "yes" if channel == legal_channel else "courtesy copy"


def load_legal_channels(templates_dir: Path) -> LegalChannels:
    """The legal channels of ``templates_dir``, checked against its content model's profiles (each file
    cached until it changes)."""
    path = templates_dir / LEGAL_CHANNELS_FILE
    legal = load_data_file(path, "the legal channels file", _parse)
    profiles = sorted(load_content(templates_dir).profiles)
    unknown = sorted(set(legal.rules) - set(profiles))
    missing = [p for p in profiles if p not in legal.rules]
    if unknown:
        problem = f"profiles.{unknown[0]}: no such profile in content.toml (known: {', '.join(profiles)})"
    elif missing:
        problem = f"profiles.{missing[0]} is missing: every profile of content.toml needs its legal channels"
    else:
        return legal
    raise ConfigurationError(f"{path}: {problem} (see the comments in the file)")


def _parse(data: Mapping[str, Any]) -> LegalChannels:
    given = data.get("profiles")
    if not isinstance(given, dict):
        raise ValueError("a [profiles.NAME] table per profile of content.toml is needed")
    return LegalChannels(rules={name: _rule(name, table) for name, table in given.items()})


def _rule(name: str, table: Any) -> LegalRule:
    where = f"profiles.{name}"
    if not isinstance(table, dict):
        raise ValueError(f"{where}: expected a table with rule and notice")
    rule = table.get("rule")
    if not isinstance(rule, str) or not rule.strip():
        raise ValueError(f"{where}.rule: say in words where the rule comes from")
    notice = table.get("notice")
    if not isinstance(notice, list) or not notice:
        raise ValueError(f'{where}.notice: list at least one channel, e.g. [{{ channel = "letter" }}]')
    options = []
    for i, entry in enumerate(notice):
        here = f"{where}.notice[{i}]"
        if not isinstance(entry, dict) or set(entry) - {"channel", "when"}:
            raise ValueError(f'{here}: expected {{ channel = "…" }} with an optional when = "…"')
        channel = entry.get("channel")
        if channel not in LEGAL_ORDER:
            raise ValueError(f"{here}.channel {channel!r}: expected one of {', '.join(LEGAL_ORDER)}")
        when = entry.get("when")
        if when is not None and when not in CONDITIONS:
            raise ValueError(f"{here}.when {when!r}: expected one of {', '.join(CONDITIONS)}")
        options.append(LegalOption(channel=channel, when=when))
    if len({o.channel for o in options}) != len(options):
        raise ValueError(f"{where}.notice names a channel twice")
    return LegalRule(profile=name, rule=rule.strip(), options=tuple(options))


@dataclass(frozen=True)
class NoticeLaw:
    """Which rule applies to whom in one incident: the reader's profile (content.toml, by jurisdiction
    and what leaked) and that profile's legal channels."""

    content: ContentModel
    categories: frozenset[str]
    channels: LegalChannels

    @classmethod
    def of(cls, templates_dir: Path, categories: Collection[str]) -> NoticeLaw:
        return cls(load_content(templates_dir), frozenset(categories), load_legal_channels(templates_dir))

    def rule_for(self, jurisdiction: str | None) -> LegalRule:
        return self.channels.rule(self.content.profile_for(jurisdiction, self.categories).name)
