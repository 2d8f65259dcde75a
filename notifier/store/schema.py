"""The database schema as SQLAlchemy Core tables. Alembic migrations in ``migrations/`` create it;
``tests/test_store.py`` checks that the migrations and these tables agree.

State, channel and reason columns hold the StrEnum values of ``notifier.models``, and a CHECK
constraint built from the same enum (``_one_of``) refuses anything else in either database."""

from __future__ import annotations

import enum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from notifier.models import (
    CampaignState,
    Channel,
    ChannelPlan,
    ChannelPolicy,
    Decision,
    EventKind,
    LegalGap,
    OutboxState,
    ReplyStatus,
    Role,
    SelectionSource,
    UnreachableReason,
)

__all__ = [
    "CHAINED",
    "SELECTABLE_CUSTOMER_COLUMNS",
    "api_tokens",
    "approval_snapshots",
    "approvals",
    "audit_log",
    "campaigns",
    "chain_heads",
    "customers",
    "delivery_events",
    "events",
    "inbound_messages",
    "incident_revisions",
    "incidents",
    "mailbox_checkpoints",
    "manifest",
    "metadata",
    "outbox",
    "provider_health",
    "pseudonym_keys",
    "rate_limits",
    "replies",
    "saved_selections",
    "sessions",
    "template_submissions",
    "user_roles",
    "users",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)
# BigInteger ids on PostgreSQL, but INTEGER on SQLite so that it is the rowid alias (autoincrement).
BigId = BigInteger().with_variant(Integer(), "sqlite")
UTC = DateTime(timezone=True)


def _chain_link() -> list[Column[object] | Index]:
    """The columns that put a row in its table's hash chain (store/queries/chain.py): its place in the
    chain, the previous row's hash and its own (over its content and ``prev_hash``). NULL until sealed."""
    return [
        Column("seq", BigInteger, unique=True),
        Column("prev_hash", String(64)),
        Column("row_hash", String(64)),
    ]


def _one_of(column: str, values: type[enum.StrEnum], *, nullable: bool = False) -> CheckConstraint:
    """CHECK that ``column`` holds one of the enum's values (named ``ck_<table>_<column>``)."""
    allowed = ", ".join(f"'{v.value}'" for v in values)
    condition = f"{column} IN ({allowed})" + (f" OR {column} IS NULL" if nullable else "")
    return CheckConstraint(condition, name=column)


customers = Table(
    "customers",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("external_id", String(128), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("email", String(320)),
    Column("email_problem", Text),
    Column("phone", String(20)),
    Column("phone_is_mobile", Boolean, nullable=False, default=False),
    Column("phone_problem", Text),
    Column("locale", String(35), nullable=False),
    Column("time_zone", String(64), nullable=False),
    Column("country", String(2)),
    Column("region", String(8)),
    Column("jurisdiction", String(16)),
    Column("email_opt_out", Boolean, nullable=False, default=False),
    Column("sms_opt_out", Boolean, nullable=False, default=False),
    # The postal address as the country's post wants it (audience/postal.py), or why there is none.
    Column("address_line1", String(100)),
    Column("address_line2", String(100)),
    Column("address_city", String(100)),
    Column("address_district", String(100)),
    Column("address_region", String(100)),
    Column("postal_code", String(100)),
    Column("address_problem", Text),
    # E-SIGN consent to electronic notices: when and how (a form, a version, a channel).
    Column("esign_consent_at", UTC),
    Column("esign_consent_how", String(200)),
    Column("created_at", UTC, nullable=False),
    Column("updated_at", UTC, nullable=False),
    Index(None, "phone"),  # inbound SMS and look-ups find customers by phone
    Index(None, "email"),
)

# What a selection query may read of a customer (store/selecting.py): the view ``customers`` that selection
# queries run against holds these columns and nothing else: no name, no address, no phone, no problem
# text. Saved queries then read ``SELECT external_id FROM customers WHERE jurisdiction = 'US-CA'`` as
# before, and ``SELECT email …`` is refused. (Migration 0014 builds the PostgreSQL view from its snapshot.)
SELECTABLE_CUSTOMER_COLUMNS = (
    "external_id",
    "locale",
    "time_zone",
    "country",
    "region",
    "jurisdiction",
    "phone_is_mobile",
    "email_opt_out",
    "sms_opt_out",
    "created_at",
    "updated_at",
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("title", Text, nullable=False),
    # Localized free text ({"en": ..., "ru": ...}), dates, data categories, measures and contacts.
    Column("facts", JSON, nullable=False),  # the current revision's
    Column("revision", Integer, nullable=False, server_default="1"),
    Column("created_at", UTC, nullable=False),
    Column("created_by", String(128), nullable=False),
)

# Every revision of an incident's facts, the first included: an edit adds one and never rewrites another.
incident_revisions = Table(
    "incident_revisions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("incident_id", BigId, ForeignKey("incidents.id"), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("facts", JSON, nullable=False),
    Column("created_at", UTC, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("comment", Text),
    UniqueConstraint("incident_id", "revision"),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("incident_id", BigId, ForeignKey("incidents.id"), nullable=False),
    Column("notice", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("channels", String(32), nullable=False),
    Column("policy", String(16), nullable=False),
    Column("selection", JSON, nullable=False),
    # Delivery settings: quiet hours, urgent override, what to do with uncertain email (docs/delivery.md).
    Column("settings", JSON),
    Column("created_at", UTC, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("planned_at", UTC),
    Column("launched_at", UTC),
    Column("completed_at", UTC),
    _one_of("state", CampaignState),
    _one_of("policy", ChannelPolicy),
)

manifest = Table(
    "manifest",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("campaign_id", BigId, ForeignKey("campaigns.id"), nullable=False),
    Column("external_id", String(128), nullable=False),
    Column("customer_id", BigId, ForeignKey("customers.id")),  # NULL: affected id unknown to the store
    Column("name", Text, nullable=False),
    Column("email", String(320)),
    Column("email_key", String(320)),  # lower-cased: addresses that differ only in case are one mailbox
    Column("phone", String(20)),
    Column("locale", String(35), nullable=False),  # the customer's, for dates and numbers
    Column("notice_locale", String(35), nullable=False),  # the catalog the notice is written in
    Column("time_zone", String(64), nullable=False),
    Column("jurisdiction", String(16)),
    Column("channel_plan", String(16), nullable=False),
    Column("email_reason", String(32)),  # why email is not used (NULL when it is)
    Column("sms_reason", String(32)),
    Column("letter_reason", String(32)),
    # The envelope's lines after the name, as the country's post wants them (audience/postal.py).
    Column("postal_address", Text),
    # The notice in law (notices/legal_channels.py): the jurisdiction profile, the channels the law accepts
    # for this person ("email,letter"), the one of them the campaign sends, or why there is none.
    Column("profile", String(32)),
    Column("legal_options", String(32)),
    Column("legal_channel", String(8)),
    Column("legal_gap", String(32)),
    Column("created_at", UTC, nullable=False),
    UniqueConstraint("campaign_id", "external_id"),
    _one_of("channel_plan", ChannelPlan),
    _one_of("email_reason", UnreachableReason, nullable=True),
    _one_of("sms_reason", UnreachableReason, nullable=True),
    _one_of("letter_reason", UnreachableReason, nullable=True),
    _one_of("legal_channel", Channel, nullable=True),
    _one_of("legal_gap", LegalGap, nullable=True),
    Index(None, "campaign_id", "email_key"),
    Index(None, "campaign_id", "phone"),
    Index(None, "customer_id"),  # a customer's notices across campaigns (notifier customer show)
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("campaign_id", BigId, ForeignKey("campaigns.id"), nullable=False),
    Column("manifest_id", BigId, ForeignKey("manifest.id"), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_token", String(36)),
    Column("lease_expires_at", UTC),
    Column("next_attempt_at", UTC),
    Column("first_attempt_at", UTC),  # the first hand-over: transient retries are bounded by time from here
    Column("message_token", String(64), nullable=False, unique=True),  # in Message-ID / callback URL
    Column("provider_message_id", String(255)),
    Column("last_error", Text),
    # The approved piece's content hash the message was rendered from (notices.approval): the evidence
    # of which approved text this customer got. Set at the hand-over.
    Column("content_hash", String(64)),
    Column("updated_at", UTC, nullable=False),
    # The root of "never twice": one row per (campaign, customer, channel).
    UniqueConstraint("campaign_id", "manifest_id", "channel"),
    _one_of("channel", Channel),
    _one_of("state", OutboxState),
    Index(None, "campaign_id", "channel", "state", "id"),
)

delivery_events = Table(
    "delivery_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("outbox_id", BigId, ForeignKey("outbox.id"), nullable=False),
    Column("at", UTC, nullable=False),
    Column("from_state", String(16)),
    Column("to_state", String(16), nullable=False),
    Column("detail", Text),
    *_chain_link(),
    _one_of("from_state", OutboxState, nullable=True),
    _one_of("to_state", OutboxState),
    Index(None, "outbox_id"),
)

# What came back from providers and customers, one normalized row per report (notifier.models.EventKind):
# status callbacks, bounces, inbound SMS, email replies. ``payload`` keeps what arrived (capped), linked to
# the customer, campaign and outbox row where known. ``delivery_events`` stays the outbox's own log of
# state changes; this is the record of what the outside world said.
events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("provider", String(16), nullable=False),  # twilio, smtp (bounce receiver), imap
    Column("received_at", UTC, nullable=False),
    Column("provider_at", UTC),  # the provider's own time, when it gives one
    Column("reason", String(64)),  # the provider's code (Twilio error, SMTP status, keyword)
    Column("customer_id", BigId, ForeignKey("customers.id")),
    Column("campaign_id", BigId, ForeignKey("campaigns.id")),
    Column("outbox_id", BigId, ForeignKey("outbox.id")),
    Column("provider_message_id", String(255)),
    Column("contact", String(320)),  # the phone or address it came from or was about
    Column("payload", Text, nullable=False),
    *_chain_link(),
    _one_of("kind", EventKind),
    _one_of("channel", Channel),
    Index(None, "outbox_id"),
    Index(None, "customer_id"),
    Index(None, "campaign_id", "kind"),
)

# Every inbound message a provider delivered to us, once: the unique key makes a replayed webhook (the same
# MessageSid again, signed and all) change nothing: no second reply, no second opt-out or opt-in.
inbound_messages = Table(
    "inbound_messages",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("provider", String(16), nullable=False),
    Column("provider_message_id", String(64), nullable=False),
    Column("received_at", UTC, nullable=False),
    Column("event_id", BigId, ForeignKey("events.id")),
    UniqueConstraint("provider", "provider_message_id"),
)

# The support queue: every reply a customer sent (SMS or email), with what they had been sent.
replies = Table(
    "replies",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", BigId, ForeignKey("events.id"), nullable=False, unique=True),
    Column("channel", String(8), nullable=False),
    Column("contact", String(320), nullable=False),
    Column("customer_id", BigId, ForeignKey("customers.id")),
    Column("campaign_id", BigId, ForeignKey("campaigns.id")),
    Column("outbox_id", BigId, ForeignKey("outbox.id")),
    Column("locale", String(35)),
    Column("received_at", UTC, nullable=False),
    Column("subject", Text),
    Column("body", Text, nullable=False),  # plain text, control characters removed; never HTML
    Column("status", String(16), nullable=False),
    Column("assignee", String(128)),
    Column("note", Text),
    Column("updated_at", UTC, nullable=False),
    Column("updated_by", String(128)),
    _one_of("channel", Channel),
    _one_of("status", ReplyStatus),
    Index(None, "status", "received_at"),
    Index(None, "customer_id"),
)

# How far each IMAP mailbox has been read: every message up to ``last_uid`` of the folder as it was at
# ``uid_validity`` (a new UIDVALIDITY means the server renumbered the folder: it is read again, and
# messages already recorded are recognised by their Message-ID).
mailbox_checkpoints = Table(
    "mailbox_checkpoints",
    metadata,
    Column("mailbox", String(400), primary_key=True),
    Column("uid_validity", BigInteger, nullable=False),
    Column("last_uid", BigInteger, nullable=False),
    Column("updated_at", UTC, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UTC, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("detail", JSON, nullable=False),
    *_chain_link(),
)

# The newest sealed link of each hash chain: what `notifier audit verify` checks the last row against (a
# deleted tail shows), and the row a sealer locks so that two sealers never fork a chain.
chain_heads = Table(
    "chain_heads",
    metadata,
    Column("chain", String(32), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("row_hash", String(64), nullable=False),
    Column("updated_at", UTC, nullable=False),
)

# The tables whose rows are hash-chained, by chain name (= table name).
CHAINED = {table.name: table for table in (audit_log, delivery_events, events)}

# The key of each incident's pseudonymous ids in its evidence pack (a keyed hash of the customer's
# external id): the regulator gets the pseudonyms, the company keeps the key and so the way back.
pseudonym_keys = Table(
    "pseudonym_keys",
    metadata,
    Column("incident_id", BigId, ForeignKey("incidents.id"), primary_key=True),
    Column("key", String(64), nullable=False),
    Column("created_at", UTC, nullable=False),
)

# Who last edited a piece of what customers read (incident × notice × locale × channel × jurisdiction
# profile) at a given content hash: an editor of templates or catalogs, or of the incident's facts.
template_submissions = Table(
    "template_submissions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("incident_key", String(64), nullable=False, server_default=""),
    Column("notice", String(64), nullable=False),
    Column("locale", String(35), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("profile", String(32), nullable=False, server_default=""),
    Column("content_hash", String(64), nullable=False),
    Column("author", String(128), nullable=False),
    Column("at", UTC, nullable=False),
    Column("comment", Text),
    Index(None, "content_hash"),
)

# Legal's decisions; the latest decision for a piece at its current hash is the one that counts.
approvals = Table(
    "approvals",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("incident_key", String(64), nullable=False, server_default=""),
    Column("notice", String(64), nullable=False),
    Column("locale", String(35), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("profile", String(32), nullable=False, server_default=""),
    Column("content_hash", String(64), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("approver", String(128), nullable=False),
    Column("role", String(64), nullable=False),
    Column("at", UTC, nullable=False),
    Column("comment", Text),
    _one_of("decision", Decision),
    Index(None, "incident_key", "notice", "locale", "channel", "profile"),
)

# What an approved piece said, by content hash: its template sources, the incident's facts as read in its
# language and its text as rendered for a sample reader; what legal's diff against the last approved
# version compares with.
approval_snapshots = Table(
    "approval_snapshots",
    metadata,
    Column("content_hash", String(64), primary_key=True),
    Column("snapshot", JSON, nullable=False),
    Column("created_at", UTC, nullable=False),
)

# The pacing of every sender process and machine, one row per provider account: the start of the next
# free send slot (GCRA's "theoretical arrival time"), epoch seconds on the wall clock shared by machines.
# Whether each provider account answers, shared by every sender: enough failures to reach it in a row
# (connection refused, its own 5xx) pause its channel until a probe gets through (sending/health.py).
provider_health = Table(
    "provider_health",
    metadata,
    Column("account", String(200), primary_key=True),
    Column("consecutive_failures", Integer, nullable=False),
    Column("down_since", UTC),
    Column("last_error", Text),
    Column("next_probe_at", UTC),
    Column("updated_at", UTC, nullable=False),
)

rate_limits = Table(
    "rate_limits",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("next_slot_at", Float, nullable=False),
)


# Selection queries kept under a name (`notifier selections save`), so that comms can plan a campaign from
# one in the console without anyone typing SQL into a web page. Re-saving a name replaces its query; the
# audit log keeps every version, and each campaign's manifest records the query it was planned from.
saved_selections = Table(
    "saved_selections",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("query", Text, nullable=False),
    Column("source", String(16), nullable=False),
    Column("saved_by", String(128), nullable=False),
    Column("saved_at", UTC, nullable=False),
    _one_of("source", SelectionSource),
)

# The people who use notifier (console and CLI). Passwords are argon2id hashes; a user with too many
# failed sign-ins in a row is locked until ``locked_until``.
users = Table(
    "users",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(128), nullable=False),
    Column("password_hash", String(255)),  # NULL: signs in only with an API token
    Column("disabled", Boolean, nullable=False, default=False),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", UTC),
    Column("password_changed_at", UTC),
    Column("created_at", UTC, nullable=False),
    Column("created_by", String(128), nullable=False),
)

user_roles = Table(
    "user_roles",
    metadata,
    Column("user_id", BigId, ForeignKey("users.id"), primary_key=True),
    Column("role", String(16), primary_key=True),
    _one_of("role", Role),
)

# API tokens (the CLI's NOTIFIER_TOKEN): only their SHA-256 is kept; the token is shown once.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("user_id", BigId, ForeignKey("users.id"), nullable=False),
    Column("label", String(128), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTC, nullable=False),
    Column("last_used_at", UTC),
    Column("expires_at", UTC),  # NULL: issued before tokens expired (migration 0014 gives them 90 days)
    Column("revoked_at", UTC),
    Column("revoked_by", String(128)),
    Column("revoke_reason", String(64)),  # revoked, password_reset, disabled, roles_changed
)

# Console sessions, server side: the cookie carries a signed random secret, the store its SHA-256, so a
# session ends (sign-out, disabling the user) the moment its row says so.
sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 of the cookie's secret
    Column("user_id", BigId, ForeignKey("users.id"), nullable=False),
    Column("created_at", UTC, nullable=False),
    Column("last_seen_at", UTC, nullable=False),
    Column("expires_at", UTC, nullable=False),
    Column("ended_at", UTC),
    Index(None, "user_id"),
)
