"""What the controller decides from a finished Job: pure functions, no I/O but reading files.

The runner (``autophon run-task``) reports through two channels: its exit code (seen by the
launcher as a :class:`JobStatus`) and ``result.json`` in the task folder (a
:class:`RunResult`). :func:`judge` combines them into one :class:`Outcome`: complete the
task with its figures, fail it with a sentence a user can act on, or retry it later.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum

from pydantic import ValidationError

from autophon_align.launchers.base import JobPhase, JobStatus
from autophon_core.config import AlignmentConfig, ControllerConfig
from autophon_core.queue import FileFigures, TaskFigures
from autophon_core.storage import TaskPaths
from autophon_core.taskfiles import ExitCode, Manifest, RunResult


class Verdict(StrEnum):
    COMPLETE = "complete"
    FAIL = "fail"
    RETRY = "retry"


@dataclass(frozen=True, kw_only=True)
class Outcome:
    verdict: Verdict
    figures: TaskFigures | None = None
    # The user-readable error (FAIL), or the retry's cause (RETRY).
    error: str | None = None
    # Metrics label of a failure or retry ("bad_input", "resource", "deadline_exceeded",
    # "killed"...).
    reason: str | None = None


class ManifestError(Exception):
    """The task's input/manifest.json is missing or invalid: the task cannot be aligned."""


def job_timeout(config: AlignmentConfig, manifest: Manifest) -> int:
    """Whole-Job time limit: base + per audio second, rounded up to a whole second."""
    seconds = config.timeout_base_seconds + config.timeout_per_audio_second * manifest.duration_s
    return max(1, math.ceil(seconds))


def load_manifest(paths: TaskPaths) -> Manifest:
    try:
        return Manifest.load(paths)
    except FileNotFoundError as exc:
        raise ManifestError("input/manifest.json is missing") from exc
    except (OSError, ValueError, ValidationError) as exc:
        raise ManifestError(f"input/manifest.json is unreadable: {exc}") from exc


def read_result(paths: TaskPaths) -> tuple[RunResult | None, str | None]:
    """The runner's result, or None and why it could not be read."""
    try:
        return RunResult.load(paths), None
    except FileNotFoundError:
        return None, "no result.json was written"
    except (OSError, ValueError, ValidationError) as exc:
        return None, f"result.json is unreadable ({type(exc).__name__})"


def completed_result(paths: TaskPaths) -> RunResult | None:
    """The result of a run of this task that finished: result.json says "completed" and
    result.zip is there (the runner renames result.zip into place first and writes
    result.json last); None otherwise."""
    result, _ = read_result(paths)
    if result is None or result.status != "completed" or not paths.result_zip.is_file():
        return None
    return result


def figures_of(result: RunResult) -> TaskFigures:
    files = [
        FileFigures(
            name=f.name,
            duration_s=f.duration_s,
            words=f.words,
            missing_words=f.missing_words,
            tiers=list(f.tiers),
        )
        for f in result.files
    ]
    return TaskFigures(
        duration_s=sum(f.duration_s for f in result.files),
        words=sum(f.words for f in result.files),
        missing_words=sum(f.missing_words for f in result.files),
        files=files,
    )


def retry_delay(config: ControllerConfig, attempts: int) -> float:
    """Back-off before the next attempt: base * 2**(attempts-1), capped."""
    exponent = max(attempts - 1, 0)
    # Cap the exponent too, so a large attempt count cannot overflow the float.
    delay = config.retry_backoff_seconds * 2 ** min(exponent, 32)
    return float(min(delay, config.retry_backoff_max_seconds))


# Job reasons of input beyond what the aligner can hold: the runner's ExitCode.RESOURCE (a
# recording longer than the engine takes, an engine out of memory), a container killed at
# its memory limit and a pod evicted past its storage limit. None is retried; all count under
# one metrics label.
RESOURCE_REASONS = frozenset({"Resource", "OOMKilled", "StorageLimit"})
RESOURCE_LABEL = "resource"
# Metrics labels of the runner's exit codes, for a failure it reported itself.
_EXIT_CODE_LABELS: dict[int, str] = {
    ExitCode.BAD_INPUT: "bad_input",
    ExitCode.RESOURCE: RESOURCE_LABEL,
}


def reason_label(reason: str | None) -> str:
    """``DeadlineExceeded`` -> ``deadline_exceeded``; ``Resource``, ``OOMKilled`` and
    ``StorageLimit`` -> ``resource``."""
    if not reason:
        return "error"
    if reason in RESOURCE_REASONS:
        return RESOURCE_LABEL
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", reason).lower()


# Job reasons of a Job stopped at its own limits -> (what it ran out of, the resource name).
_OWN_LIMITS = {
    "OOMKilled": ("memory", "memory"),
    "StorageLimit": ("scratch space", "ephemeral-storage"),
}
_INTERNAL_ADVICE = "It has been logged; please try again, or report the task id if it persists."
_SPLIT_ADVICE = (
    "Split long recordings into shorter files, or upload TextGrids whose intervals mark the "
    "utterances (each is aligned on its own)."
)


def job_failure_sentence(job: JobStatus) -> str:
    """A sentence for a user from a failed Job's reason and message (no result.json)."""
    detail = f" ({job.message.rstrip('.')})" if job.message else ""
    if job.reason == "DeadlineExceeded":
        return (
            "The alignment took longer than its time limit and was stopped"
            f"{detail}. Try splitting long recordings into shorter files."
        )
    if job.reason == "BadInput" or job.exit_code == ExitCode.BAD_INPUT:
        return f"The aligner could not process these files{detail}. Please check them."
    if job.reason == "Resource" or job.exit_code == ExitCode.RESOURCE:
        return f"The recordings are too large for the aligner{detail}. {_SPLIT_ADVICE}"
    if job.reason in _OWN_LIMITS:
        what, limit = _OWN_LIMITS[job.reason]
        message = f" {job.message}" if job.message else ""
        return (
            f"The alignment ran out of {what} and was stopped.{message} {_SPLIT_ADVICE} An "
            f"administrator can give alignment Jobs more {what} (the {limit} of "
            "config.controller.kubernetes.resources in the Helm chart's values)."
        )
    return (
        f"The alignment stopped unexpectedly ({job.reason or 'Error'}){detail}. {_INTERNAL_ADVICE}"
    )


def judge(job: JobStatus, result: RunResult | None, problem: str | None) -> Outcome:
    """The outcome of a finished Job (``job.finished`` must be true)."""
    if job.phase is JobPhase.SUCCEEDED:
        if result is not None and result.status == "completed":
            return Outcome(verdict=Verdict.COMPLETE, figures=figures_of(result))
        if result is not None:
            return Outcome(
                verdict=Verdict.FAIL,
                error=result.error
                or "The aligner reported a failure without a reason. " + _INTERNAL_ADVICE,
                reason=_EXIT_CODE_LABELS.get(result.exit_code, "error"),
            )
        # Exit 0 without a usable result: never mark such a task completed.
        return Outcome(
            verdict=Verdict.FAIL,
            error=f"The aligner finished but produced no usable result ({problem}). "
            + _INTERNAL_ADVICE,
            reason="no_result",
        )
    if job.retryable:
        cause = job.reason or "Error"
        if job.message:
            cause = f"{cause}: {job.message}"
        return Outcome(verdict=Verdict.RETRY, error=cause, reason=reason_label(job.reason))
    error = (
        result.error
        if result is not None and result.status == "failed" and result.error
        else job_failure_sentence(job)
    )
    return Outcome(verdict=Verdict.FAIL, error=error, reason=reason_label(job.reason))


def attempts_exhausted_sentence(max_attempts: int, cause: str) -> str:
    """The error of a task whose last allowed attempt was interrupted (the same wording as
    ``TaskQueue.retry_later`` uses at the limit)."""
    return (
        f"The alignment was interrupted {max_attempts} times (last: {cause}); "
        "please try again later."
    )
