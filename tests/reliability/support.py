"""Helpers of the reliability tests: real ``autophon`` processes with a config file, finding
their alignment Jobs in /proc, the database's view of tasks, and PostgreSQL stop/start.

Imported as ``from reliability import support`` (tests/reliability is a package, so nothing
here can shadow the root ``conftest`` or another test package's helpers).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import wave
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from autophon_align.launchers.local import JOB_ENV
from autophon_core.config import DatabaseConfig
from autophon_core.db import make_engine
from autophon_core.runtime import Runtime
from autophon_upload.main import create_app
from autophon_upload.worker import make_upload_worker

REPO_ROOT = Path(__file__).resolve().parents[2]
# `make soak` sets it: longer runs with more tasks and kills.
SOAK = os.environ.get("AUTOPHON_SOAK") == "1"
# The PostgreSQL cluster the tests stop and start (pg_ctlcluster VERSION NAME).
PG_CLUSTER = os.environ.get("AUTOPHON_TEST_PG_CLUSTER", "15 main").split()

T = TypeVar("T")
# Figures reported by the tests of this run (node id -> figures), printed at the end.
FIGURES: dict[str, dict[str, Any]] = {}


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll ``condition`` until it returns something truthy (returned), or fail after
    ``timeout`` seconds naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def fast_config(db_url: str, root: Path, **overrides: Any) -> dict[str, Any]:
    """A config for processes under test: short leases, quick polls, many attempts."""
    base: dict[str, Any] = {
        "database": {"url": db_url},
        "storage": {"root": str(root)},
        "api": {"host": "127.0.0.1", "port": free_port()},
        "queue": {
            "lease_seconds": 3,
            "max_attempts": 10,
            "poll_interval_seconds": 0.2,
            "reap_interval_seconds": 1,
            "shutdown_grace_seconds": 10,
        },
        "upload_worker": {"concurrency": 2},
        "controller": {
            "max_concurrent_jobs": 2,
            "retry_backoff_seconds": 0,
            "resync_seconds": 2,
        },
        "logging": {"format": "json", "level": "INFO"},
    }
    return _merge(base, overrides)


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


class Service:
    """One ``python -m autophon_cli --config FILE <command>`` process, restartable; every
    incarnation appends to the same log file."""

    def __init__(
        self, command: str, config: Path, log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.command = command
        self.config = config
        self.log_path = log_path
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> Service:
        assert not self.alive(), f"{self.command} is already running"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "autophon_cli", "--config", str(self.config), self.command],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.config.parent,
            )
        self.starts += 1
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL and reap."""
        self.signal(signal.SIGKILL)
        assert self.process is not None
        self.process.wait(timeout=30)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM, wait; SIGKILL if it did not stop. Returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        return self.process.returncode

    def records(self) -> list[dict[str, Any]]:
        return log_records(self.log_path)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""


def log_records(path: Path) -> list[dict[str, Any]]:
    """The JSON log lines of a log file (other lines skipped)."""
    records = []
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                with contextlib.suppress(json.JSONDecodeError):
                    records.append(json.loads(line))
    return records


class Pipeline:
    """``autophon api``, ``upload-worker`` and ``controller`` as separate processes on one
    PostgreSQL database and one storage folder (local Jobs)."""

    def __init__(
        self, tmp_path: Path, db_url: str, *, controllers: int = 1, **overrides: Any
    ) -> None:
        self.root = tmp_path / "data"
        self.data = fast_config(db_url, self.root, **overrides)
        self.config = write_config(tmp_path / "autophon.yaml", self.data)
        self.db_url = db_url
        self.base_url = f"http://127.0.0.1:{self.data['api']['port']}"
        self.api = Service("api", self.config, tmp_path / "api.log")
        self.upload = Service("upload-worker", self.config, tmp_path / "upload.log")
        # Controller replicas (one log each).
        self.controllers = [
            Service("controller", self.config, tmp_path / f"controller-{n}.log")
            for n in range(controllers)
        ]
        self.controller = self.controllers[0]
        self.services = (self.api, self.upload, *self.controllers)
        self.db = Database(db_url)

    def start(self) -> Pipeline:
        for service in self.services:
            service.start()
        wait_for(self.ready, 60, "the API to answer /readyz")
        return self

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/readyz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def logs(self) -> str:
        return "\n".join(f"--- {s.command}\n{s.log_tail()}" for s in self.services)

    def close(self) -> list[int]:
        """Stop every service (SIGTERM) and kill what is left; returns the pids of processes
        that were still using the config afterwards (orphaned Jobs)."""
        for service in self.services:
            service.stop()
        leftovers = kill_leftovers(self.config)
        self.db.close()
        return leftovers


# --- processes found in /proc ---------------------------------------------------------------


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name: state, ppid, ... ([] if gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return stat.rsplit(")", 1)[1].split()


def _state(pid: int) -> str:
    """The process state letter (R, S, Z...), "" if gone."""
    fields = _stat(pid)
    return fields[0] if fields else ""


def _ppid(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[1]) if fields else 0


def processes_using(config: Path) -> dict[int, list[str]]:
    """Live (not zombie) processes whose command line names ``config``: the services of a
    test and the alignment Jobs their controller started."""
    found = {}
    needle = str(config)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        argv = _cmdline(pid)
        if needle in argv and _state(pid) not in ("", "Z"):
            found[pid] = argv
    return found


def run_task_processes(config: Path) -> dict[int, str]:
    """pid -> task id of the live ``run-task`` processes (local Jobs) using ``config``.

    A runner's child between fork and exec still shows the runner's command line: processes
    whose parent is a runner are not counted."""
    runners = {
        pid: argv[argv.index("run-task") + 1]
        for pid, argv in processes_using(config).items()
        if "run-task" in argv and argv.index("run-task") + 1 < len(argv)
    }
    return {pid: task_id for pid, task_id in runners.items() if _ppid(pid) not in runners}


def job_processes(task_id: str) -> list[int]:
    """Live processes of a local Job of ``task_id``: the runner and the engine tools it
    started, marked by the local launcher's environment variable."""
    marker = f"{JOB_ENV}={task_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0") and _state(int(entry.name)) not in ("", "Z"):
            found.append(int(entry.name))
    return found


def kill_leftovers(config: Path) -> list[int]:
    """SIGKILL every process still using ``config`` (Jobs orphaned by a killed controller);
    returns their pids."""
    pids = sorted(processes_using(config))
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids


class RunnerMonitor:
    """Samples the local Jobs of ``config`` every few milliseconds in a thread and records the
    most runners seen at once for one task (must stay 1: one Job per attempt)."""

    def __init__(self, config: Path, interval: float = 0.02) -> None:
        self.config = config
        self.interval = interval
        self.max_concurrent: Counter[str] = Counter()
        self.pids_seen: dict[str, set[int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="runner-monitor", daemon=True)

    def __enter__(self) -> RunnerMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            running = Counter[str]()
            for pid, task_id in run_task_processes(self.config).items():
                running[task_id] += 1
                self.pids_seen.setdefault(task_id, set()).add(pid)
            for task_id, count in running.items():
                self.max_concurrent[task_id] = max(self.max_concurrent[task_id], count)


# --- the database's view --------------------------------------------------------------------


@dataclass
class TaskHistory:
    id: str
    status: str
    attempts: int
    error: str | None
    events: list[str] = field(default_factory=list)


class Database:
    """Read-only look at the tasks of a test database (plain SQL, like an operator)."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = make_engine(DatabaseConfig(url=url))

    def close(self) -> None:
        self.engine.dispose()

    def histories(self) -> dict[str, TaskHistory]:
        with self.engine.connect() as connection:
            tasks = {
                row.id: TaskHistory(row.id, row.status, row.attempts, row.error)
                for row in connection.execute(text("SELECT id, status, attempts, error FROM tasks"))
            }
            for row in connection.execute(
                text("SELECT task_id, status FROM task_events ORDER BY id")
            ):
                tasks[row.task_id].events.append(row.status)
        return tasks

    def statuses(self) -> Counter[str]:
        with self.engine.connect() as connection:
            return Counter(
                {
                    row.status: row.n
                    for row in connection.execute(
                        text("SELECT status, count(*) AS n FROM tasks GROUP BY status")
                    )
                }
            )

    def lease_owners(self, status: str) -> dict[str, str]:
        """task id -> lease owner of the tasks in ``status`` holding a live lease."""
        with self.engine.connect() as connection:
            return {
                row.id: row.lease_owner
                for row in connection.execute(
                    text(
                        "SELECT id, lease_owner FROM tasks WHERE status = :status "
                        "AND lease_owner IS NOT NULL"
                    ),
                    {"status": status},
                )
            }


# --- uploads --------------------------------------------------------------------------------


def fox_files(samples: Path) -> list[tuple[str, tuple[str, bytes]]]:
    return [
        ("files", ("fox.wav", (samples / "fox.wav").read_bytes())),
        ("files", ("fox.txt", (samples / "fox.txt").read_bytes())),
    ]


def submit(base_url: str, files: list[tuple[str, tuple[str, bytes]]], attempts: int = 30) -> str:
    """POST a task, retrying while the API answers 503 or cannot be reached; its id."""
    last = ""
    for _ in range(attempts):
        try:
            response = httpx.post(f"{base_url}/api/v1/tasks", files=files, timeout=30)
        except httpx.TransportError as exc:
            last = repr(exc)
        else:
            if response.status_code == 202:
                return str(response.json()["id"])
            assert response.status_code == 503, response.text
            last = response.text
        time.sleep(0.2)
    raise AssertionError(f"upload not accepted: {last}")


def wav_bytes(seconds: float, rate: int = 16000) -> bytes:
    """A mono 16-bit WAV of a quiet tone (valid audio of a given length)."""
    frames = int(seconds * rate)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        sample = (1000).to_bytes(2, "little", signed=True) + (-1000).to_bytes(
            2, "little", signed=True
        )
        out.writeframes(sample * (frames // 2))
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# --- PostgreSQL -------------------------------------------------------------------------------


def pg_is_local(url: str) -> bool:
    parsed = make_url(url)
    return parsed.get_backend_name() == "postgresql" and parsed.host in (
        "127.0.0.1",
        "localhost",
        "::1",
        None,
    )


def _pg_ctl(action: str) -> None:
    subprocess.run(
        ["pg_ctlcluster", *PG_CLUSTER, action],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=120,
    )


def _pg_accepts(url: str) -> bool:
    engine = make_engine(DatabaseConfig(url=url))
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


@contextlib.contextmanager
def postgres_stopped(url: str) -> Iterator[None]:
    """Stop the PostgreSQL cluster for the body of the ``with``; it is started again in a
    ``finally``, whatever happens, and waited for."""
    _pg_ctl("stop")
    try:
        yield
    finally:
        for attempt in range(3):
            try:
                _pg_ctl("start")
                break
            except subprocess.SubprocessError:
                if attempt == 2:
                    raise
        wait_for(lambda: _pg_accepts(url), 60, "PostgreSQL to accept connections again")


# --- the upload half in this process ------------------------------------------------------


class UploadStage:
    """The API (a TestClient over ``create_app``) and an upload worker thread, over one
    runtime: what the bad-input and storage tests drive."""

    SETTLED = frozenset({"uploaded", "failed"})

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.client = TestClient(create_app(runtime))
        self.client.__enter__()
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None

    def start_worker(self) -> None:
        assert self._thread is None
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=make_upload_worker(self.runtime).run, args=(self._stop,), name="upload"
        )
        self._thread.start()

    def stop_worker(self) -> None:
        if self._thread is None or self._stop is None:
            return
        self._stop.set()
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the upload worker did not stop"
        self._thread = self._stop = None

    @property
    def worker_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        self.stop_worker()
        self.client.__exit__(None, None, None)

    def post(self, files: list[tuple[str, bytes]], **data: str) -> httpx.Response:
        return self.client.post(
            "/api/v1/tasks", files=[("files", f) for f in files], data=data or None
        )

    def task(self, task_id: str) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/tasks/{task_id}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    def settle(self, task_id: str, timeout: float = 60) -> dict[str, Any]:
        """The task once the upload worker is done with it (uploaded or failed)."""

        def settled() -> dict[str, Any] | None:
            task = self.task(task_id)
            return task if task["status"] in self.SETTLED else None

        found = wait_for(settled, timeout, f"task {task_id} to be uploaded or failed")
        assert found is not None
        return found


@contextlib.contextmanager
def serving(runtime: Runtime) -> Iterator[str]:
    """The API over ``runtime`` served by uvicorn on a free port in a thread (real HTTP, for
    what a TestClient cannot show, such as a body refused while it is still being sent)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, 30, "uvicorn to start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def praat_string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def long_textgrid(
    tiers: Sequence[tuple[str, Sequence[tuple[float, float, str]]]], xmax: float
) -> str:
    """A long-format Praat TextGrid, written by hand (so tests can make what praatio won't)."""
    lines = [
        'File type = "ooTextFile"',
        'Object class = "TextGrid"',
        "",
        "xmin = 0",
        f"xmax = {xmax}",
        "tiers? <exists>" if tiers else "tiers? <absent>",
        f"size = {len(tiers)}",
        "item []:",
    ]
    for number, (name, intervals) in enumerate(tiers, 1):
        lines += [
            f"    item [{number}]:",
            '        class = "IntervalTier"',
            f"        name = {praat_string(name)}",
            "        xmin = 0",
            f"        xmax = {xmax}",
            f"        intervals: size = {len(intervals)}",
        ]
        for index, (start, end, label) in enumerate(intervals, 1):
            lines += [
                f"        intervals [{index}]:",
                f"            xmin = {start}",
                f"            xmax = {end}",
                f"            text = {praat_string(label)}",
            ]
    return "\n".join(lines) + "\n"  # fmt: skip
