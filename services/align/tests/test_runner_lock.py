"""Two runners of one task never work at once (a Job's replacement pod started while the old
one is still terminating): the second ``autophon run-task`` waits for the first, as real
processes holding and waiting for the task folder's lock."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml
from test_runner_support import InputFile, Task, make_task, sample

from autophon_align.runner import RUNNER_LOCK_NAME
from autophon_core.taskfiles import ExitCode, RunResult

WAITING = "another runner of this task is still running; waiting for it"
# Holds the task's lock like a runner in progress until its stdin closes.
HOLDER = """
import fcntl, os, sys
descriptor = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o660)
fcntl.flock(descriptor, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


def fox(tmp_path: Path) -> Task:
    text = sample("fox.txt").read_text(encoding="utf-8")
    return make_task(tmp_path, [InputFile(sample("fox.wav"), "fox.wav", text)])


def run_task_process(task: Task, tmp_path: Path) -> subprocess.Popen[str]:
    config = tmp_path / "autophon.yaml"
    settings = task.settings.model_dump(mode="json")
    settings["logging"] = {"format": "json", "level": "INFO"}
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, "-m", "autophon_cli", "--config", str(config), "run-task", task.task_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def read_until(process: subprocess.Popen[str], wanted: str, timeout: float) -> str:
    """``process``'s output up to and including the first line holding ``wanted`` (all of it
    when the process ends first); raises TimeoutError after ``timeout`` s without it."""
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if wanted in line:
                break
        found.set()

    threading.Thread(target=read, daemon=True).start()
    if not found.wait(timeout):
        raise TimeoutError(f"no {wanted!r} in {timeout:g} s: {''.join(lines)}")
    return "".join(lines)


def hold_lock(task: Task) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(task.paths.root / RUNNER_LOCK_NAME)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    return holder


def test_second_runner_waits_for_the_first(tmp_path: Path) -> None:
    task = fox(tmp_path)
    holder = hold_lock(task)
    try:
        # What the first runner is using: the second must not wipe it.
        task.paths.work_dir.mkdir()
        in_use = task.paths.work_dir / "file-fox" / "request.json"
        in_use.parent.mkdir()
        in_use.write_text("{}")
        second = run_task_process(task, tmp_path)
        # Until it says it waits (however long a loaded machine takes to start it), then a
        # little longer: it must still be waiting, the first runner's files untouched.
        said = read_until(second, WAITING, timeout=120)
        time.sleep(1)
        assert second.poll() is None, "the second runner did not wait"
        assert in_use.exists(), "the second runner touched the first one's work folder"
        assert not task.paths.result_json.exists()
    finally:
        assert holder.stdin is not None
        holder.stdin.close()  # the first runner ends: the kernel releases its lock
        holder.wait(10)
    rest, _ = second.communicate(timeout=120)
    output = said + rest
    assert second.returncode == ExitCode.OK, output
    assert WAITING in said
    assert RunResult.load(task.paths).status == "completed"


def test_a_result_completed_meanwhile_stands(tmp_path: Path) -> None:
    """The first runner completed (and may have deleted the recordings) while the second
    waited: the second keeps that result instead of failing on the missing recordings."""
    task = fox(tmp_path)
    task.paths.result_zip.write_bytes(b"PK\x05\x06" + bytes(18))
    RunResult(status="completed").save(task.paths)
    for recording in task.paths.input_dir.glob("*.wav"):
        recording.unlink()
    second = run_task_process(task, tmp_path)
    output, _ = second.communicate(timeout=60)
    assert second.returncode == ExitCode.OK, output
    assert "already completed by an earlier runner" in output
    assert RunResult.load(task.paths).status == "completed"
