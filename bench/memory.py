"""``python -m bench.memory --customers N``: the whole pipeline for N customers in one process, so its
peak RSS can be measured from outside (bench/rss.py): customers into the store, a planned campaign
(frozen manifest + outbox, streamed in pages), the approval gate, and 10 s of sending."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.e2e import database, prepare
from notifier.config import Settings
from notifier.models import Channel
from notifier.sending.runner import send_window, start
from notifier.store import Store


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, database("sqlite", Path(tmp)) as url:
        campaign = prepare(url, args.customers, Channel.EMAIL, Path(tmp))
        settings = Settings(database_url=url, email_url="memory://email?keep=10")
        start(Store(url), settings, campaign, actor="bench")
        send_window(settings, campaign, Channel.EMAIL, seconds=10)


if __name__ == "__main__":
    main()
