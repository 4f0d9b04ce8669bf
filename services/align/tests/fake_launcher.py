"""An in-memory :class:`Launcher` for controller tests, and helpers the controller tests share.

:class:`FakeLauncher` behaves like a cluster that runs nothing by itself: ``launch`` creates a
running Job (or adopts an existing one), and the test moves Jobs with ``succeed``, ``fail``
and ``vanish``. It records every creation (``created``), every ``launch`` call, every
deletion, and the largest number of unfinished Jobs that ever existed at once (``peak``).
Watchers are told of every change, as a real watch would.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY

from autophon_align.controller import Controller
from autophon_align.launchers.base import JobPhase, JobSpec, JobStatus, Launcher
from autophon_core.config import Settings
from autophon_core.models import Stage, Task, new_task_id
from autophon_core.queue import FileFigures, TaskFigures
from autophon_core.runtime import Runtime
from autophon_core.storage import Storage
from autophon_core.taskfiles import ExitCode, Manifest, ManifestFile, ResultFile, RunResult
from autophon_core.testing import make_settings


class FakeLauncher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, JobStatus] = {}
        self._watchers: list[Callable[[str], None]] = []
        self.specs: dict[str, JobSpec] = {}
        # Task ids of Jobs created (not adopted), in order.
        self.created: list[str] = []
        self.launch_calls: list[str] = []
        self.deleted: list[str] = []
        self.peak = 0
        self.log_text: dict[str, str] = {}
        # The next ``fail_launches`` launch() calls raise (an unreachable cluster).
        self.fail_launches = 0
        # Called with the spec after each creation, outside the lock.
        self.on_create: Callable[[JobSpec], None] | None = None

    # -- Launcher --------------------------------------------------------------------------

    def launch(self, spec: JobSpec) -> None:
        with self._lock:
            self.launch_calls.append(spec.task_id)
            if self.fail_launches > 0:
                self.fail_launches -= 1
                raise ConnectionError("cluster unreachable (injected)")
            if spec.task_id in self._jobs:
                return
            self._jobs[spec.task_id] = JobStatus(spec.task_id, JobPhase.RUNNING)
            self.specs[spec.task_id] = spec
            self.created.append(spec.task_id)
            self.peak = max(self.peak, self._unfinished())
        if self.on_create is not None:
            self.on_create(spec)

    def status(self, task_id: str) -> JobStatus | None:
        with self._lock:
            return self._jobs.get(task_id)

    def list_jobs(self) -> dict[str, JobStatus]:
        with self._lock:
            return dict(self._jobs)

    def delete(self, task_id: str) -> None:
        with self._lock:
            self.deleted.append(task_id)
            existed = self._jobs.pop(task_id, None) is not None
        if existed:
            self._notify(task_id)

    def logs(self, task_id: str, lines: int) -> str:
        text = self.log_text.get(task_id, "")
        return "\n".join(text.splitlines()[-lines:]) if lines > 0 else ""

    def watch(self, stop: threading.Event, on_change: Callable[[str], None]) -> None:
        with self._lock:
            self._watchers.append(on_change)
        try:
            stop.wait()
        finally:
            with self._lock:
                self._watchers.remove(on_change)

    # -- moving the world ------------------------------------------------------------------

    def add_job(self, task_id: str, phase: JobPhase = JobPhase.RUNNING) -> None:
        """A Job that exists already (another controller's, or from before a restart)."""
        with self._lock:
            self._jobs[task_id] = JobStatus(task_id, phase)
            self.peak = max(self.peak, self._unfinished())
        self._notify(task_id)

    def succeed(self, task_id: str) -> None:
        self._set(JobStatus(task_id, JobPhase.SUCCEEDED, exit_code=ExitCode.OK))

    def fail(
        self,
        task_id: str,
        reason: str = "Error",
        *,
        retryable: bool = False,
        exit_code: int | None = None,
        message: str = "",
    ) -> None:
        self._set(
            JobStatus(
                task_id,
                JobPhase.FAILED,
                exit_code=exit_code,
                reason=reason,
                retryable=retryable,
                message=message,
            )
        )

    def vanish(self, task_id: str) -> None:
        """The Job is deleted behind the controller's back (not recorded in ``deleted``)."""
        with self._lock:
            del self._jobs[task_id]
        self._notify(task_id)

    def creations(self) -> Counter[str]:
        with self._lock:
            return Counter(self.created)

    def running(self) -> list[str]:
        with self._lock:
            return [t for t, job in self._jobs.items() if not job.finished]

    def _set(self, status: JobStatus) -> None:
        with self._lock:
            assert status.task_id in self._jobs, f"no Job for {status.task_id}"
            self._jobs[status.task_id] = status
        self._notify(status.task_id)

    def _unfinished(self) -> int:
        return sum(not job.finished for job in self._jobs.values())

    def _notify(self, task_id: str) -> None:
        with self._lock:
            watchers = list(self._watchers)
        for on_change in watchers:
            on_change(task_id)


def _is_launcher(launcher: FakeLauncher) -> Launcher:
    return launcher  # mypy checks FakeLauncher against the protocol


# -- helpers shared by the controller tests ------------------------------------------------

AUDIO_SECONDS = 2.5
RESULT_FILES = [
    ResultFile(name="fox.wav", duration_s=AUDIO_SECONDS, words=9, missing_words=1, tiers=["words"])
]


def controller_settings(db_url: str, root: Path, **overrides: dict[str, object]) -> Settings:
    sections: dict[str, dict[str, object]] = {
        "controller": {
            "retry_backoff_seconds": 0.0,
            "resync_seconds": 0.5,
            "max_concurrent_jobs": 4,
            "log_tail_lines": 3,
        },
        "queue": {
            "lease_seconds": 3,
            "poll_interval_seconds": 0.2,
            "shutdown_grace_seconds": 5,
            "max_attempts": 3,
        },
        "alignment": {"timeout_base_seconds": 60, "timeout_per_audio_second": 4},
    }
    for key, value in overrides.items():
        sections.setdefault(key, {}).update(value)
    return make_settings(db_url, root, **sections)


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    """Poll ``predicate`` until truthy (returned), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not reached within {timeout} s: {what or predicate}")
        time.sleep(0.02)


def prepare_task(runtime: Runtime, *, duration_s: float = AUDIO_SECONDS) -> str:
    """A task as the upload worker leaves it: 'uploaded', with input/manifest.json."""
    queue = runtime.queue
    task_id = new_task_id()
    runtime.storage.create_task_dir(task_id)
    queue.create(
        task_id=task_id,
        language="eng",
        engine="pocketsphinx",
        file_names=["fox.wav", "fox.txt"],
        size_bytes=100,
    )
    claimed = queue.claim(Stage.UPLOAD, "test-upload-worker")
    assert claimed is not None and claimed.id == task_id
    manifest = Manifest(
        task_id=task_id,
        language="eng",
        engine="pocketsphinx",
        files=[
            ManifestFile(
                stem="fox",
                name="fox.wav",
                transcript="fox.txt",
                duration_s=duration_s,
                words=9,
                missing_words=1,
                tiers=["words"],
                plain=True,
            )
        ],
        missing_words=["zorblax"],
    )
    manifest.save(runtime.storage.task(task_id))
    figures = TaskFigures(
        duration_s=duration_s,
        words=9,
        missing_words=1,
        files=[FileFigures(name="fox.wav", duration_s=duration_s, words=9, missing_words=1)],
    )
    assert queue.mark_uploaded(task_id, "test-upload-worker", figures)
    return task_id


def write_result(
    runtime: Runtime,
    task_id: str,
    *,
    status: str = "completed",
    error: str | None = None,
    exit_code: int = ExitCode.OK,
) -> None:
    """What the runner leaves in the task folder."""
    RunResult(
        status=status,  # type: ignore[arg-type]
        error=error,
        exit_code=exit_code,
        engine="pocketsphinx",
        files=RESULT_FILES if status == "completed" else [],
    ).save(runtime.storage.task(task_id))


def failures(reason: str) -> float:
    """``autophon_task_failures_total`` of the align stage with label ``reason``, so far (the
    registry is the process's: compare before and after)."""
    value = REGISTRY.get_sample_value(
        "autophon_task_failures_total", {"stage": "align", "reason": reason}
    )
    return value or 0.0


def task(runtime: Runtime, task_id: str) -> Task:
    found = runtime.queue.get(task_id)
    assert found is not None
    return found


def status_of(runtime: Runtime, task_id: str) -> str:
    return task(runtime, task_id).status


@contextmanager
def running(controller: Controller) -> Iterator[threading.Event]:
    """Run ``controller`` in a thread; on exit stop it and check it stopped within the grace
    period (plus a margin for a slow machine)."""
    stop = threading.Event()
    thread = threading.Thread(target=controller.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        grace = controller.settings.queue.shutdown_grace_seconds
        poll = controller.settings.queue.poll_interval_seconds
        thread.join(timeout=grace + poll + 5)
        assert not thread.is_alive(), "the controller did not stop"


# -- a stand-in for ``autophon run-task``, for local-launcher tests --------------------------

STANDIN_RUNNER = '''
"""Stand-in runner: ``standin.py --config FILE run-task ID``, driven by <task>/standin.json:
{"runs": [behaviour, ...]} (run n uses runs[n-1], the last one repeats). A behaviour may
give "lines" to print, "spam" bytes of output, "grandchild" (start a long sleep in the
group), "sleep" seconds, "result" ("completed", "failed" or null for none), "error" and
"exit". Each run appends its pid to <task>/standin-runs and writes <task>/standin.pid."""
import json
import os
import subprocess
import sys
import time

from autophon_core.config import load_settings
from autophon_core.storage import Storage
from autophon_core.taskfiles import ResultFile, RunResult

_, config_flag, config, command, task_id = sys.argv
assert config_flag == "--config" and command == "run-task", sys.argv
paths = Storage(load_settings(config).storage.root).task(task_id)
plan_file = paths.root / "standin.json"
runs = json.loads(plan_file.read_text())["runs"] if plan_file.exists() else [{}]
with open(paths.root / "standin-runs", "a") as handle:
    handle.write(f"{os.getpid()}\\n")
number = len((paths.root / "standin-runs").read_text().split())
behaviour = runs[min(number, len(runs)) - 1]
print(f"stand-in runner: task {task_id} run {number}", flush=True)
for line in behaviour.get("lines", []):
    print(line, flush=True)
if behaviour.get("spam"):
    chunk = ("x" * 99 + "\\n") * 1000
    for _ in range(behaviour["spam"] // len(chunk)):
        sys.stdout.write(chunk)
    sys.stdout.write("spam done\\n")
    sys.stdout.flush()
if behaviour.get("grandchild"):
    child = subprocess.Popen(["sleep", "300"])
    (paths.root / "grandchild.pid").write_text(str(child.pid))
(paths.root / "standin.pid").write_text(str(os.getpid()))
time.sleep(behaviour.get("sleep", 0))
result = behaviour.get("result", "completed")
code = behaviour.get("exit", 0)
if result:
    files = [ResultFile(name="fox.wav", duration_s=2.5, words=9, missing_words=1, tiers=["words"])]
    RunResult(
        status=result,
        error=behaviour.get("error"),
        exit_code=code,
        files=files if result == "completed" else [],
    ).save(paths)
print("stand-in runner: done", flush=True)
sys.exit(code)
'''


def standin_command(directory: Path) -> list[str]:
    """The command prefix that runs the stand-in runner (written into ``directory``)."""
    script = directory / "standin.py"
    script.write_text(STANDIN_RUNNER, encoding="utf-8")
    return [sys.executable, str(script)]


def plan(storage: Storage, task_id: str, *runs: dict[str, Any]) -> None:
    """What the stand-in does on its successive runs for ``task_id``."""
    root = storage.task(task_id).root
    (root / "standin.json").write_text(json.dumps({"runs": list(runs)}), encoding="utf-8")


def runs_of(storage: Storage, task_id: str) -> int:
    """How many times the stand-in started for ``task_id``."""
    path = storage.task(task_id).root / "standin-runs"
    return len(path.read_text().split()) if path.exists() else 0


def standin_pid(storage: Storage, task_id: str, name: str = "standin.pid") -> int | None:
    path = storage.task(task_id).root / name
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, waiting to be reaped, does not count)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def started(storage: Storage, task_id: str, run: int = 1) -> int | None:
    """The pid of the stand-in's ``run``-th run once it is running (past its setup)."""
    path = storage.task(task_id).root / "standin-runs"
    pids = path.read_text().split() if path.exists() else []
    if len(pids) < run:
        return None
    pid = int(pids[run - 1])
    return pid if standin_pid(storage, task_id) == pid else None
