"""Running the Prefect flows from the CLI and the demo, without ``notifier`` importing ``flows``.

The flows in ``flows/`` wire ``notifier`` together; ``notifier`` never imports them (import-linter
enforces it). The CLI runs a flow the way Prefect itself runs a deployment: it loads it by its
entrypoint (the same ``path:function`` as in prefect.yaml) and hands it its configuration the way a
worker gets it, through the environment (``Settings.as_env()``), for the duration of the run only. So
no secret becomes a flow parameter stored by Prefect.

Prefect also gets local defaults, applied before it is first imported (measured on 2 cores, see
docs/operations.md): the first ephemeral start migrates Prefect's own database and can overrun the
default startup timeout; telemetry fails noisily offline; the flow heartbeat costs about a second per
flow run. Values already set by the user win."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from notifier.config import PROJECT_ROOT, Settings

__all__ = [
    "FLOWS",
    "PREFECT_DEFAULTS",
    "apply_prefect_defaults",
    "environment",
    "run_flow",
    "start_deployment",
]

PREFECT_DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "",
}
# Flow name → entrypoint, as prefect.yaml declares them.
FLOWS = {
    "notify-customers": "flows/notify_customers.py:notify_customers",
    "start-campaign": "flows/send_shard.py:start_campaign",
    "send-shard": "flows/send_shard.py:send_shard",
}


def apply_prefect_defaults(var_dir: Path) -> None:
    """Give Prefect a home under ``var/`` (never the user's shared ~/.prefect) and sane local settings."""
    os.environ.setdefault("PREFECT_HOME", str(var_dir / "prefect"))
    for key, value in PREFECT_DEFAULTS.items():
        if value:
            os.environ.setdefault(key, value)


@contextmanager
def environment(variables: Mapping[str, str]) -> Iterator[None]:
    """Set ``variables`` for the duration of the block, then put back what was there."""
    saved = {key: os.environ.get(key) for key in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_flow(name: str, settings: Settings, **parameters: Any) -> Any:
    """Run the named flow in this process (an ephemeral Prefect server unless PREFECT_API_URL names one),
    with ``settings`` handed over as a worker would receive them; returns what the flow returns."""
    apply_prefect_defaults(settings.var_dir)
    with environment(settings.as_env()):
        return _load(name)(**parameters)


def start_deployment(api_url: str, flow: str, **parameters: Any) -> str:
    """Start (not wait for) a run of the ``flow`` deployment (prefect.yaml names each deployment after its
    flow) on the Prefect server at ``api_url``; returns the run's name. Connection and API errors are
    Prefect's and httpx's own: the caller says what they mean for the person who asked."""
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    # Prefect reads its settings from the environment when first imported; this server must win whatever
    # that was. (The override is a context variable: no other thread sees it.)
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        flow_run = run_deployment(f"{flow}/{flow}", parameters=parameters, timeout=0)
    if not isinstance(flow_run, FlowRun):  # a coroutine only when called on an event loop
        raise TypeError(f"start_deployment runs outside an event loop, not {type(flow_run).__name__}")
    return flow_run.name


@cache
def _load(name: str) -> Any:
    from prefect.flows import load_flow_from_entrypoint

    return load_flow_from_entrypoint(str(PROJECT_ROOT / FLOWS[name]))
