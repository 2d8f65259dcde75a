"""One sender process for the benchmarks: ``python -m bench.shard CAMPAIGN`` sends batches of a running
campaign until nothing is due (what a Prefect send-shard run does, without the orchestration)."""

from __future__ import annotations

import logging
import os
import sys

from notifier.config import Settings
from notifier.sending.campaigns import get_campaign
from notifier.sending.runner import drain, send_window
from notifier.store import Store


def main() -> None:
    campaign = sys.argv[1]
    if os.environ.get("BENCH_SEND_LOG"):  # the sender's own send times, one epoch second per line
        handler = logging.FileHandler(os.environ["BENCH_SEND_LOG"], encoding="ascii")
        handler.setFormatter(logging.Formatter("%(message)s"))
        sends = logging.getLogger("notifier.sending.sends")
        sends.addHandler(handler)
        sends.setLevel(logging.DEBUG)
        sends.propagate = False
    settings = Settings.from_env()
    with Store(settings.database_url) as store:
        drain(
            store,
            settings,
            get_campaign(store, campaign),
            lambda chs: send_window(settings, campaign, chs),
            actor="bench",
            max_wait_seconds=120,
        )


if __name__ == "__main__":
    main()
