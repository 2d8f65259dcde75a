"""Peak memory (resident set size) of a benchmarked command, measured by the kernel.

Sampling /proc while a child runs misses short spikes; the kernel's own high-water mark
(ru_maxrss), read when the child is reaped with wait4(), does not. Reaping that one pid
keeps the benchmark process's own memory out of the number.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
import time

_TAIL_CHARS = 2000


def _maxrss_to_mb(maxrss: int) -> float:
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    divisor = 1024 * 1024 if sys.platform == "darwin" else 1024
    return maxrss / divisor


def peak_rss_mb_of(
    cmd: list[str],
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    timeout: float = 3600,
) -> tuple[float, int, str]:
    """Run ``cmd`` to completion; return (peak RSS in MiB, exit code, output tail).

    Args:
        cmd: argv of the command.
        env: variables added to (overriding) the current environment. They are merged
            rather than used alone so that callers can pass just the settings under test
            without losing PATH, HOME or the virtualenv.
        cwd: working directory of the command.
        timeout: seconds after which the command is killed with SIGKILL.

    Returns:
        The peak RSS is the kernel's high-water mark for the child; if the child itself
        waited for children of its own (e.g. a shell), it is the largest of those peaks,
        not their sum. The exit code follows subprocess conventions (negative = killed by
        that signal; ``-9`` after a timeout). The tail is the last 2000 characters of the
        combined stdout and stderr, with a note appended on timeout.
    """
    full_env = {**os.environ, **env} if env is not None else None
    # A temporary file rather than a pipe: nobody reads a pipe while we block in wait4,
    # so a chatty child would fill it and deadlock.
    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(
            cmd,
            env=full_env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        timed_out = False
        while True:
            # WNOHANG polling is the only way to combine wait4's rusage with a timeout.
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid != 0:
                break
            if time.monotonic() >= deadline:
                timed_out = True
                os.kill(proc.pid, signal.SIGKILL)
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        exit_code = os.waitstatus_to_exitcode(status)
        # We reaped the child ourselves; tell Popen so it does not try again.
        proc.returncode = exit_code
        output.seek(0, os.SEEK_END)
        output.seek(max(0, output.tell() - 4 * _TAIL_CHARS))  # <= 4 bytes per UTF-8 char
        tail = output.read().decode("utf-8", errors="replace")[-_TAIL_CHARS:]
    if timed_out:
        tail = (tail + f"\n[killed after {timeout:g}s timeout]")[-_TAIL_CHARS:]
    return _maxrss_to_mb(usage.ru_maxrss), exit_code, tail


def self_peak_rss_mb() -> float:
    """Peak RSS of the calling process so far, in MiB."""
    return _maxrss_to_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
