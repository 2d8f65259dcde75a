"""Environment defaults for running Prefect locally; applied before Prefect is first imported.

Measured on 2 cores (shared/reference/prefect-notes.md): the first ephemeral start migrates Prefect's
own database and can overrun the default startup timeout; telemetry fails noisily offline; the flow
heartbeat costs about a second per flow run. Values already set by the user win."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PREFECT_DEFAULTS", "apply_prefect_defaults"]

PREFECT_DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "",
}


def apply_prefect_defaults(var_dir: Path) -> None:
    """Give Prefect a home under ``var/`` (never the user's shared ~/.prefect) and sane local settings."""
    os.environ.setdefault("PREFECT_HOME", str(var_dir / "prefect"))
    for key, value in PREFECT_DEFAULTS.items():
        if value:
            os.environ.setdefault(key, value)
