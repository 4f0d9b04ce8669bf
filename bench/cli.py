"""The ``python -m bench`` command: runs the figure modules, prints JSON lines, then a table."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from bench.databases import PostgresServer
from bench.env import PG_ADMIN_URL, SAMPLES, BenchEnv
from bench.report import Figure, emit, table

# Figure modules, in the order they run; each has ``run(env) -> Iterator[Figure]``.
MODULES: dict[str, str] = {
    "pickup": "bench.pickup",
    "idle": "bench.idle",
    "throughput": "bench.throughput",
    "e2e": "bench.pipeline",
    "engine": "bench.engine",
    "memory": "bench.memory",
    "upload": "bench.upload",
    "views": "bench.views",
    "accuracy": "bench.accuracy",
    "scale": "bench.scale",
}

Runner = Callable[[BenchEnv], Iterator[Figure]]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("BENCH_QUICK", "") not in ("", "0"),
        help="tiny sizes (what the test runs); also BENCH_QUICK=1",
    )
    parser.add_argument(
        "--only", default="", help=f"comma-separated subset of: {', '.join(MODULES)}"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    return parser.parse_args(argv)


def _load(name: str) -> Runner:
    runner: Runner = importlib.import_module(MODULES[name]).run
    return runner


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    selected = [n.strip() for n in args.only.split(",") if n.strip()] or list(MODULES)
    unknown = sorted(set(selected) - set(MODULES))
    if unknown:
        print(f"unknown figure module(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    # The components' INFO lines would drown the figures; warnings still show on stderr.
    logging.getLogger("autophon").setLevel(logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="autophon-bench-"))
    server = PostgresServer(PG_ADMIN_URL)
    env = BenchEnv(quick=args.quick, workdir=workdir, pg=server, samples=SAMPLES)
    figures: list[Figure] = []
    failed: list[str] = []
    began = time.monotonic()
    try:
        for name in selected:
            started = time.monotonic()
            print(f"# {name}: running", file=sys.stderr, flush=True)
            try:
                for figure in _load(name)(env):
                    figures.append(figure)
                    emit(figure, sys.stdout)
            except Exception:
                failed.append(name)
                traceback.print_exc()
            print(f"# {name}: {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    finally:
        server.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(table(figures))
    print(
        f"\n{len(figures)} figures in {time.monotonic() - began:.0f} s"
        f"{' (quick)' if args.quick else ''}" + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0
