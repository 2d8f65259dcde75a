"""Benchmark helpers for notifier: local SMTP sinks, baselines, RSS probes and reporting."""
