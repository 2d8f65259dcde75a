"""``make bench``: every benchmark of the delivery engine in one run, side by side.

Prints a table with the targets and writes bench/results/latest.json. Loopback only; every server it
starts is stopped again. Sizes can be scaled down with BENCH_SCALE=0.1 for a quick look."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.baselines import naive_smtplib_rate
from bench.callbacks import callbacks_rate
from bench.e2e import database, prepare, run_shards
from bench.latency_smtpd import latency_server
from bench.ports import free_port, stop_process, wait_for_port
from bench.report import print_table, write_results
from bench.rss import peak_rss_mb_of
from bench.sink import smtp_sink, smtp_source_rate
from notifier.config import PROJECT_ROOT
from notifier.models import Channel

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
RESULTS = PROJECT_ROOT / "bench" / "results" / "latest.json"
TARGETS = {
    "email_e2e_msgs_per_s": (">=", 1000.0),
    "email_e2e_pg_msgs_per_s": (">=", 1000.0),
    "email_latency50_msgs_per_s": (">=", 300.0),
    "throttle_achieved_1w": ("within2%", 200.0),
    "throttle_achieved_2w": ("within2%", 200.0),
    "throttle_max_1s_window": ("<=", 210.0),
    "throttle_loaded_max_1s_sender": ("<=", 210.0),
    "peak_rss_mb_1m": ("<=", 300.0),
    "callbacks_per_s": (">=", 1000.0),
}
SMTP_QUERY = "from=notices@example.com&reply_to=support@example.com&bounce_domain=bounces.example.com"


def n(count: int) -> int:
    return max(100, int(count * SCALE))


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def email_e2e(work: Path, results: dict[str, float | int | str | None]) -> None:
    with smtp_sink() as port:
        url = f"smtp://127.0.0.1:{port}?{SMTP_QUERY}&pool=24&concurrency=24"
        for kind, key in (("sqlite", "email_e2e_msgs_per_s"), ("postgresql", "email_e2e_pg_msgs_per_s")):
            with database(kind, work) as db:
                campaign = prepare(db, n(20000), Channel.EMAIL, work)
                seconds, accepted = run_shards(db, campaign, channel=Channel.EMAIL, channel_url=url, shards=2)
            results[key] = round(accepted / seconds, 1)
            log(f"(a) email e2e on {kind}: {accepted} in {seconds:.1f} s = {results[key]} msgs/s")
        results["smtp_source_msgs_per_s"] = round(smtp_source_rate(port, messages=n(20000), sessions=16), 1)
        log(f"(a) smtp-source reference: {results['smtp_source_msgs_per_s']} msgs/s")
        results["naive_smtplib_msgs_per_s"] = round(naive_smtplib_rate(port, messages=n(2000)), 1)
        log(f"(b) naive smtplib loop: {results['naive_smtplib_msgs_per_s']} msgs/s")


def email_latency(work: Path, results: dict[str, float | int | str | None]) -> None:
    with latency_server(50.0) as port, database("sqlite", work) as db:
        url = f"smtp://127.0.0.1:{port}?{SMTP_QUERY}&pool=160&concurrency=160&timeout=60"
        campaign = prepare(db, n(6000), Channel.EMAIL, work)
        seconds, accepted = run_shards(db, campaign, channel=Channel.EMAIL, channel_url=url, shards=2)
    results["email_latency50_msgs_per_s"] = round(accepted / seconds, 1)
    log(
        f"(c) 50 ms per SMTP reply: {accepted} in {seconds:.1f} s = "
        f"{results['email_latency50_msgs_per_s']} msgs/s"
    )


def twilio_standin(record: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "notifier.testing.twilio", "--port", str(port)]
    if record is not None:
        cmd += ["--record", str(record)]
    proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=subprocess.PIPE)
    wait_for_port(port, process=proc)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().decode().strip()


def sms_e2e(work: Path, results: dict[str, float | int | str | None]) -> None:
    proc, url = twilio_standin()
    try:
        with database("sqlite", work) as db:
            campaign = prepare(db, n(6000), Channel.SMS, work)
            seconds, accepted = run_shards(
                db, campaign, channel=Channel.SMS, channel_url=url + "&concurrency=32", shards=2
            )
    finally:
        stop_process(proc)
    results["sms_e2e_msgs_per_s"] = round(accepted / seconds, 1)
    log(
        f"(d) SMS into the Twilio stand-in: {accepted} in {seconds:.1f} s = "
        f"{results['sms_e2e_msgs_per_s']} msgs/s"
    )


def callbacks(work: Path, results: dict[str, float | int | str | None]) -> None:
    proc, url = twilio_standin()
    try:
        with database("postgresql", work) as db:
            campaign = prepare(db, n(10000), Channel.SMS, work)
            run_shards(db, campaign, channel=Channel.SMS, channel_url=url + "&concurrency=32", shards=2)
            rate, sent = callbacks_rate(db, url, auth_token="standin-auth-token")
    finally:
        stop_process(proc)
    results["callbacks_per_s"] = round(rate, 1)
    log(f"(h) signed status callbacks into notifier serve (PostgreSQL): {sent} = {rate:.0f}/s")


def windows(stamps: list[float], seconds: float) -> tuple[float, int]:
    """(average rate over the first ``seconds``, largest count in any sliding 1-second window)."""
    stamps.sort()
    start = stamps[0]
    inside = [t for t in stamps if t < start + seconds]
    best, j = 0, 0
    for i, t in enumerate(inside):
        while inside[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return len(inside) / seconds, best


def throttle(work: Path, results: dict[str, float | int | str | None]) -> None:
    rate, seconds = 200, max(10.0, 60.0 * SCALE)
    results["throttle_target"] = rate
    worst = 0
    for workers in (1, 2):
        record = work / f"throttle-{workers}.txt"
        proc, url = twilio_standin(record)
        try:
            with database("postgresql", work) as db:
                campaign = prepare(db, int(rate * seconds * 1.3), Channel.SMS, work)
                run_shards(
                    db,
                    campaign,
                    channel=Channel.SMS,
                    channel_url=f"{url}&rate={rate}&concurrency=16",
                    shards=workers,
                    stop_after=seconds + 3,
                )
        finally:
            stop_process(proc)
        achieved, max_window = windows([float(x) for x in record.read_text().split()], seconds)
        results[f"throttle_achieved_{workers}w"] = round(achieved, 2)
        worst = max(worst, max_window)
        log(
            f"(e) throttle {rate}/s, {workers} worker(s), {seconds:.0f} s: {achieved:.2f}/s, "
            f"max 1 s window {max_window}"
        )
    results["throttle_max_1s_window"] = worst


def throttle_loaded(work: Path, results: dict[str, float | int | str | None]) -> None:
    """The 200/s throttle with the machine busy: CPU burners at three times the core count. Falling
    behind is allowed; a one-second window above rate + burst is not. Measured at both ends: the sender's
    own send times, and the arrival times at the stand-in (itself starved of CPU, so it bunches too)."""
    rate, seconds = 200, max(10.0, 30.0 * SCALE)
    burners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(3 * (os.cpu_count() or 2))
    ]
    record, sent = work / "throttle-loaded.txt", work / "throttle-loaded-sent.txt"
    proc, url = twilio_standin(record)
    try:
        with database("postgresql", work) as db:
            campaign = prepare(db, int(rate * seconds * 1.3), Channel.SMS, work)
            run_shards(
                db,
                campaign,
                channel=Channel.SMS,
                channel_url=f"{url}&rate={rate}&concurrency=16",
                shards=1,
                stop_after=seconds + 3,
                send_log=sent,
            )
    finally:
        stop_process(proc)
        for burner in burners:
            burner.kill()
    achieved, standin_window = windows([float(x) for x in record.read_text().split()], seconds)
    _sender_rate, sender_window = windows([float(x) for x in sent.read_text().split()], seconds)
    results["throttle_loaded_achieved"] = round(achieved, 2)
    results["throttle_loaded_max_1s_sender"] = sender_window
    results["throttle_loaded_max_1s_standin"] = standin_window
    log(
        f"(e') throttle {rate}/s under CPU load, {seconds:.0f} s: {achieved:.2f}/s, max 1 s window "
        f"{sender_window} at the sender, {standin_window} at the stand-in"
    )


def memory(results: dict[str, float | int | str | None]) -> None:
    for customers, key in ((n(100_000), "peak_rss_mb_100k"), (n(1_000_000), "peak_rss_mb_1m")):
        began = time.perf_counter()
        peak, code, tail = peak_rss_mb_of(
            [sys.executable, "-m", "bench.memory", "--customers", str(customers)], cwd=str(PROJECT_ROOT)
        )
        if code != 0:
            raise RuntimeError(f"bench.memory failed ({code}): {tail}")
        results[key] = round(peak, 1)
        log(
            f"(f) {customers} customers end to end: peak RSS {peak:.0f} MB "
            f"({time.perf_counter() - began:.0f} s)"
        )


def main() -> None:
    results: dict[str, float | int | str | None] = {"scale": SCALE}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for step in (email_e2e, email_latency, sms_e2e, callbacks, throttle, throttle_loaded):
            step(work, results)
        memory(results)
    write_results(results, RESULTS)
    print_table(results, TARGETS)
    log(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
