"""Storage full and storage read-only, on a real small filesystem: the storage root is a 2 MB
tmpfs mounted for the test (remounted read-only for the second part). The API refuses uploads
it cannot store (507), the upload worker fails the task it cannot write with a sentence saying
so, and both go on serving other tasks once there is room again.

Needs root (mount); elsewhere the test is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from autophon_core.runtime import Runtime
from autophon_core.testing import make_settings

from . import support

pytestmark = pytest.mark.reliability

STORAGE_ERROR = (
    "The server could not write this task's files (its storage is full or unavailable). "
    "Please upload them again later."
)
STORAGE_REFUSAL = "its storage is full or unavailable"


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, timeout=30)


@contextlib.contextmanager
def small_filesystem(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` for the body of the ``with``."""
    path.mkdir()
    try:
        _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {exc}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, timeout=30)


def _files_in(root: Path) -> list[Path]:
    return [p for p in (root / "tasks").rglob("*") if p.is_file()]


@pytest.fixture
def stage(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[support.UploadStage, Path]]:
    with small_filesystem(tmp_path / "volume", "2m") as volume:
        settings = make_settings(sqlite_url, tmp_path, storage={"root": str(volume)})
        runtime = Runtime.create(settings)
        stage = support.UploadStage(runtime)
        try:
            yield stage, volume
        finally:
            stage.close()
            runtime.close()


def test_full_storage_fails_the_task_clearly_and_the_worker_serves_the_next(
    stage: tuple[support.UploadStage, Path], samples: Path
) -> None:
    upload, volume = stage
    fox = [("fox.wav", (samples / "fox.wav").read_bytes()), ("fox.txt", b"the quick fox")]
    upload.start_worker()

    # Larger than the volume: refused while it is being stored, nothing left behind.
    refused = upload.post([("big.wav", support.wav_bytes(100)), ("big.txt", b"words")])
    assert refused.status_code == 507, refused.text
    assert STORAGE_REFUSAL in refused.json()["detail"]
    assert _files_in(volume) == []

    # Stored (1.2 MB of 2), but its conversion (another 1.2 MB) cannot be written.
    accepted = upload.post([("long.wav", support.wav_bytes(38)), ("long.txt", b"words")])
    assert accepted.status_code == 202, accepted.text
    failed = upload.settle(accepted.json()["id"])
    assert failed["status"] == "failed" and failed["error"] == STORAGE_ERROR, failed

    # The worker carries on: a task that fits is prepared.
    good = upload.post(fox)
    assert good.status_code == 202, good.text
    assert upload.settle(good.json()["id"])["status"] == "uploaded"
    assert upload.worker_alive


def test_read_only_storage_fails_the_task_clearly_and_the_worker_serves_the_next(
    stage: tuple[support.UploadStage, Path], samples: Path
) -> None:
    upload, volume = stage
    fox = [("fox.wav", (samples / "fox.wav").read_bytes()), ("fox.txt", b"the quick fox")]
    waiting = upload.post(fox)  # stored while the volume is writable; no worker yet
    assert waiting.status_code == 202, waiting.text
    _mount("-o", "remount,ro", str(volume))
    try:
        refused = upload.post(fox)
        assert refused.status_code == 507, refused.text
        assert STORAGE_REFUSAL in refused.json()["detail"]
        upload.start_worker()
        failed = upload.settle(waiting.json()["id"])
        assert failed["status"] == "failed" and failed["error"] == STORAGE_ERROR, failed
    finally:
        _mount("-o", "remount,rw", str(volume))
    good = upload.post(fox)
    assert good.status_code == 202, good.text
    assert upload.settle(good.json()["id"])["status"] == "uploaded"
    assert upload.worker_alive
