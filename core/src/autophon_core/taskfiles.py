"""The files through which the stages hand a task on, with no database in between.

- ``input/manifest.json`` (:class:`Manifest`): written by the upload worker, read by the runner.
- ``result.json`` (:class:`RunResult`): written by the runner (``autophon run-task``), read by
  the controller together with the Job's exit code.
- ``progress.json`` (:class:`Progress`): rewritten by the runner after each recording (and
  as the engine reports on one), read by the API while the task is processing.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from autophon_core.storage import TaskPaths, read_json, write_json


class ExitCode(IntEnum):
    """Exit codes of ``autophon run-task``, with the meanings of BSD's sysexits.h; the Job's
    podFailurePolicy fails the Job at once on BAD_INPUT and RESOURCE."""

    OK = 0
    # EX_DATAERR. The input can never be aligned (unreadable, empty alignment, timeout): do
    # not retry.
    BAD_INPUT = 65
    # A bug or an environment problem (EX_SOFTWARE): the controller may retry within the
    # attempt limit.
    INTERNAL = 70
    # The input is beyond what the aligner can hold: a recording longer than the engine takes,
    # or an engine that ran out of memory (EngineResourceError). Not retried: the same input
    # needs the same memory again. EX_OSERR, whose examples ("cannot fork", "cannot create
    # pipe") are the system refusing a resource, is the nearest sysexits.h meaning; 66 would
    # say EX_NOINPUT ("cannot open input") to whoever reads a pod's exit code.
    RESOURCE = 71


class ManifestFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Safe stem naming input/<stem>.wav and input/<stem>.TextGrid.
    stem: str
    # The recording's original file name; the result is "<original stem>.TextGrid".
    name: str
    transcript: str
    duration_s: float
    words: int
    missing_words: int
    # Speaker tier names of the normalised input TextGrid, in the input's order.
    tiers: list[str]
    # True for a plain-text transcript: output tiers are "words" and "phones".
    plain: bool


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_id: str
    language: str
    engine: str
    files: list[ManifestFile]
    # Words (normalised) not in the language's dictionary, over all files, sorted.
    missing_words: list[str]
    has_user_dict: bool = False
    # Things the upload worker changed or ignored (intervals cut, point tiers skipped...),
    # repeated in the result's README.
    warnings: list[str] = []

    @property
    def duration_s(self) -> float:
        return sum(f.duration_s for f in self.files)

    def save(self, paths: TaskPaths) -> None:
        write_json(paths.manifest, self.model_dump(mode="json"))

    @classmethod
    def load(cls, paths: TaskPaths) -> Manifest:
        return cls.model_validate(read_json(paths.manifest))


class ResultFile(BaseModel):
    name: str
    duration_s: float
    words: int
    missing_words: int
    tiers: list[str]


class RunResult(BaseModel):
    status: Literal["completed", "failed"]
    # A sentence the user can act on; None unless failed.
    error: str | None = None
    exit_code: int = ExitCode.OK
    engine: str = ""
    engine_version: str = ""
    files: list[ResultFile] = []
    warnings: list[str] = []
    # Seconds spent inside the engine (for the orchestration-overhead benchmark).
    engine_seconds: float = 0.0
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def save(self, paths: TaskPaths) -> None:
        write_json(paths.result_json, self.model_dump(mode="json"))

    @classmethod
    def load(cls, paths: TaskPaths) -> RunResult:
        return cls.model_validate(read_json(paths.result_json))


class Progress(BaseModel):
    """How far the runner got: recordings and seconds of audio aligned, of the task's total."""

    files_done: int
    files_total: int
    audio_seconds_done: float
    audio_seconds_total: float
    # When the first recording started aligning, and when this was written.
    started_at: datetime
    updated_at: datetime

    def save(self, paths: TaskPaths) -> None:
        write_json(paths.progress_json, self.model_dump(mode="json"))
