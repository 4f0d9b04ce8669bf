"""Running engine tools as subprocesses: bounded in time, never blocked on a pipe.

Output goes to files, not pipes, so a chatty tool can never fill a pipe buffer and hang.
Each tool runs in its own session (process group); on timeout the whole group is killed, so
grandchildren (MFA's workers, FAVE's HTK tools) do not outlive the task.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Mapping, Sequence
from contextlib import ExitStack, suppress
from pathlib import Path

from autophon_align.engines.base import EngineFailed, EngineTimeout, EngineUnavailable

# After SIGTERM, how long a process group gets to exit before SIGKILL.
TERMINATE_GRACE_SECONDS = 3.0


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
) -> None:
    """Run ``command`` to completion within ``timeout`` seconds.

    stderr (and stdout unless ``stdout_path`` is given) is appended to ``log_path``. Raises
    EngineUnavailable when the program does not exist, EngineTimeout when it runs too long
    (after killing its process group) and EngineFailed when it exits non-zero. ``what`` names
    the tool in messages (default: the program name).
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
            returncode = process.wait(timeout=max(timeout, 0.0))
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
            detail = last_line(log_path)
            raise EngineFailed(
                f"{what} failed (exit code {returncode})" + (f": {detail}" if detail else ".")
            )


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
