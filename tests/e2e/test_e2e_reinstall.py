"""Uninstall, then install again (last: it replaces the session's release): the bundled
PostgreSQL's data and its password outlive the uninstall, and the new release works."""

from __future__ import annotations

import time
from pathlib import Path

import helm_python as helm
import pytest

from .conftest import api_client, install_release
from .e2e_support import ALIGNER_SELECTOR, RELEASE, Kube, Timings, wait_for
from .test_e2e_alignment import follow_events, upload

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]


def test_uninstall_then_install_again(
    release: str, kube: Kube, helm_config: helm.Config, timings: Timings, samples: Path
) -> None:
    with api_client(kube) as client:
        before = client.get("/api/v1/tasks", params={"limit": 200}).json()["tasks"]
    assert before, "the earlier tests left no task"

    helm_config.uninstall(release, timeout=300)
    # The release's own pods; alignment Jobs are the controller's, not the release's.
    selector = (
        f"app.kubernetes.io/instance={RELEASE},"
        "app.kubernetes.io/component in (api,upload-worker,controller,database,migrate)"
    )
    wait_for(
        "the release's pods to go",
        lambda: not kube.core.list_namespaced_pod(kube.namespace, label_selector=selector).items,
        300,
    )
    # The pre-delete hook removed the alignment Jobs (kept ones too), so nothing holds the
    # shared claim: it goes, instead of staying Terminating under the next install.
    assert not kube.batch.list_namespaced_job(kube.namespace, label_selector=ALIGNER_SELECTOR).items
    wait_for(
        "the shared claim to go",
        lambda: (
            f"{RELEASE}-data"
            not in {
                c.metadata.name
                for c in kube.core.list_namespaced_persistent_volume_claim(kube.namespace).items
            }
        ),
        120,
    )
    # What outlives it: the database's claim, and the password its data was created with.
    kube.core.read_namespaced_persistent_volume_claim(
        f"data-{RELEASE}-postgresql-0", kube.namespace
    )
    kube.core.read_namespaced_secret(f"{RELEASE}-db", kube.namespace)

    install_release(kube, helm_config, timings, "install again after uninstall")
    with api_client(kube) as client:
        # The same database: the earlier tasks are still there.
        after = {
            t["id"] for t in client.get("/api/v1/tasks", params={"limit": 200}).json()["tasks"]
        }
        assert {t["id"] for t in before} <= after
        started = time.monotonic()
        task_id = upload(client, samples, stem="fox-again")
        statuses = follow_events(client, task_id)
        timings.record("fox after re-install: POST to completed", time.monotonic() - started)
        assert statuses[-1] == "completed", client.get(f"/api/v1/tasks/{task_id}").json()
