"""The local launcher: an alignment Job is a child process running ``autophon run-task``.

For one machine (``autophon local``, development, CI). The child runs in its own process
group (so the engine's subprocesses are stopped with it), writes stdout and stderr to
``job.log`` in the task folder (a file never fills up and blocks like a pipe, and it survives
the child for :meth:`LocalLauncher.logs`), and is killed when the Job's time limit passes. A
reaper thread per child waits for it and tells the watchers.

Exit codes map to the same :class:`JobStatus` reasons as the Kubernetes launcher's:

========================  ================  =========
child                     reason            retryable
========================  ================  =========
exit 0                    (succeeded)
exit 65 (BAD_INPUT)       BadInput          no
exit 71 (RESOURCE)        Resource          no
time limit passed         DeadlineExceeded  no
killed by a signal        Killed            yes
any other exit (70...)    Error             yes
========================  ================  =========

Children cannot outlive this process usefully (nothing else could read their exit code), so
:meth:`LocalLauncher.terminate_all` stops them all when the controller shuts down. A controller
killed outright (SIGKILL, OOM) cannot stop them: its children keep running in their own
sessions, unknown to the controller that claims the task next. Every process of a Job (the
runner and the engine tools it starts, which inherit its environment) is marked with
``AUTOPHON_LOCAL_JOB=<task id>``, so :meth:`LocalLauncher.stop_orphans` finds and kills them
(Linux /proc) before a new Job of the task starts: a task never has two runners at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from autophon_align.launchers.base import FINAL_EXIT_CODES, JobPhase, JobSpec, JobStatus
from autophon_core.config import Settings
from autophon_core.storage import Storage
from autophon_core.taskfiles import ExitCode

log = logging.getLogger("autophon.launcher.local")

# Between SIGTERM to a child's process group and SIGKILL.
DEFAULT_KILL_GRACE_SECONDS = 3.0
# How much of the log end is read per step when looking for the last lines.
_TAIL_BLOCK = 8192
# Environment variable marking every process of a local Job with its task id.
JOB_ENV = "AUTOPHON_LOCAL_JOB"
# How long stop_orphans waits for killed processes to go.
_ORPHAN_WAIT_SECONDS = 10.0


def default_command() -> list[str]:
    """The command prefix of a Job; ``--config FILE run-task ID`` is appended."""
    return [sys.executable, "-m", "autophon_cli"]


@dataclass
class _Child:
    spec: JobSpec
    process: subprocess.Popen[bytes]
    # Set once the child has exited (its zombie still holds the pid and process group id).
    leader_gone: threading.Event = field(default_factory=threading.Event)
    # Guards signalling against reaping, so a signal never reaches a recycled pid.
    lock: threading.Lock = field(default_factory=threading.Lock)
    reaped: bool = False
    returncode: int | None = None
    deadline_exceeded: bool = False

    def signal_group(self, signum: int) -> None:
        with self.lock:
            if self.reaped:
                return
            with contextlib.suppress(ProcessLookupError, PermissionError):
                # start_new_session=True made the child the leader of a group with its pid.
                os.killpg(self.process.pid, signum)

    def status(self) -> JobStatus:
        task_id, code = self.spec.task_id, self.returncode
        if code is None:
            return JobStatus(task_id, JobPhase.RUNNING)
        if self.deadline_exceeded:
            return JobStatus(
                task_id,
                JobPhase.FAILED,
                reason="DeadlineExceeded",
                message=f"stopped after its time limit of {self.spec.timeout_seconds} s",
            )
        if code == ExitCode.OK:
            return JobStatus(task_id, JobPhase.SUCCEEDED, exit_code=code)
        if code in FINAL_EXIT_CODES:
            reason, meaning = FINAL_EXIT_CODES[code]
            return JobStatus(
                task_id,
                JobPhase.FAILED,
                exit_code=code,
                reason=reason,
                message=f"the runner exited with code {code} ({meaning})",
            )
        if code < 0:
            name = _signal_name(-code)
            return JobStatus(
                task_id,
                JobPhase.FAILED,
                reason="Killed",
                retryable=True,
                message=f"the runner was killed by {name}",
            )
        return JobStatus(
            task_id,
            JobPhase.FAILED,
            exit_code=code,
            reason="Error",
            retryable=True,
            message=f"the runner exited with code {code}",
        )


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class LocalLauncher:
    """Runs each Job as ``<command> --config FILE run-task TASK_ID`` in a child process.

    ``config_path`` is the config file the children read; without one, the settings are
    written once to a private temporary file. ``command`` replaces the default prefix
    ``python -m autophon_cli`` (tests use a stand-in runner). Thread-safe.
    """

    def __init__(
        self,
        settings: Settings,
        config_path: str | None = None,
        *,
        command: Sequence[str] | None = None,
        kill_grace_seconds: float = DEFAULT_KILL_GRACE_SECONDS,
    ) -> None:
        self._settings = settings
        self._storage = Storage(settings.storage.root)
        self._config_path = str(Path(config_path).resolve()) if config_path else None
        self._command = list(command) if command is not None else default_command()
        self._kill_grace = kill_grace_seconds
        self._lock = threading.Lock()
        self._children: dict[str, _Child] = {}
        self._watchers: list[Callable[[str], None]] = []
        self._config_dir: Path | None = None

    # -- Launcher --------------------------------------------------------------------------

    def launch(self, spec: JobSpec) -> None:
        with self._lock:
            if spec.task_id in self._children:
                log.info("adopted existing Job", extra={"task_id": spec.task_id})
                return
            paths = self._storage.task(spec.task_id)
            argv = [*self._command, "--config", self._config_file(), "run-task", spec.task_id]
            # The parent's copy of the log handle is closed at once; the child keeps its own.
            with paths.job_log.open("wb") as log_file:
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                    env={**os.environ, "PYTHONUNBUFFERED": "1", JOB_ENV: spec.task_id},
                )
            child = _Child(spec, process)
            self._children[spec.task_id] = child
        log.info(
            "Job started",
            extra={"task_id": spec.task_id, "pid": process.pid, "timeout": spec.timeout_seconds},
        )
        threading.Thread(
            target=self._reap, args=(child,), name=f"reap-{spec.task_id[:8]}", daemon=True
        ).start()

    def status(self, task_id: str) -> JobStatus | None:
        with self._lock:
            child = self._children.get(task_id)
        return child.status() if child is not None else None

    def list_jobs(self) -> dict[str, JobStatus]:
        with self._lock:
            children = list(self._children.values())
        return {child.spec.task_id: child.status() for child in children}

    def delete(self, task_id: str) -> None:
        """Stop the child's process group (SIGTERM, then SIGKILL after the grace period)
        and forget it. Its log file stays in the task folder."""
        with self._lock:
            child = self._children.pop(task_id, None)
        if child is not None and not child.leader_gone.is_set():
            log.info("stopping Job", extra={"task_id": task_id})
            self._terminate([child])

    def logs(self, task_id: str, lines: int) -> str:
        if lines <= 0:
            return ""
        try:
            return tail(self._storage.task(task_id).job_log, lines)
        except (OSError, ValueError):
            return ""

    def watch(self, stop: threading.Event, on_change: Callable[[str], None]) -> None:
        """Children report their exit from their reaper threads while this blocks."""
        with self._lock:
            self._watchers.append(on_change)
        try:
            stop.wait()
        finally:
            with self._lock:
                self._watchers.remove(on_change)

    def stop_orphans(self, task_id: str) -> list[int]:
        """Kill the processes of Jobs of ``task_id`` that are not our children (left running
        by a controller that was killed) and wait until they are gone; returns their pids."""
        with self._lock:
            ours = {child.process.pid for child in self._children.values()}
        orphans = [pid for pid in _job_processes(task_id) if pid not in ours]
        for pid in orphans:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + _ORPHAN_WAIT_SECONDS
        while any(_running(pid) for pid in orphans) and time.monotonic() < deadline:
            time.sleep(0.01)
        if orphans:
            log.warning(
                "stopped the Job processes of an earlier controller",
                extra={"task_id": task_id, "pids": orphans},
            )
        return orphans

    # -- shutdown --------------------------------------------------------------------------

    def terminate_all(self) -> None:
        """Stop every child (they die with the controller anyway) and forget them."""
        with self._lock:
            children = list(self._children.values())
            self._children.clear()
            config_dir, self._config_dir = self._config_dir, None
        running = [child for child in children if not child.leader_gone.is_set()]
        if running:
            log.info("stopping local Jobs", extra={"jobs": len(running)})
            self._terminate(running)
        if config_dir is not None:
            shutil.rmtree(config_dir, ignore_errors=True)

    # -- internals -------------------------------------------------------------------------

    def _config_file(self) -> str:
        if self._config_path is not None:
            return self._config_path
        if self._config_dir is None:
            data = self._settings.model_dump(mode="json")
            # The children may not share our working directory's meaning of a relative root.
            data["storage"]["root"] = str(self._storage.root)
            directory = Path(tempfile.mkdtemp(prefix="autophon-launcher-"))  # mode 0700
            (directory / "autophon.yaml").write_text(
                yaml.safe_dump(data, sort_keys=False), encoding="utf-8"
            )
            self._config_dir = directory
        return str(self._config_dir / "autophon.yaml")

    def _terminate(self, children: list[_Child]) -> None:
        for child in children:
            child.signal_group(signal.SIGTERM)
        for child in children:
            if not child.leader_gone.wait(self._kill_grace):
                child.signal_group(signal.SIGKILL)
                child.leader_gone.wait(self._kill_grace)

    def _deadline(self, child: _Child) -> None:
        if child.leader_gone.is_set():
            return
        child.deadline_exceeded = True
        log.warning(
            "Job exceeded its time limit; stopping it",
            extra={"task_id": child.spec.task_id, "timeout": child.spec.timeout_seconds},
        )
        self._terminate([child])

    def _reap(self, child: _Child) -> None:
        pid = child.process.pid
        timer = threading.Timer(child.spec.timeout_seconds, self._deadline, args=(child,))
        timer.daemon = True
        timer.start()
        try:
            # Wait without reaping: the zombie keeps the pid and the group id ours while the
            # group's leftovers (engine subprocesses) are killed below.
            while True:
                try:
                    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
                    break
                except InterruptedError:
                    continue
                except ChildProcessError:
                    break
        finally:
            timer.cancel()
        child.leader_gone.set()
        child.signal_group(signal.SIGKILL)
        with child.lock:
            child.process.wait()
            child.reaped = True
        child.returncode = child.process.returncode
        status = child.status()
        log.info(
            "Job finished",
            extra={
                "task_id": child.spec.task_id,
                "phase": status.phase,
                "returncode": child.returncode,
                "reason": status.reason,
            },
        )
        with self._lock:
            watchers = list(self._watchers)
        for on_change in watchers:
            try:
                on_change(child.spec.task_id)
            except Exception:
                log.exception("Job change handler failed", extra={"task_id": child.spec.task_id})


def _job_processes(task_id: str) -> list[int]:
    """Pids of the live processes marked as belonging to a local Job of ``task_id`` (none
    where /proc is not available)."""
    marker = f"{JOB_ENV}={task_id}".encode()
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = Path(entry.path, "environ").read_bytes()
            except OSError:
                continue
            if marker in environ.split(b"\0"):
                found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a text file, reading only its end."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        position = handle.tell()
        data = b""
        while position > 0 and data.count(b"\n") <= lines:
            step = min(_TAIL_BLOCK, position)
            position -= step
            handle.seek(position)
            data = handle.read(step) + data
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])
