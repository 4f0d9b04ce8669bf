"""More of what users and operators do on a real cluster: a two-speaker recording with a
TextGrid transcript, an alignment pod killed mid-task, and a cancelled task."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from praatio import textgrid

from .e2e_support import JobRecorder, Kube, Timings, wait_for
from .test_e2e_alignment import FINAL, follow_events, upload

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

DIALOGUE = "dialogue_44k_stereo"


def test_dialogue_is_aligned_per_speaker(
    api: httpx.Client, samples: Path, timings: Timings, tmp_path: Path
) -> None:
    files = [
        ("files", (f"{DIALOGUE}.wav", (samples / f"{DIALOGUE}.wav").read_bytes(), "audio/wav")),
        ("files", (f"{DIALOGUE}.TextGrid", (samples / f"{DIALOGUE}.TextGrid").read_bytes())),
    ]
    started = time.monotonic()
    response = api.post("/api/v1/tasks", files=files)
    assert response.status_code == 202, response.text
    task_id = response.json()["id"]
    statuses = follow_events(api, task_id)
    timings.record("dialogue: POST to completed", time.monotonic() - started)
    assert statuses[-1] == "completed", api.get(f"/api/v1/tasks/{task_id}").json()
    result = api.get(f"/api/v1/tasks/{task_id}/result")
    assert result.status_code == 200
    path = tmp_path / f"{DIALOGUE}.TextGrid"
    path.write_bytes(zipfile.ZipFile(io.BytesIO(result.content)).read(path.name))
    grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    assert grid.tierNames == (
        "Speaker A - words",
        "Speaker A - phones",
        "Speaker B - words",
        "Speaker B - phones",
    )
    words = [e.label for e in grid.getTier("Speaker B - words").entries]
    assert words == ["peter", "piper", "picked", "a", "peck", "of", "pickled", "peppers"]


def _runner_pods(kube: Kube, task_id: str) -> list[str]:
    pods = kube.core.list_namespaced_pod(
        kube.namespace, label_selector=f"autophon.io/task-id={task_id}"
    ).items
    return [p.metadata.name for p in pods if p.status.phase == "Running"]


def test_alignment_pod_killed_mid_task_completes_exactly_once(
    api: httpx.Client, samples: Path, jobs: JobRecorder, kube: Kube, timings: Timings
) -> None:
    started = time.monotonic()
    task_id = upload(api, samples, stem="fox-podkill")
    (pod,) = wait_for("the runner's pod", lambda: _runner_pods(kube, task_id), 300, interval=0.2)
    status = api.get(f"/api/v1/tasks/{task_id}").json()["status"]
    assert status not in FINAL, "the alignment finished before its pod could be killed"
    kube.core.delete_namespaced_pod(pod, kube.namespace, grace_period_seconds=0)
    statuses = follow_events(api, task_id)
    timings.record("fox, Job pod killed: POST to completed", time.monotonic() - started)
    assert statuses[-1] == "completed", api.get(f"/api/v1/tasks/{task_id}").json()
    assert statuses.count("completed") == 1
    result = api.get(f"/api/v1/tasks/{task_id}/result")
    names = zipfile.ZipFile(io.BytesIO(result.content)).namelist()
    assert "fox-podkill.TextGrid" in names
    timings.notes["Job pod killed"] = f"{len(jobs.uids(task_id))} Job(s) for the task"


def test_cancel_deletes_the_job(
    api: httpx.Client, samples: Path, jobs: JobRecorder, kube: Kube
) -> None:
    task_id = upload(api, samples, stem="fox-cancel")
    wait_for("the task's alignment Job", lambda: jobs.jobs(task_id), 300, interval=0.2)
    response = api.delete(f"/api/v1/tasks/{task_id}")
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "cancelled"
    wait_for("the cancelled task's Job deleted", lambda: jobs.deleted(task_id), 120, interval=0.5)
    wait_for("its pods gone", lambda: not _runner_pods(kube, task_id), 120)
    assert api.get(f"/api/v1/tasks/{task_id}").json()["status"] == "cancelled"
    api_logs = [
        json.loads(line)
        for pod in kube.core.list_namespaced_pod(
            kube.namespace, label_selector="app.kubernetes.io/component=api"
        ).items
        for line in kube.core.read_namespaced_pod_log(
            pod.metadata.name, kube.namespace
        ).splitlines()
        if line.startswith("{")
    ]
    assert any(
        line.get("event") == "task cancelled" and line.get("task_id") == task_id
        for line in api_logs
    )
