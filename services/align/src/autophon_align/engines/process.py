"""Running engine tools as subprocesses: bounded in time, never blocked on a pipe.

Output goes to files, not pipes, so a chatty tool can never fill a pipe buffer and hang.
Each tool runs in its own session (process group); on timeout the whole group is killed, so
grandchildren (MFA's workers, FAVE's HTK tools) do not outlive the task. A tool that ran out
of memory (a failed allocation in its log, or killed by the kernel's OOM killer) raises
EngineResourceError, which is not retried; messages never quote C source locations or
allocation sizes (they go to the engine log only).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack, suppress
from pathlib import Path

from autophon_align.engines.base import (
    EngineFailed,
    EngineResourceError,
    EngineTimeout,
    EngineUnavailable,
)

# After SIGTERM, how long a process group gets to exit before SIGKILL.
TERMINATE_GRACE_SECONDS = 3.0
# Log lines of a failed allocation: C (pocketsphinx's ckd_alloc, glibc), Python, C++.
_OUT_OF_MEMORY = re.compile(
    r"\b[mc]alloc\(|\brealloc\(|cannot allocate memory|out of memory|MemoryError|bad_alloc",
    re.IGNORECASE,
)
# C source locations as tools print them: "file.c", line 944: / from /src/x.c(139) / x.c:12
_SOURCE_LOCATION = re.compile(
    r'(?:from\s+)?"?[\w./-]*\.(?:c|cc|cpp|h)"?(?:\(\d+\)|, line \d+|:\d+)?:?', re.IGNORECASE
)
# How often (s) ``run_tool``'s ``on_wait`` is called while the tool runs.
WAIT_POLL_SECONDS = 1.0
# cgroup v2: the memory limit of this container (absent outside one).
CGROUP_MEMORY_MAX = Path("/sys/fs/cgroup/memory.max")


class Deadline:
    """A time limit shared by the steps of one task."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())


def run_tool(
    command: Sequence[str],
    *,
    log_path: Path,
    timeout: float,
    stdout_path: Path | None = None,
    stdin_path: Path | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    what: str | None = None,
    on_wait: Callable[[], None] | None = None,
) -> None:
    """Run ``command`` to completion within ``timeout`` seconds.

    stderr (and stdout unless ``stdout_path`` is given) is appended to ``log_path``. Raises
    EngineUnavailable when the program does not exist, EngineTimeout when it runs too long
    (after killing its process group) and EngineFailed when it exits non-zero. ``what`` names
    the tool in messages (default: the program name). ``on_wait`` is called every
    WAIT_POLL_SECONDS while the tool runs (to pass on its progress, say).
    """
    what = what or Path(command[0]).name
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as files:
        log = files.enter_context(log_path.open("ab"))
        log.write(f"$ {' '.join(command)}\n".encode())
        log.flush()
        stdout = files.enter_context(stdout_path.open("wb")) if stdout_path else log
        stdin = files.enter_context(stdin_path.open("rb")) if stdin_path else subprocess.DEVNULL
        try:
            process = subprocess.Popen(
                list(command),
                stdin=stdin,
                stdout=stdout,
                stderr=log,
                cwd=cwd,
                env=dict(env) if env is not None else None,
                start_new_session=True,
            )
        except (FileNotFoundError, PermissionError) as exc:
            raise EngineUnavailable(
                f"{what} cannot be started on this server ({exc.strerror}: {command[0]})."
            ) from exc
        try:
            returncode = _wait(process, timeout, on_wait)
        except subprocess.TimeoutExpired:
            kill_group(process)
            log.write(f"[autophon] {what} killed after {timeout:.0f} s\n".encode())
            raise EngineTimeout(f"{what} did not finish within {timeout:.0f} s.") from None
        except BaseException:
            # Interrupted (SIGTERM turned into SystemExit, KeyboardInterrupt): the tool runs in
            # its own session, so nobody else would stop it.
            kill_group(process)
            raise
        if returncode != 0:
            if returncode == -signal.SIGKILL or _ran_out_of_memory(log_path):
                # SIGKILL is not ours (a timeout raised above): the kernel's OOM killer.
                raise EngineResourceError(f"{what} ran out of memory{memory_limit_text()}.")
            detail = user_detail(last_line(log_path))
            raise EngineFailed(
                f"{what} failed (exit code {returncode})" + (f": {detail}" if detail else ".")
            )


def _wait(
    process: subprocess.Popen[bytes], timeout: float, on_wait: Callable[[], None] | None
) -> int:
    """``process.wait(timeout)``, calling ``on_wait`` every WAIT_POLL_SECONDS meanwhile."""
    end = time.monotonic() + max(timeout, 0.0)
    while True:
        left = max(0.0, end - time.monotonic())
        try:
            return process.wait(timeout=left if on_wait is None else min(left, WAIT_POLL_SECONDS))
        except subprocess.TimeoutExpired:
            if on_wait is None or time.monotonic() >= end:
                raise
            on_wait()


def _ran_out_of_memory(log_path: Path) -> bool:
    return any(_OUT_OF_MEMORY.search(line) for line in tail_lines(log_path, 20))


def user_detail(line: str) -> str:
    """A tool's log line without C source locations (they mean nothing to a user)."""
    cleaned = _SOURCE_LOCATION.sub("", line)
    cleaned = re.sub(r"\b(?:[mc]|re)alloc\(-?\d+\)", "a memory allocation", cleaned)
    return re.sub(r"\s{2,}", " ", cleaned).strip(" :")


def memory_limit_text() -> str:
    """ " (the limit is 2.0 GiB per task)", or "" when there is no container limit."""
    try:
        value = CGROUP_MEMORY_MAX.read_text().strip()
    except OSError:
        return ""
    if not value.isdigit():
        return ""
    return f" (the limit is {int(value) / 2**30:.1f} GiB per task)"


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """Terminate the process's whole group, then kill what is left."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=TERMINATE_GRACE_SECONDS)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def tail_lines(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of a text file ([] when it does not exist)."""
    if lines <= 0 or not path.exists():
        return []
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        return [line.rstrip("\n") for line in deque(handle, maxlen=lines)]


def last_line(path: Path) -> str:
    """The last non-empty line of a log that is not our own command echo."""
    for line in reversed(tail_lines(path, 50)):
        text = line.strip()
        if text and not text.startswith(("$ ", "[autophon]")):
            return text[:300]
    return ""
