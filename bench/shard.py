"""One sender process for the benchmarks: ``python -m bench.shard CAMPAIGN`` sends batches of a running
campaign until nothing is due (what a Prefect send-shard run does, without the orchestration)."""

from __future__ import annotations

import sys

from notifier.config import Settings
from notifier.sending.campaigns import get_campaign
from notifier.sending.runner import drain, send_window
from notifier.store import Store


def main() -> None:
    campaign = sys.argv[1]
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
