"""``autophon``: one CLI, a subcommand per process, all reading the same config file.

The composition root: it is the only package that imports both services.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from autophon_core.config import ConfigError, Settings, load_settings
from autophon_core.logs import configure_logging

log = logging.getLogger("autophon.cli")


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT (graceful shutdown: stop claiming, finish or hand
    back work, exit within the grace period)."""
    stop = threading.Event()

    def handler(signum: int, _frame: object) -> None:
        log.info("shutdown requested", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def cmd_api(settings: Settings, args: argparse.Namespace) -> int:
    from autophon_upload.main import serve

    serve(settings, host=args.host, port=args.port)
    return 0


def cmd_upload_worker(settings: Settings, args: argparse.Namespace) -> int:
    from autophon_core.runtime import Runtime
    from autophon_upload.worker import run_upload_worker

    runtime = Runtime.create(settings)
    try:
        run_upload_worker(runtime, stop_on_signals())
    finally:
        runtime.close()
    return 0


def cmd_controller(settings: Settings, args: argparse.Namespace) -> int:
    from autophon_align.controller import run_controller
    from autophon_core.runtime import Runtime

    runtime = Runtime.create(settings)
    try:
        run_controller(runtime, stop_on_signals(), config_path=args.config)
    finally:
        runtime.close()
    return 0


def cmd_run_task(settings: Settings, args: argparse.Namespace) -> int:
    from autophon_align.runner import run_task

    return run_task(args.task_id, settings)


def cmd_local(settings: Settings, args: argparse.Namespace) -> int:
    from autophon_cli.local import run_local

    return run_local(
        settings, stop_on_signals(), host=args.host, port=args.port, config_path=args.config
    )


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from autophon_core.db import make_engine
    from autophon_core.migrate import check, upgrade

    engine = make_engine(settings.database)
    try:
        if args.check:
            check(engine)
        else:
            upgrade(engine)
            log.info("database schema is up to date")
    finally:
        engine.dispose()
    return 0


Command = Callable[[Settings, argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autophon", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config",
        help="config file (default: $AUTOPHON_CONFIG, else ./autophon.yaml, else built-in "
        "local defaults)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(func=func)
        return sub

    for name, func, help_text in (
        ("api", cmd_api, "the HTTP upload service"),
        ("local", cmd_local, "the whole pipeline on this machine (what 'make run' starts)"),
    ):
        sub = add(name, func, help_text)
        sub.add_argument("--host", help="listen address (default: api.host)")
        sub.add_argument("--port", type=int, help="listen port (default: api.port)")
    add("upload-worker", cmd_upload_worker, "validate and convert uploaded tasks")
    add("controller", cmd_controller, "launch and follow one alignment Job per task")
    run_task = add("run-task", cmd_run_task, "align one task (what an alignment Job runs)")
    run_task.add_argument("task_id")
    migrate = add("migrate", cmd_migrate, "bring the database schema up to date")
    migrate.add_argument(
        "--check", action="store_true", help="only check the schema matches the code"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"autophon: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.logging, process=args.command)
    return int(args.func(settings, args))


if __name__ == "__main__":
    sys.exit(main())
