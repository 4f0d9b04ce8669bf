"""Talking to a running API: uploading a recording with its transcript, following a task's
Server-Sent Events to its final state."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

FINAL = {"completed", "failed", "cancelled", "expired"}


@dataclass
class Followed:
    status: str
    # (status, time.monotonic() when the event arrived, the event's own "at" timestamp)
    events: list[tuple[str, float, str]] = field(default_factory=list)
    task: dict[str, Any] = field(default_factory=dict)


def upload(client: httpx.Client, base: str, wav: Path, transcript: str, stem: str) -> str:
    """POST the recording and its transcript; returns the task id."""
    with wav.open("rb") as audio:
        response = client.post(
            f"{base}/api/v1/tasks",
            files=[
                ("files", (f"{stem}.wav", audio, "audio/wav")),
                ("files", (f"{stem}.txt", transcript.encode(), "text/plain")),
            ],
            timeout=120,
        )
    if response.status_code != 202:
        raise RuntimeError(f"upload refused: {response.status_code} {response.text}")
    task_id: str = response.json()["id"]
    return task_id


def follow(client: httpx.Client, base: str, task_id: str, timeout: float = 300.0) -> Followed:
    """Read the task's event stream until a final state (when each event arrived)."""
    followed = Followed(status="")
    with client.stream(
        "GET", f"{base}/api/v1/tasks/{task_id}/events", timeout=httpx.Timeout(timeout)
    ) as stream:
        kind = ""
        for line in stream.iter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            if not line.startswith("data:") or kind != "status":  # progress events too
                continue
            data = json.loads(line[5:])
            followed.events.append((data["status"], time.monotonic(), data["at"]))
            followed.status = data["status"]
            followed.task = data.get("task") or {}
            if data["status"] in FINAL:
                break
    return followed
