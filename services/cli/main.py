"""The ``appeals`` command: run the embedded stack, serve one service, and the tools.

    appeals up                      # broker + database + Prometheus + all services, demo city
    appeals serve appeals|routing|notify|metrics
    appeals routing route|eval|explain|train|replay ...

Each service's own tools are registered by that service's ``entrypoints/cli.py``; this module
only dispatches, and imports a service only when its command runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _add_up(subparsers: argparse._SubParsersAction) -> None:
    from shared.embedded import DEFAULT_BROKER

    up = subparsers.add_parser(
        "up", help="start the whole system on this machine (embedded broker and database)"
    )
    up.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("APPEALS_DATA_DIR", ".appeals"))
    )
    up.add_argument("--broker", choices=["noida", "tansu"], default=DEFAULT_BROKER)
    up.add_argument("--host", default=os.environ.get("APPEALS_BIND_HOST", "127.0.0.1"))
    for flag, env, default in [
        ("--http-port", "APPEALS_HTTP_PORT", 8000),
        ("--metrics-port", "APPEALS_METRICS_PORT", 8001),
        ("--routing-port", "APPEALS_ROUTING_PORT", 8002),
        ("--notify-port", "APPEALS_NOTIFY_PORT", 8003),
        ("--broker-port", "APPEALS_BROKER_PORT", 9092),
        ("--db-port", "APPEALS_DB_PORT", 27017),
        ("--prometheus-port", "APPEALS_PROMETHEUS_PORT", 9090),
    ]:
        up.add_argument(flag, type=int, default=int(os.environ.get(env, default)))
    up.add_argument("--no-prometheus", action="store_true", help="do not start Prometheus")
    up.set_defaults(func=_run_up)


def _run_up(args: argparse.Namespace) -> int:
    from services.cli.stack import Stack, StackConfig
    from shared.embedded import StartupError

    config = StackConfig(
        data_dir=args.data_dir,
        broker=args.broker,
        host=args.host,
        broker_port=args.broker_port,
        db_port=args.db_port,
        prometheus_port=args.prometheus_port,
        ports={
            "appeals": args.http_port,
            "metrics": args.metrics_port,
            "routing": args.routing_port,
            "notify": args.notify_port,
        },
        prometheus=not args.no_prometheus,
        # The running system learns from its dispatchers' corrections, as docker-compose's
        # does (docs/routing.md, "Learning from the people who correct it"), unless told not to.
        extra_env={"APPEALS_ROUTING_LEARN_FROM_HISTORY": "true"}
        if "APPEALS_ROUTING_LEARN_FROM_HISTORY" not in os.environ
        else {},
    )
    stack = Stack(config)
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        stack.start(say=lambda line: print(line, flush=True))
    except (StartupError, OSError) as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr, flush=True)
        stack.stop()
        return 1
    _seed_demo_accounts(stack)
    print(f"\nThe appeals system is up (data in {config.data_dir.resolve()}):")
    for label, url in stack.urls().items():
        print(f"  {label:<18} {url}")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        while not stopping:
            dead = stack.dead()
            if dead == [stack.broker.name if stack.broker else ""] and config.broker == "noida":
                print("\nthe broker exited; restarting it and the services ...", flush=True)
                try:
                    stack.recover_broker()
                except (StartupError, OSError) as exc:
                    print(f"\nFAILED: cannot recover the broker: {exc}", file=sys.stderr)
                    stack.stop()
                    return 1
                continue
            if dead:
                print(
                    f"\nFAILED: {', '.join(dead)} exited; see the logs under "
                    f"{config.data_dir.resolve()}",
                    file=sys.stderr,
                    flush=True,
                )
                stack.stop()
                return 1
            time.sleep(0.5)
    finally:
        print("\nstopping ...", flush=True)
        stack.stop()
    return 0


def _seed_demo_accounts(stack: Any) -> None:
    """One login per role for the demo city, so a newcomer can try the staff side at once.

    Passwords are made up and printed once (or taken from APPEALS_DEMO_PASSWORD); accounts
    that exist are left alone on later runs.
    """
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "staff", "seed-demo"],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    print("\nDemo staff accounts:")
    print(result.stdout.rstrip() or result.stderr.rstrip())


def _add_serve(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser("serve", help="run one service in the foreground")
    serve.add_argument("service", choices=["appeals", "routing", "notify", "metrics"])
    serve.set_defaults(func=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    from shared.logging import configure_logging

    level = os.environ.get("APPEALS_LOG_LEVEL", "INFO")
    configure_logging(args.service, level)
    if args.service == "appeals":
        import uvicorn

        from services.appeals.config import AppealsSettings
        from services.appeals.entrypoints.http import create_app

        settings = AppealsSettings()
        app = create_app(settings)
        config = uvicorn.Config(
            app,
            host=settings.bind_host,
            port=settings.http_port,
            log_config=None,
            timeout_graceful_shutdown=10,
        )
        _draining_server(config, app, drain_seconds=settings.drain_seconds).run()
        return 0
    module = {
        "routing": "services.routing.entrypoints.app",
        "notify": "services.notify.entrypoints.app",
        "metrics": "services.metrics.entrypoints.app",
    }[args.service]
    app = importlib.import_module(module).app
    sys.argv = [f"appeals-{args.service}", "worker", "--loglevel", level.lower()]
    app.main()
    return 0


TOOL_GROUPS = (
    "services.routing.entrypoints.cli",  # appeals routing route|eval|explain|train|replay
    "services.metrics.entrypoints.cli",  # appeals metrics rebuild
    "services.appeals.entrypoints.staff_cli",  # appeals staff add|list|seed-demo
    "services.bench.cli",  # --- Benchmark hook (issue 7): appeals bench [seed|chart]
)


def _draining_server_class() -> Any:
    import threading

    import uvicorn

    class DrainingServer(uvicorn.Server):
        """On SIGTERM, first answer /readyz with 503 for ``drain_seconds`` (so a load
        balancer stops sending new work), then shut down gracefully (in-flight requests
        finish)."""

        def __init__(self, config: Any, app: Any, *, drain_seconds: float) -> None:
            super().__init__(config)
            self.app = app
            self.drain_seconds = drain_seconds
            self._draining = False

        def handle_exit(self, sig: int, frame: Any) -> None:
            if self._draining or self.drain_seconds <= 0:
                super().handle_exit(sig, frame)
                return
            self._draining = True
            self.app.state.draining = True
            timer = threading.Timer(self.drain_seconds, super().handle_exit, (sig, frame))
            timer.daemon = True
            timer.start()

    return DrainingServer


def _draining_server(config: Any, app: Any, *, drain_seconds: float) -> Any:
    return _draining_server_class()(config, app, drain_seconds=drain_seconds)


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    parser = argparse.ArgumentParser(prog="appeals", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_up(subparsers)
    _add_serve(subparsers)
    # Each tool group lives with the service it belongs to; importing them is cheap (heavy
    # imports happen inside the commands).
    for module in TOOL_GROUPS:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``appeals`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
