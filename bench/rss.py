"""Peak memory (resident set size) of a benchmarked command, measured by the kernel.

Sampling /proc while a child runs misses short spikes. The kernel's own high-water mark
(ru_maxrss), read when the child is reaped with wait4(), does not, and reaping that one
pid keeps the benchmark process's own memory out of the number.

One Linux trap: at execve() the kernel folds the *pre-exec* address space's high-water
mark into the new program's ru_maxrss, and a child spawned by fork/vfork starts from
its parent's address space. A command launched straight from a benchmark that has
itself peaked at 300 MB therefore reports at least 300 MB, even for ``true``. So the
command is launched from a tiny ``python -I -S`` trampoline instead; its few MB are the
floor of every measurement.
"""

from __future__ import annotations

import contextlib
import os
import resource
import select
import signal
import subprocess
import sys
import tempfile

_TAIL_CHARS = 2000

# Runs as: python -I -S -c _TRAMPOLINE <report_fd> <argv...>. Writes "<pid>\n" as soon as
# the command is forked (so a timeout can kill the command itself), then
# "<ru_maxrss> <wait status>\n" once it has been reaped.
_TRAMPOLINE = """
import os, signal, sys
report = int(sys.argv[1])
os.set_inheritable(report, False)
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    except OSError as exc:
        os.write(2, f"cannot run {sys.argv[2]!r}: {exc}\\n".encode())
        os._exit(127)
signal.signal(signal.SIGINT, signal.SIG_IGN)
os.write(report, f"{pid}\\n".encode())
_, status, usage = os.wait4(pid, 0)
os.write(report, f"{usage.ru_maxrss} {status}\\n".encode())
"""


def _maxrss_to_mb(maxrss: int) -> float:
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    divisor = 1024 * 1024 if sys.platform == "darwin" else 1024
    return maxrss / divisor


def _read_all(fd: int) -> str:
    chunks: list[bytes] = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    return b"".join(chunks).decode()


def _kill_command(report_fd: int) -> str:
    """SIGKILL the command whose pid the trampoline reported; return the text consumed.

    Killing the command rather than the trampoline lets the trampoline still reap it and
    report its peak RSS, which is what a leak hunt after a timeout needs.
    """
    # The pid line is written right after fork; wait briefly in case we are that early.
    ready, _, _ = select.select([report_fd], [], [], 5.0)
    if not ready:
        return ""
    text = os.read(report_fd, 64).decode()
    pid_text = text.partition("\n")[0]
    if pid_text:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid_text), signal.SIGKILL)
    return text


def peak_rss_mb_of(
    cmd: list[str],
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    timeout: float = 3600,
) -> tuple[float, int, str]:
    """Run ``cmd`` to completion; return (peak RSS in MiB, exit code, output tail).

    Args:
        cmd: argv of the command; ``cmd[0]`` is looked up on PATH.
        env: variables added to (overriding) the current environment. They are merged
            rather than used alone so that callers can pass just the settings under test
            without losing PATH, HOME or the virtualenv.
        cwd: working directory of the command.
        timeout: seconds after which the command is killed with SIGKILL. Processes it
            started itself are not swept up.

    Returns:
        The peak RSS is the kernel's high-water mark for the command; if it waited for
        children of its own (e.g. a shell), it is the largest of those peaks, not their
        sum. It never reads below the trampoline's ~5 MB. The exit code follows
        subprocess conventions (negative = killed by that signal, ``-9`` after a
        timeout) and is 127 if the command could not be executed. The tail is the last
        2000 characters of combined stdout and stderr, with a note appended on timeout.

    Raises:
        RuntimeError: the trampoline itself failed to report.
    """
    full_env = {**os.environ, **env} if env is not None else None
    report_r, report_w = os.pipe()
    timed_out = False
    # A temporary file rather than a pipe: nobody drains a pipe while we wait, so a
    # chatty command would fill it and block forever.
    with tempfile.TemporaryFile() as output:
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _TRAMPOLINE, str(report_w), *cmd],
                env=full_env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                pass_fds=(report_w,),
            )
        finally:
            os.close(report_w)
        try:
            consumed = ""
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                consumed = _kill_command(report_r)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            report = consumed + _read_all(report_r)
        finally:
            os.close(report_r)
            if proc.poll() is None:
                # Interrupted (e.g. KeyboardInterrupt): do not leave the trampoline behind.
                proc.kill()
                proc.wait()
        output.seek(0, os.SEEK_END)
        output.seek(max(0, output.tell() - 4 * _TAIL_CHARS))  # <= 4 bytes per UTF-8 char
        tail = output.read().decode("utf-8", errors="replace")[-_TAIL_CHARS:]

    lines = report.splitlines()
    if len(lines) != 2:
        raise RuntimeError(f"RSS trampoline exited with {proc.returncode} without a report; output: {tail!r}")
    maxrss_text, status_text = lines[1].split()
    if timed_out:
        tail = (tail + f"\n[killed after {timeout:g}s timeout]")[-_TAIL_CHARS:]
    return _maxrss_to_mb(int(maxrss_text)), os.waitstatus_to_exitcode(int(status_text)), tail


def self_peak_rss_mb() -> float:
    """Peak RSS of the calling process so far, in MiB."""
    return _maxrss_to_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
