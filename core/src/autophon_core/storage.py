"""The task folder layout on the shared volume; every path is built here.

::

    <root>/tasks/<task-id>/
        upload/         files as received (sanitised names), extracted zips
        input/          converted: <stem>.wav (16 kHz mono s16), <stem>.TextGrid, user.dict
        input/manifest.json   what the upload worker found (files, tiers, counts)
        work/           scratch for the runner and its engine (never shared between tasks)
        output/         TextGrids being written by the runner
        result.zip      the packaged result (written under a temporary name, then renamed)
        result.json     the runner's machine-readable result (status, figures, error)
        progress.json   the runner's progress while aligning (files and audio seconds done)
        view/<stem>.json  what the viewer shows of a recording: its tiers, waveform peaks and
                        a spectrogram image (small; kept when the recordings are deleted)
        engine.log      the last lines of the engine's log
        job.log         a local Job's output (locally; on Kubernetes it is the pod's log)

The same layout is seen by the API, the upload worker, the controller and the Job pods (which
mount the volume at another path, so paths are always derived from a root, never stored).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
import tempfile
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

TASK_ID_RE = re.compile(r"^[0-9a-f]{32}$")
MAX_NAME_BYTES = 200


class UnsafeNameError(ValueError):
    """A file name that cannot be made safe (empty after sanitising)."""


def safe_name(name: str | bytes) -> str:
    """A file name safe to create inside a task folder.

    Keeps only the last path component (both ``/`` and ``\\`` separators), drops control
    characters and NUL, replaces characters outside a conservative set, refuses ``.``/``..``
    and truncates to MAX_NAME_BYTES while keeping the extension.
    """
    if isinstance(name, bytes):
        name = name.decode("utf-8", errors="replace")
    name = name.replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    # After dropping controls: characters they separated may compose (the result must be
    # stable, safe_name(safe_name(x)) == safe_name(x)).
    name = unicodedata.normalize("NFC", name)
    name = re.sub(r"[^\w .,()\[\]+@'-]", "_", name).strip(" .")
    if not name or name in {".", ".."}:
        raise UnsafeNameError("empty file name")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    ext = ext[:16].rstrip(" ")
    while len((stem + dot + ext).encode("utf-8")) > MAX_NAME_BYTES:
        stem = stem[:-1]
    if not ext:
        # No extension (or a cut one of spaces): the name ends with the stem, which a cut may
        # have left ending in a space or a dot.
        dot, stem = "", stem.rstrip(" .")
    if not stem:
        raise UnsafeNameError("file name has no stem")
    return stem + dot + ext


@dataclass(frozen=True)
class TaskPaths:
    """Paths of one task's folder."""

    root: Path

    @property
    def task_id(self) -> str:
        return self.root.name

    @property
    def upload_dir(self) -> Path:
        return self.root / "upload"

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def manifest(self) -> Path:
        return self.input_dir / "manifest.json"

    @property
    def user_dict(self) -> Path:
        return self.input_dir / "user.dict"

    @property
    def work_dir(self) -> Path:
        return self.root / "work"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def result_zip(self) -> Path:
        return self.root / "result.zip"

    @property
    def result_json(self) -> Path:
        return self.root / "result.json"

    @property
    def progress_json(self) -> Path:
        return self.root / "progress.json"

    @property
    def view_dir(self) -> Path:
        return self.root / "view"

    def view_file(self, stem: str) -> Path:
        return self.view_dir / f"{safe_name(stem)}.json"

    @property
    def job_log(self) -> Path:
        """A local Job's combined output (the local launcher's stand-in for pod logs)."""
        return self.root / "job.log"

    @property
    def engine_log(self) -> Path:
        return self.root / "engine.log"

    def input_audio(self, stem: str) -> Path:
        return self.input_dir / f"{safe_name(stem)}.wav"

    def input_textgrid(self, stem: str) -> Path:
        return self.input_dir / f"{safe_name(stem)}.TextGrid"

    def unzipped_dir(self, zip_name: str) -> Path:
        """Where upload/<zip_name> is extracted (rebuilt on every run of the upload worker)."""
        return self.upload_dir / f"{safe_name(zip_name)}.unzipped"

    def upload_file(self, name: str) -> Path:
        return self.upload_dir / safe_name(name)

    def output_textgrid(self, stem: str) -> Path:
        return self.output_dir / f"{safe_name(stem)}.TextGrid"


class Storage:
    """The storage root: creates, finds and removes task folders."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    @property
    def tasks_dir(self) -> Path:
        return self.root / "tasks"

    def task(self, task_id: str) -> TaskPaths:
        if not TASK_ID_RE.match(task_id):
            raise ValueError(f"not a task id: {task_id!r}")
        return TaskPaths(self.tasks_dir / task_id)

    def create_task_dir(self, task_id: str) -> TaskPaths:
        paths = self.task(task_id)
        paths.upload_dir.mkdir(parents=True, exist_ok=False)
        return paths

    def open_for_reading(self, path: Path) -> BinaryIO:
        """Open a regular file under the root for reading without following a symbolic link
        anywhere below the root. Task folders are written by Jobs: a link planted there must
        not make another process (the API) serve a file from elsewhere, such as its own
        /proc/self/environ. Raises OSError (FileNotFoundError when it does not exist)."""
        relative = path.relative_to(self.root)
        if not relative.parts:
            raise IsADirectoryError(errno.EISDIR, "the storage root", str(path))
        folder = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for part in relative.parts[:-1]:
                inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
                os.close(folder)
                folder = inner
            fd = os.open(relative.parts[-1], os.O_RDONLY | os.O_NOFOLLOW, dir_fd=folder)
        finally:
            os.close(folder)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return os.fdopen(fd, "rb")

    def remove_task_dir(self, task_id: str) -> None:
        shutil.rmtree(self.task(task_id).root, ignore_errors=True)

    def remove_audio(self, task_id: str) -> None:
        """Delete the recordings (uploaded and converted), keeping transcripts and results."""
        paths = self.task(task_id)
        shutil.rmtree(paths.upload_dir, ignore_errors=True)
        if paths.input_dir.exists():
            for wav in paths.input_dir.glob("*.wav"):
                wav.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a reader sees either nothing or the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8"))


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
