"""Runs FAVE 2's ``fave-align`` (PyPI ``fave`` 2.0.2) in this Python, with the fixes it needs.

Run as ``python -m autophon_align.engines.fave_compat [fave-align arguments]``; the FAVE
adapter (engines/fave.py) does this by default. FAVE's own code runs unchanged except for
three in-process patches (line numbers of FAVE v2.0.2, equal to the 2.0.2 wheel):

- ``open(..., 'rU')`` (``fave/align/aligner.py:589``, ``fave/praat.py:68,188,266,340,452``):
  the "U" mode was removed in Python 3.11 (``ValueError: invalid mode: 'rU'`` on every
  chunk). Those two modules get an ``open`` that drops the "U"; universal newlines are the
  default of text mode anyway.
- sox, HCopy and HVite run through ``os.system`` and their exit status is ignored
  (``aligner.py:346,485-486,533``): a failure surfaces later as an IndexError on an empty
  label file. Here each failing command is logged with its exit status; a command that does
  not exist (status 127/126) stops the run, since no chunk can succeed without it.
- One chunk that cannot be aligned raises out of ``Aligner.align``'s loop
  (``aligner.py:175,222-247``) and loses the whole file. Here a failed chunk is logged
  ("autophon: chunk ... not aligned: ...") and replaced by an empty chunk TextGrid
  (``sp`` only), so the other chunks are kept; the runner warns about the utterance.
"""

from __future__ import annotations

import builtins
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

# Exit status of sh when the program does not exist (127) or cannot be executed (126).
NOT_FOUND_STATUSES = frozenset({126, 127})


class ToolMissing(SystemExit):
    """A tool FAVE needs for every chunk is missing: nothing can be aligned."""


def open_without_u(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
    """``open`` that accepts Python 2's "rU" mode (text mode reads universal newlines)."""
    return builtins.open(file, mode.replace("U", ""), *args, **kwargs)


class CheckedSystem:
    """``os.system`` for FAVE's aligner module: runs the command like ``os.system`` does and
    remembers failures, which the chunk wrapper turns into a skipped chunk."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def __call__(self, command: str) -> int:
        status = subprocess.run(command, shell=True, check=False).returncode
        if status:
            program = command.split()[0] if command.split() else command
            message = f"{program} exited with status {status}"
            print(f"autophon: {message}: {command}", file=sys.stderr, flush=True)
            if status in NOT_FOUND_STATUSES:
                raise ToolMissing(f"autophon: {program} cannot be run (status {status}).")
            self.failures.append(message)
        # os.system's wait status (FAVE ignores it).
        return status << 8 if status >= 0 else -status

    def take_failures(self) -> list[str]:
        failures, self.failures = self.failures, []
        return failures


def tolerate_failed_chunks(
    align_chunk: Callable[..., None], system: CheckedSystem, praat: Any
) -> Callable[..., None]:
    """Wrap ``Aligner.__align`` (one chunk): on failure, log it and leave an empty chunk
    TextGrid where FAVE reads the chunk's result, so ``Aligner.align`` goes on."""

    def align_or_skip(
        aligner: Any, chunk: str, trs_input: Sequence[Any], outfile: str, *args: Any
    ) -> None:
        reason = ""
        try:
            align_chunk(aligner, chunk, trs_input, outfile, *args)
        except Exception as exc:  # FAVE raises bare IndexError/ValueError/OSError here
            reason = f"{type(exc).__name__}: {exc}"
        failures = system.take_failures()
        if not reason and not failures:
            return
        reasons = "; ".join([*failures, *([reason] if reason else [])])
        print(
            f"autophon: chunk {os.path.basename(chunk)} not aligned: {reasons}",
            file=sys.stderr,
            flush=True,
        )
        _write_empty_chunk(praat, outfile)
        if not os.path.exists(chunk):  # sox could not cut it; FAVE removes it (aligner.py:247)
            builtins.open(chunk, "wb").close()

    return align_or_skip


def _write_empty_chunk(praat: Any, path: str) -> None:
    """A chunk TextGrid as ``__aligned_to_TextGrid`` writes it, holding only silence."""
    grid = praat.TextGrid()
    for name in ("phone", "word"):
        tier = praat.IntervalTier(name, 0, 0.0125)
        tier.append(praat.Interval(0, 0.0125, "sp"))
        grid.append(tier)
    grid.write(path)


def fave_version() -> str:
    try:
        return package_version("fave")
    except PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str]) -> None:
    if list(argv) == ["--version"]:
        # FAAValign's own --version prints its __version__, "2.0.0", in the 2.0.2 package.
        print(f"fave {fave_version()}")
        return
    from fave import praat
    from fave.align import aligner
    from fave.FAAValign import setup

    aligner.open = open_without_u  # type: ignore[attr-defined]
    praat.open = open_without_u  # type: ignore[attr-defined]
    system = CheckedSystem()
    os.system = system  # type: ignore[assignment]
    chunk = aligner.Aligner._Aligner__align  # type: ignore[attr-defined]
    aligner.Aligner._Aligner__align = tolerate_failed_chunks(chunk, system, praat)  # type: ignore[attr-defined]
    sys.argv = ["fave-align", *argv]
    setup()


if __name__ == "__main__":
    main(sys.argv[1:])
