"""Upload → alignment Job → TextGrid on a real cluster, through the Helm chart.

One recording (fox.wav + fox.txt) goes through the API; the tests then look at what happened
in the cluster: the Job and its garbage collection, the controller's log and metrics, and a
controller killed while a task is aligning.
"""

from __future__ import annotations

import io
import json
import re
import time
import wave
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import httpx
import pytest
from praatio import textgrid

from .e2e_support import (
    CONTROLLER,
    JOB_TTL_SECONDS,
    JobRecorder,
    Kube,
    Timings,
    port_forward,
    server_minor,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

FINAL = {"completed", "failed", "cancelled", "expired"}


@dataclass(frozen=True)
class Aligned:
    task_id: str
    statuses: list[str]
    task: dict[str, Any]
    result: bytes


def upload(api: httpx.Client, samples: Path, stem: str = "fox") -> str:
    files = [
        ("files", (f"{stem}.wav", (samples / "fox.wav").read_bytes(), "audio/wav")),
        ("files", (f"{stem}.txt", (samples / "fox.txt").read_bytes(), "text/plain")),
    ]
    response = api.post("/api/v1/tasks", files=files)
    assert response.status_code == 202, response.text
    task_id: str = response.json()["id"]
    assert re.fullmatch(r"[0-9a-f]{32}", task_id), task_id
    return task_id


def follow_events(api: httpx.Client, task_id: str, timeout: float = 600) -> list[str]:
    """The statuses of /events (Server-Sent Events) until the stream closes after a final one."""
    statuses: list[str] = []
    with api.stream(
        "GET",
        f"/api/v1/tasks/{task_id}/events",
        timeout=httpx.Timeout(30, read=timeout),
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = ""
        for line in response.iter_lines():
            if line.startswith("event:"):
                kind = line.removeprefix("event:").strip()
            elif line.startswith("data:") and kind == "status":  # not "progress"
                data = json.loads(line.removeprefix("data:").strip())
                statuses.append(data["status"])
                if data["status"] in FINAL:
                    break
    return statuses


@pytest.fixture(scope="module")
def aligned(api: httpx.Client, samples: Path, timings: Timings) -> Aligned:
    started = time.monotonic()
    task_id = upload(api, samples)
    statuses = follow_events(api, task_id)
    timings.record("fox: POST to completed", time.monotonic() - started)
    task = api.get(f"/api/v1/tasks/{task_id}").json()
    result = api.get(f"/api/v1/tasks/{task_id}/result")
    assert result.status_code == 200, f"{task}: {result.text}"
    assert result.headers["content-type"] == "application/zip"
    return Aligned(task_id, statuses, task, result.content)


def test_upload_is_aligned_into_a_textgrid(aligned: Aligned, samples: Path, tmp_path: Path) -> None:
    assert aligned.statuses[-1] == "completed", aligned.task
    assert aligned.statuses.count("completed") == 1
    assert "processing" in aligned.statuses
    assert aligned.task["status"] == "completed" and aligned.task["error"] is None

    archive = zipfile.ZipFile(io.BytesIO(aligned.result))
    names = set(archive.namelist())
    assert {"fox.TextGrid", "missing_words.txt", "README.txt"} <= names, names
    path = tmp_path / "fox.TextGrid"
    path.write_bytes(archive.read("fox.TextGrid"))
    grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    assert set(grid.tierNames) >= {"words", "phones"}
    words = [entry.label.lower() for entry in grid.getTier("words").entries if entry.label]
    transcript = re.findall(r"[a-z']+", (samples / "fox.txt").read_text().lower())
    assert words == transcript
    with wave.open(str(samples / "fox.wav")) as audio:
        duration = audio.getnframes() / audio.getframerate()
    assert abs(grid.maxTimestamp - duration) < 0.05


def _log_lines(kube: Kube, selector: str, container: str | None = None) -> list[dict[str, Any]]:
    """The JSON log lines of the pods ``selector`` picks (what ``kubectl logs`` shows)."""
    lines: list[dict[str, Any]] = []
    for pod in kube.core.list_namespaced_pod(kube.namespace, label_selector=selector).items:
        text = kube.core.read_namespaced_pod_log(
            pod.metadata.name, kube.namespace, container=container
        )
        lines += [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return lines


def test_the_api_logs_the_upload(aligned: Aligned, kube: Kube) -> None:
    """``kubectl logs deploy/autophon-api`` shows the task, as JSON without ANSI escapes."""
    lines = _log_lines(kube, "app.kubernetes.io/component=api")
    uploads = [line for line in lines if line.get("event") == "task uploaded"]
    assert [line["task_id"] for line in uploads].count(aligned.task_id) == 1, uploads
    assert not [line for line in lines if "color_message" in line]


def test_a_finished_jobs_log_can_be_read(aligned: Aligned, kube: Kube) -> None:
    """The Job stays after its outcome is recorded (ttl_seconds_after_finished), so
    ``kubectl logs job/align-<task>`` works."""
    lines = _log_lines(kube, f"autophon.io/task-id={aligned.task_id}", container="runner")
    assert any(line.get("event") == "task completed" for line in lines), lines


def test_the_alignment_job_is_locked_down_and_garbage_collected(
    aligned: Aligned, jobs: JobRecorder, kube: Kube
) -> None:
    seen = jobs.jobs(aligned.task_id)
    assert seen, "no alignment Job was seen for the task"
    job = seen[0]
    assert job["metadata"]["name"] == f"align-{aligned.task_id}"
    labels = job["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "autophon"
    assert labels["app.kubernetes.io/component"] == "aligner"
    assert labels["autophon.io/task-id"] == aligned.task_id
    if server_minor() >= 21:
        assert job["spec"]["ttlSecondsAfterFinished"] == JOB_TTL_SECONDS
    else:  # not served: left out, and the controller deletes the Job itself after the TTL
        assert "ttlSecondsAfterFinished" not in job["spec"]

    pod = job["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    claims = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert [c["persistentVolumeClaim"]["claimName"] for c in claims] == ["autophon-data"]
    scratch = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    writable = [
        m["name"]
        for m in container["volumeMounts"]
        if not m.get("readOnly") and m["name"] not in scratch
    ]
    assert writable == [claims[0]["name"]], "only the shared volume may be mounted read-write"
    # The runner never touches the database: no secrets in its environment.
    assert all("valueFrom" not in e for e in container.get("env") or [])

    # After the TTL the Job and then its pods disappear.
    wait_for("the Job's garbage collection", lambda: jobs.deleted(aligned.task_id), 300)
    task_pods = f"autophon.io/task-id={aligned.task_id}"
    wait_for(
        "the Job's pods to go",
        lambda: not kube.core.list_namespaced_pod(kube.namespace, label_selector=task_pods).items,
        120,
    )


def test_controller_logs_are_json_lines(aligned: Aligned, kube: Kube) -> None:
    pods = kube.core.list_namespaced_pod(
        kube.namespace, label_selector="app.kubernetes.io/component=controller"
    ).items
    assert pods
    lines = [
        line
        for pod in pods
        for line in kube.core.read_namespaced_pod_log(
            pod.metadata.name, kube.namespace
        ).splitlines()
        if line.strip()
    ]
    assert lines, "the controller logged nothing"
    for line in lines:
        record = json.loads(line)
        assert isinstance(record, dict), line
    assert any(aligned.task_id in line for line in lines), "the task is never mentioned"


def _sample(metrics: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in metrics.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    raise AssertionError(f"no sample {name}{{{wanted}}}")


def test_metrics_count_the_claims(aligned: Aligned, kube: Kube, api: httpx.Client) -> None:
    with port_forward(kube.namespace, f"svc/{CONTROLLER}-metrics", 9101) as url:
        controller = httpx.get(f"{url}/metrics", timeout=10).text
    assert _sample(controller, "autophon_tasks_claimed_total", stage="align") >= 1
    with port_forward(kube.namespace, "svc/autophon-upload-worker-metrics", 9100) as url:
        worker = httpx.get(f"{url}/metrics", timeout=10).text
    assert _sample(worker, "autophon_tasks_claimed_total", stage="upload") >= 1
    # The queue-depth gauge (what the upload worker's HPA can follow) counts the finished task.
    api_metrics = api.get("/metrics").text
    assert "autophon_tasks" in api_metrics
    counts = []
    for text in (api_metrics, controller, worker):
        try:
            counts.append(_sample(text, "autophon_tasks", status="completed"))
        except AssertionError:
            continue
    assert counts and max(counts) >= 1, "no process reports autophon_tasks{status=completed}"


def test_helm_test_passes(release: str, kube: Kube) -> None:
    with helm.Config(namespace=kube.namespace) as config:
        config.test(release, timeout=300)


def test_controller_killed_mid_task_completes_exactly_once(
    api: httpx.Client, samples: Path, jobs: JobRecorder, kube: Kube, timings: Timings
) -> None:
    started = time.monotonic()
    task_id = upload(api, samples, stem="fox-restart")
    wait_for("the task's alignment Job", lambda: jobs.jobs(task_id), 300, interval=0.5)
    status = api.get(f"/api/v1/tasks/{task_id}").json()["status"]
    assert status not in FINAL, "the alignment finished before the controller could be killed"

    selector = "app.kubernetes.io/component=controller"
    controllers = kube.core.list_namespaced_pod(kube.namespace, label_selector=selector)
    old = {pod.metadata.name for pod in controllers.items}
    assert old
    for name in old:
        kube.core.delete_namespaced_pod(name, kube.namespace, grace_period_seconds=0)

    def new_controller_ready() -> bool:
        for pod in kube.core.list_namespaced_pod(kube.namespace, label_selector=selector).items:
            if pod.metadata.name in old or not pod.status.container_statuses:
                continue
            if all(c.ready for c in pod.status.container_statuses):
                return True
        return False

    wait_for("a new controller pod", new_controller_ready, 300)
    statuses = follow_events(api, task_id)
    assert statuses[-1] == "completed", api.get(f"/api/v1/tasks/{task_id}").json()
    assert statuses.count("completed") == 1
    timings.record("fox, controller killed: POST to completed", time.monotonic() - started)
    # Adopted, not recreated: one Job (one uid) for the task, ever.
    time.sleep(5)
    assert len(jobs.uids(task_id)) == 1, jobs.uids(task_id)
    result = api.get(f"/api/v1/tasks/{task_id}/result")
    assert result.status_code == 200
    assert "fox-restart.TextGrid" in zipfile.ZipFile(io.BytesIO(result.content)).namelist()
