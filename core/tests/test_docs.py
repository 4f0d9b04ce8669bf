"""The configuration reference documents every key the config file accepts."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from autophon_core.config import Settings

DOC = Path(__file__).parents[2] / "docs" / "configuration.md"


def keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    found = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if (
            isinstance(annotation, type)
            and issubclass(annotation, BaseModel)
            and name != "languages"
        ):
            found += keys(annotation, f"{prefix}{name}.")
        else:
            found.append(f"{prefix}{name}")
    return found


def documented(key: str, lines: list[str]) -> bool:
    """In a table row as `key`, or in a shared row `prefix.first` / `last`."""
    prefix, _, last = key.rpartition(".")
    return any(
        f"`{key}`" in line or (f"`{prefix}." in line and f"`{last}`" in line)
        for line in lines
        if line.startswith("| `")
    )


def test_every_config_key_is_documented() -> None:
    lines = DOC.read_text(encoding="utf-8").splitlines()
    assert [key for key in keys(Settings) if not documented(key, lines)] == []
