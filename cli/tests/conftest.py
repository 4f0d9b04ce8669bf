"""Fixtures of the command-line tests: ``autophon local`` running as a real server."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server_config() -> dict[str, dict[str, Any]]:
    """Settings a test module adds to its server's (override this fixture)."""
    return {}


@pytest.fixture
def server(db_url: str, tmp_path: Path, server_config: dict[str, dict[str, Any]]) -> Iterator[str]:
    """``autophon local`` on a free port, stopped (and checked to stop cleanly) afterwards."""
    port = free_port()
    settings: dict[str, dict[str, Any]] = {
        "database": {"url": db_url},
        "storage": {"root": str(tmp_path / "data")},
        "api": {"host": "127.0.0.1", "port": port},
        "queue": {"shutdown_grace_seconds": 10},
    }
    for section, values in server_config.items():
        settings.setdefault(section, {}).update(values)
    config = tmp_path / "autophon.yaml"
    config.write_text(yaml.safe_dump(settings))
    process = subprocess.Popen(
        [sys.executable, "-m", "autophon_cli", "--config", str(config), "local"],
        stdout=open(tmp_path / "local.log", "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, (tmp_path / "local.log").read_text()
            assert time.monotonic() < deadline, "autophon local did not start"
            time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 0, (tmp_path / "local.log").read_text()[-3000:]
    log_lines = (tmp_path / "local.log").read_text().splitlines()
    records = [json.loads(line) for line in log_lines if line.startswith("{")]
    assert any(r.get("event") == "worker stopped" for r in records)
