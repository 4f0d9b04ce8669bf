from __future__ import annotations

from pathlib import Path

import pytest

from autophon_cli.main import build_parser, main

COMMANDS = {"api", "upload-worker", "controller", "run-task", "local", "migrate"}


def test_every_design_command_exists() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert set(subparsers.choices) == COMMANDS  # type: ignore[attr-defined]


def test_invalid_config_is_reported_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "autophon.yaml"
    config.write_text("queue:\n  lease_secnds: 3\n")
    assert main(["--config", str(config), "migrate"]) == 2
    error = capsys.readouterr().err
    assert "invalid config file" in error and "lease_secnds" in error
    assert main(["--config", str(tmp_path / "missing.yaml"), "migrate"]) == 2


def test_migrate_then_check(sqlite_url: str, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"database:\n  url: {sqlite_url}\nlogging:\n  format: text\n")
    assert main(["--config", str(config), "migrate"]) == 0
    assert main(["--config", str(config), "migrate", "--check"]) == 0
