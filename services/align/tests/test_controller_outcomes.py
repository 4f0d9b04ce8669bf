"""The controller's decisions from a finished Job: pure functions."""

from __future__ import annotations

import pytest

from autophon_align.launchers.base import JobPhase, JobStatus
from autophon_align.outcomes import (
    Verdict,
    job_timeout,
    judge,
    reason_label,
    retry_delay,
)
from autophon_core.config import AlignmentConfig, ControllerConfig
from autophon_core.taskfiles import ExitCode, Manifest, ManifestFile, ResultFile, RunResult

TASK = "0" * 32
DONE = RunResult(
    status="completed",
    files=[
        ResultFile(name="a.wav", duration_s=1.5, words=4, missing_words=1, tiers=["words"]),
        ResultFile(name="b.wav", duration_s=2.0, words=6, missing_words=0, tiers=["A", "B"]),
    ],
)


def failed_job(
    reason: str, *, retryable: bool = False, message: str = "", exit_code: int | None = None
) -> JobStatus:
    return JobStatus(
        TASK,
        JobPhase.FAILED,
        exit_code=exit_code,
        reason=reason,
        retryable=retryable,
        message=message,
    )


def test_a_succeeded_job_with_a_completed_result_completes_with_its_figures() -> None:
    outcome = judge(JobStatus(TASK, JobPhase.SUCCEEDED, exit_code=0), DONE, None)
    assert outcome.verdict is Verdict.COMPLETE and outcome.figures is not None
    assert (outcome.figures.duration_s, outcome.figures.words) == (3.5, 10)
    assert outcome.figures.missing_words == 1
    assert [f.tiers for f in outcome.figures.files] == [["words"], ["A", "B"]]


def test_a_succeeded_job_without_a_result_fails() -> None:
    outcome = judge(JobStatus(TASK, JobPhase.SUCCEEDED), None, "no result.json was written")
    assert outcome.verdict is Verdict.FAIL and outcome.reason == "no_result"
    assert "no result.json was written" in (outcome.error or "")


def test_the_runners_error_wins_over_the_jobs_reason() -> None:
    result = RunResult(status="failed", error="fox.txt is empty.", exit_code=65)
    outcome = judge(failed_job("BadInput"), result, None)
    assert (outcome.verdict, outcome.error, outcome.reason) == (
        Verdict.FAIL,
        "fox.txt is empty.",
        "bad_input",
    )


def test_a_recording_beyond_the_aligners_limits_fails_with_the_runners_sentence() -> None:
    error = "The recording is too large for the aligner on long.wav: it is 31 minutes long..."
    result = RunResult(status="failed", error=error, exit_code=ExitCode.RESOURCE)
    job = failed_job("Resource", exit_code=71, message="The aligner exited with code 71.")
    outcome = judge(job, result, None)
    assert (outcome.verdict, outcome.error, outcome.reason) == (Verdict.FAIL, error, "resource")


def test_resource_failures_without_a_result_get_a_sentence_saying_what_to_do() -> None:
    outcome = judge(failed_job("Resource", exit_code=71), None, "no result.json was written")
    assert (outcome.verdict, outcome.reason) == (Verdict.FAIL, "resource")
    assert "too large for the aligner" in (outcome.error or "")
    assert "Split long recordings into shorter files" in (outcome.error or "")


def test_a_runner_reporting_a_resource_failure_is_labelled_resource() -> None:
    result = RunResult(status="failed", error="Too long.", exit_code=ExitCode.RESOURCE)
    outcome = judge(JobStatus(TASK, JobPhase.SUCCEEDED, exit_code=0), result, None)
    assert (outcome.verdict, outcome.error, outcome.reason) == (
        Verdict.FAIL,
        "Too long.",
        "resource",
    )


@pytest.mark.parametrize(
    ("reason", "message", "ran_out_of", "limit"),
    [
        ("OOMKilled", "It needed more than the Job's memory limit of 2Gi.", "memory", "memory"),
        (
            "StorageLimit",
            "It wrote more than the Job's storage limit. Container runner exceeded its local "
            'ephemeral storage limit "4Gi".',
            "scratch space",
            "ephemeral-storage",
        ),
    ],
)
def test_a_job_stopped_at_its_own_limits_fails_at_once_saying_what_to_do(
    reason: str, message: str, ran_out_of: str, limit: str
) -> None:
    job = failed_job(reason, exit_code=137, message=message)
    outcome = judge(job, None, "no result.json was written")
    assert (outcome.verdict, outcome.reason) == (Verdict.FAIL, "resource")
    error = outcome.error or ""
    assert error.startswith(f"The alignment ran out of {ran_out_of} and was stopped. {message}")
    assert "Split long recordings into shorter files" in error
    assert "TextGrids whose intervals mark the utterances" in error
    # What an administrator can do.
    assert f"the {limit} of config.controller.kubernetes.resources" in error
    assert "try again" not in error  # it would run out again


@pytest.mark.parametrize(
    ("reason", "exit_code"), [("Evicted", 137), ("PodLost", None), ("Killed", 137)]
)
def test_pods_killed_from_outside_are_still_retried(reason: str, exit_code: int | None) -> None:
    outcome = judge(failed_job(reason, retryable=True, exit_code=exit_code), None, "x")
    assert outcome.verdict is Verdict.RETRY and outcome.reason != "resource"


def test_a_stale_completed_result_does_not_hide_a_failure() -> None:
    outcome = judge(failed_job("DeadlineExceeded", message="limit 70 s"), DONE, None)
    assert outcome.verdict is Verdict.FAIL and "time limit" in (outcome.error or "")
    assert outcome.reason == "deadline_exceeded"


def test_retryable_failures_are_retried_with_their_cause() -> None:
    outcome = judge(failed_job("Evicted", retryable=True, message="node drained"), None, "x")
    assert (outcome.verdict, outcome.error) == (Verdict.RETRY, "Evicted: node drained")


@pytest.mark.parametrize(
    ("attempts", "delay"), [(0, 10.0), (1, 10.0), (2, 20.0), (4, 80.0), (7, 600.0), (500, 600.0)]
)
def test_retry_delay_doubles_per_attempt_up_to_the_cap(attempts: int, delay: float) -> None:
    config = ControllerConfig(retry_backoff_seconds=10, retry_backoff_max_seconds=600)
    assert retry_delay(config, attempts) == delay


def test_the_time_limit_grows_with_the_audio() -> None:
    config = AlignmentConfig(timeout_base_seconds=120, timeout_per_audio_second=5)
    files = [
        ManifestFile(
            stem=s,
            name=f"{s}.wav",
            transcript=f"{s}.txt",
            duration_s=d,
            words=1,
            missing_words=0,
            tiers=["words"],
            plain=True,
        )
        for s, d in (("a", 10.0), ("b", 0.1))
    ]
    manifest = Manifest(task_id=TASK, language="eng", engine="x", files=files, missing_words=[])
    assert job_timeout(config, manifest) == 171  # 120 + 5 * 10.1 = 170.5, rounded up


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        ("DeadlineExceeded", "deadline_exceeded"),
        ("BadInput", "bad_input"),
        ("Resource", "resource"),
        ("OOMKilled", "resource"),
        ("StorageLimit", "resource"),
        (None, "error"),
        ("Killed", "killed"),
    ],
)
def test_reason_labels(reason: str | None, label: str) -> None:
    assert reason_label(reason) == label
