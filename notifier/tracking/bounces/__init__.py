"""Bounces: classify a returned message (``classify``) and apply it to the outbox row it names (``intake``)."""
