"""Bounces: classify a returned message (``classify``), apply it to the outbox row it names (``intake``)."""
