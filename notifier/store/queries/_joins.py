"""Join conditions used across query modules, declared once."""

from __future__ import annotations

from sqlalchemy import and_

from notifier.store.schema import manifest, outbox

__all__ = ["OUTBOX_OF_MANIFEST"]

# A manifest row's outbox rows. The campaign is part of the condition so that both databases use the
# unique index (campaign_id, manifest_id, channel): by manifest_id alone, each manifest row would scan
# the outbox (a report of 100,000 recipients took over 10 minutes; with the campaign, seconds).
OUTBOX_OF_MANIFEST = and_(
    outbox.c.campaign_id == manifest.c.campaign_id, outbox.c.manifest_id == manifest.c.id
)
