"""Figures: one JSON object per line, and a table for people."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO


@dataclass(frozen=True)
class Figure:
    """One measured figure. ``baseline`` is what ``value`` is compared with (the original
    workers' behaviour, one worker, the idle state...); ``ratio`` is value / baseline."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    # A target in words ("< 20 ms") and whether this run met it; None when there is none.
    target: str | None = None
    target_met: bool | None = None
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    def as_json(self) -> dict[str, Any]:
        ratio = self.ratio
        data: dict[str, Any] = {
            "name": self.name,
            "value": _round(self.value),
            "unit": self.unit,
            "baseline": None if self.baseline is None else _round(self.baseline),
            "ratio": None if ratio is None else _round(ratio),
        }
        if self.target is not None:
            data["target"] = self.target
            data["target_met"] = self.target_met
        data.update({k: _round(v) if isinstance(v, float) else v for k, v in self.context.items()})
        return data


def _round(value: float) -> float:
    if not math.isfinite(value) or value == 0:
        return value
    digits = max(0, 4 - math.floor(math.log10(abs(value))))
    return round(value, digits)


def emit(figure: Figure, out: TextIO) -> None:
    out.write(json.dumps(figure.as_json(), ensure_ascii=False) + "\n")
    out.flush()


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{_round(value):g}"


def table(figures: Sequence[Figure]) -> str:
    """A fixed-width table of the figures, for the end of the output."""
    rows = [("figure", "value", "unit", "baseline", "ratio", "target")]
    for f in figures:
        verdict = "" if f.target_met is None else (" (met)" if f.target_met else " (MISSED)")
        target = f"{f.target}{verdict}" if f.target else ""
        rows.append((f.name, _cell(f.value), f.unit, _cell(f.baseline), _cell(f.ratio), target))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for number, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), interpolating linearly between ranks (as numpy)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
