"""Every SQL statement notifier issues, as named functions over a Connection, split by domain.

Nothing else in the code base builds SQL. Statements are written for PostgreSQL first (the production
store, where several senders run at once) and kept correct on SQLite (one writer). Callers use the
names re-exported here (``from notifier.store import queries as q``; ``q.claim_batch(conn, ...)``)."""

from notifier.store.queries.approvals import insert_approval, insert_submission, last_author, latest_decisions
from notifier.store.queries.audit import audit
from notifier.store.queries.campaigns import (
    campaign_by_name,
    campaign_state,
    delete_campaign,
    incident_by_id,
    incident_by_key,
    insert_campaign,
    insert_incident,
    insert_manifest_rows,
    manifest_summary,
    mark_duplicate_contacts,
    set_campaign_state,
)
from notifier.store.queries.customers import (
    HARD_BOUNCE,
    customers_by_external_ids,
    mark_email_bounced,
    opt_out_email,
    selection_page,
    suppress_customers_sms,
    upsert_customers,
)
from notifier.store.queries.health import (
    provider_failed,
    provider_health_of,
    provider_recovered,
    providers_down,
)
from notifier.store.queries.outbox import (
    advance_by_token,
    campaign_pieces,
    claim_batch,
    delivery_report_rows,
    email_row_by_token,
    fill_outbox,
    hand_over,
    mark_expired_leases_uncertain,
    next_deferred_at,
    next_lease_expiry,
    outbox_counts,
    record_outcomes,
    release_claims,
    release_fallback,
    settle_uncertain,
    skip_unsent,
    uncertain_rows,
)
from notifier.store.queries.pacing import reserve_slots

__all__ = [
    "HARD_BOUNCE",
    "advance_by_token",
    "audit",
    "campaign_by_name",
    "campaign_pieces",
    "campaign_state",
    "claim_batch",
    "customers_by_external_ids",
    "delete_campaign",
    "delivery_report_rows",
    "email_row_by_token",
    "fill_outbox",
    "hand_over",
    "incident_by_id",
    "incident_by_key",
    "insert_approval",
    "insert_campaign",
    "insert_incident",
    "insert_manifest_rows",
    "insert_submission",
    "last_author",
    "latest_decisions",
    "manifest_summary",
    "mark_duplicate_contacts",
    "mark_email_bounced",
    "mark_expired_leases_uncertain",
    "next_deferred_at",
    "next_lease_expiry",
    "opt_out_email",
    "outbox_counts",
    "provider_failed",
    "provider_health_of",
    "provider_recovered",
    "providers_down",
    "record_outcomes",
    "release_claims",
    "release_fallback",
    "reserve_slots",
    "selection_page",
    "set_campaign_state",
    "settle_uncertain",
    "skip_unsent",
    "suppress_customers_sms",
    "uncertain_rows",
    "upsert_customers",
]
