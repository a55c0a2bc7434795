"""``appeals bench``: measure the whole system against its raw infrastructure on this machine.

    appeals bench --duration 60 [--rate 200] [--workers 2] [--json] [--data-dir DIR]
    appeals bench --target http://host:8000 --bootstrap host:9092 [--mongo-url URL] ...
    appeals bench --soak --duration 600 --rate 100
    appeals bench seed --appeals 200000 [--mongo-url URL]   # at-scale data, straight in
    appeals bench scale --appeals 20000 [--samples 200] [--json] [--out FILE]  # queues at N
    appeals bench rebuild --mongo-url URL --code before=DIR --code after=.  # same log, versions
    appeals bench chart RESULT.json --out docs/bench/bench.png
    appeals bench chart --scale R1.json R2.json --out docs/bench/scale.png  # p95 per kind

Without ``--target`` the embedded stack is started on free ports in a temporary directory and
stopped at the end. One line a second shows progress; ``--json`` prints the result as the last
line (one JSON object), ``--out`` keeps it in a file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["register"]


def _backlog_option(parser: argparse.ArgumentParser) -> None:
    """``--backlog`` of ``seed`` and ``scale``: which share of the appeals is still open."""
    from services.bench.seed import BACKLOGS

    parser.add_argument(
        "--backlog", choices=BACKLOGS, default="steady",
        help="steady: only recent appeals open (~2%%); heavy: 18%% open (services/bench/seed.py)",
    )  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bench`` command (and its ``seed`` and ``chart`` tools) to ``appeals``."""
    bench = subparsers.add_parser(
        "bench", help="benchmark the system against raw broker/database/HTTP baselines"
    )
    bench.add_argument("--duration", type=float, default=60.0, help="seconds of load (a day)")
    bench.add_argument("--rate", type=float, default=200.0, help="mean appeals per second")
    bench.add_argument("--workers", type=int, default=1, help="routing and metrics workers")
    bench.add_argument("--concurrency", type=int, default=64, help="HTTP requests in flight")
    bench.add_argument("--json", action="store_true", help="print the result as the last line")
    bench.add_argument("--out", type=Path, help="write the full result JSON here")
    bench.add_argument("--chart", type=Path, help="draw the chart (PNG) here")
    bench.add_argument("--data-dir", type=Path, help="keep the stack's data here (else a temp dir)")
    bench.add_argument("--target", help="base URL of a running appeals service (no own stack)")
    bench.add_argument("--bootstrap", help="with --target: the broker, host:port")
    bench.add_argument("--mongo-url", help="with --target: the database URL (baselines, staff)")
    bench.add_argument("--broker-profile", default="noida", choices=["noida", "tansu", "kafka"])
    bench.add_argument("--soak", action="store_true", help="flat load; RSS sampled throughout")
    bench.add_argument("--shape", choices=["day", "flat"], default="day")
    bench.add_argument("--no-baselines", action="store_true")
    bench.add_argument("--baseline-messages", type=int, default=50_000)
    bench.add_argument("--burst", type=int, default=5000, help="routing burst size (0: none)")
    bench.add_argument("--staff", type=int, default=200, help="appeals staff carry to closed")
    bench.add_argument("--py-spy", type=Path, help="profile appeals and routing into this dir")
    bench.add_argument("--drain", type=float, default=60.0, help="max seconds to wait after")
    bench.set_defaults(func=_run)
    tools = bench.add_subparsers(dest="bench_command", metavar="TOOL")

    seed = tools.add_parser("seed", help="bulk-insert realistic appeals straight into MongoDB")
    seed.add_argument("--appeals", type=int, required=True)
    seed.add_argument("--mongo-url", help="database URL (else a fresh SecantusDB is started)")
    seed.add_argument("--database", default="appeals")
    seed.add_argument("--batch", type=int, default=1000)
    seed.add_argument("--no-event-log", action="store_true", help="only the appeal documents")
    _backlog_option(seed)
    seed.add_argument("--samples-out", type=Path, help="write ids/tracking numbers/tokens here")
    seed.add_argument("--json", action="store_true")
    seed.set_defaults(func=_run_seed)

    scale = tools.add_parser(
        "scale", help="seed N appeals, time queues and status look-ups, rebuild metrics"
    )
    scale.add_argument("--appeals", type=int, required=True)
    scale.add_argument("--samples", type=int, default=200, help="requests per endpoint")
    scale.add_argument("--mongo-url", help="a running database (else a fresh SecantusDB)")
    scale.add_argument(
        "--data-dir", type=Path, help="keep database and logs here (else a temp dir)"
    )
    scale.add_argument("--database", default="appeals")
    scale.add_argument("--batch", type=int, default=1000, help="appeals per insert_many")
    scale.add_argument("--page-size", type=int, default=20, help="queue page size (1-100)")
    _backlog_option(scale)
    scale.add_argument(
        "--no-open-work",
        dest="open_work",
        action="store_false",
        help="queues read the database, not the open work in memory (the comparison)",
    )
    scale.add_argument(
        "--no-event-log",
        dest="event_log",
        action="store_false",
        help="seed only the appeal documents (far fewer writes) and skip the metrics rebuild",
    )
    scale.add_argument("--json", action="store_true", help="print the result as the last line")
    scale.add_argument("--out", type=Path, help="write the result JSON here")
    scale.set_defaults(func=_run_scale)

    rebuild = tools.add_parser(
        "rebuild", help="rebuild one stored event log's metrics with several versions, in turn"
    )
    rebuild.add_argument("--mongo-url", required=True, help="the database holding event_log")
    rebuild.add_argument("--database", default="appeals")
    rebuild.add_argument(
        "--code", action="append", required=True, metavar="LABEL=DIR",
        help="a checkout to run the rebuild from (repeat: before=/tmp/old --code after=.)",
    )  # fmt: skip
    rebuild.add_argument("--rounds", type=int, default=2, help="runs of every checkout, in turn")
    rebuild.add_argument("--server-pid", type=int, help="the database server's pid (its CPU)")
    rebuild.add_argument("--out", type=Path, help="write the result JSON here")
    rebuild.set_defaults(func=_run_rebuild_compare)

    chart = tools.add_parser("chart", help="draw the chart of a saved result")
    chart.add_argument("result", type=Path, nargs="+", help="result JSON (several with --scale)")
    chart.add_argument("--out", type=Path, default=Path("docs/bench/bench.png"))
    chart.add_argument("--memory", action="store_true", help="RSS of every process over time")
    chart.add_argument(
        "--scale", action="store_true", help="p95 per endpoint kind of 'bench scale' results"
    )
    chart.add_argument(
        "--rebuild", action="store_true",
        help="metrics rebuild time of 'bench scale' and 'bench rebuild' results",
    )  # fmt: skip
    chart.add_argument(
        "--workers", action="store_true",
        help="routing capacity and appeals routed of 'bench --workers N' results",
    )  # fmt: skip
    chart.set_defaults(func=_run_chart)


def _run(args: argparse.Namespace) -> int:
    from services.bench.report import draw_chart, summary_lines
    from services.bench.runner import BenchOptions, run_bench

    options = BenchOptions(
        duration=args.duration,
        rate=args.rate,
        workers=args.workers,
        concurrency=args.concurrency,
        data_dir=args.data_dir,
        target=args.target,
        bootstrap=args.bootstrap,
        mongo_url=args.mongo_url,
        profile=args.broker_profile,
        soak=args.soak,
        shape=args.shape,
        baselines=not args.no_baselines,
        baseline_messages=args.baseline_messages,
        burst=args.burst,
        staff=args.staff,
        py_spy=args.py_spy,
        drain_seconds=args.drain,
        keep_data=args.data_dir is not None,
    )

    def say(line: str) -> None:
        # Progress goes to stderr when --json is asked, so stdout's last line is the JSON.
        print(line, file=sys.stderr if args.json else sys.stdout, flush=True)

    result = run_bench(options, say=say)
    for line in summary_lines(result):
        say(line)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False, default=str))
    if args.chart:
        say(f"chart: {draw_chart(result, args.chart)}")
    if args.json:
        flat = {
            **result["headline"],
            "detail": {k: v for k, v in result.items() if k != "headline"},
        }
        print(json.dumps(flat, ensure_ascii=False, default=str), flush=True)
    return 0


def _run_seed(args: argparse.Namespace) -> int:
    from services.bench.seed import seed_appeals
    from services.bench.stackctl import reference_city
    from shared.city import load_city
    from shared.embedded import start_database

    city_dir = reference_city()
    city = load_city(city_dir / "jurisdiction.yaml", city_dir / "matters.yaml")
    database = None
    url = args.mongo_url
    if url is None:
        data = Path(tempfile.mkdtemp(prefix="appeals-seed-"))
        print(f"starting a database in {data} ...", file=sys.stderr, flush=True)
        database = start_database(data_dir=data)
        url = database.url
    last = [0.0]

    def progress(done: int, seconds: float) -> None:
        if seconds - last[0] >= 5 or done == args.appeals:
            last[0] = seconds
            print(f"  {done:>9,} appeals  {done / seconds:8,.0f}/s", file=sys.stderr, flush=True)

    try:
        t0 = time.perf_counter()
        result = asyncio.run(
            seed_appeals(
                url,
                city,
                args.appeals,
                database=args.database,
                batch=args.batch,
                with_event_log=not args.no_event_log,
                progress=progress,
                backlog=args.backlog,
            )
        )
        out: dict[str, Any] = {
            "appeals": result.appeals,
            "events": result.events,
            "seconds": round(result.seconds, 1),
            "appeals_per_s": round(result.appeals_per_s, 1),
            "events_per_s": round(result.events / result.seconds, 1) if result.seconds else 0,
            "wall_s": round(time.perf_counter() - t0, 1),
            "mongo_url": url,
        }
        if args.samples_out:
            args.samples_out.write_text(json.dumps(result.samples, ensure_ascii=False))
            out["samples_out"] = str(args.samples_out)
    finally:
        if database is not None:
            database.stop()
    print(json.dumps(out) if args.json else "\n".join(f"{k}: {v}" for k, v in out.items()))
    return 0


def _run_scale(args: argparse.Namespace) -> int:
    from services.bench.scale import ScaleOptions, run_scale, summary_lines

    if args.appeals < 1 or args.samples < 1 or not 1 <= args.page_size <= 100:
        raise SystemExit("--appeals and --samples must be >= 1, --page-size within 1..100")
    options = ScaleOptions(
        appeals=args.appeals,
        samples=args.samples,
        data_dir=args.data_dir,
        mongo_url=args.mongo_url,
        database=args.database,
        batch=args.batch,
        page_size=args.page_size,
        backlog=args.backlog,
        open_work=args.open_work,
        event_log=args.event_log,
    )

    def say(line: str) -> None:
        # Progress always on stderr: stdout carries the summary, or the JSON as its last line.
        print(line, file=sys.stderr, flush=True)

    result = run_scale(options, say=say)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False, default=str))
    if args.json:
        print(json.dumps(result, ensure_ascii=False, default=str), flush=True)
    else:
        print("\n".join(summary_lines(result)), flush=True)
    return 0


def _run_rebuild_compare(args: argparse.Namespace) -> int:
    from services.bench.rebuild_compare import CompareOptions, parse_code, run_compare

    try:
        code = [parse_code(value) for value in args.code]
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    if args.rounds < 1:
        raise SystemExit("--rounds must be >= 1")
    options = CompareOptions(
        mongo_url=args.mongo_url,
        database=args.database,
        code=code,
        rounds=args.rounds,
        server_pid=args.server_pid,
    )
    result = run_compare(options, say=lambda line: print(line, file=sys.stderr, flush=True))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    for run in result["rebuild_runs"]:
        cpu = f", server CPU {run['server_cpu_s']} s" if "server_cpu_s" in run else ""
        print(f"round {run['round']} {run['how']}: {run['seconds']} s{cpu}", flush=True)
    return 0


def _run_chart(args: argparse.Namespace) -> int:
    from services.bench.report import (
        draw_chart,
        draw_memory_chart,
        draw_rebuild_chart,
        draw_scale_chart,
        draw_workers_chart,
    )

    results = [json.loads(path.read_text()) for path in args.result]
    if args.workers:
        print(draw_workers_chart(results, args.out))
        return 0
    if args.rebuild:
        print(draw_rebuild_chart(results, args.out))
        return 0
    if args.scale:
        print(draw_scale_chart(results, args.out))
        return 0
    if len(results) > 1:
        raise SystemExit("several results make one chart only with --scale, --rebuild, --workers")
    draw = draw_memory_chart if args.memory else draw_chart
    print(draw(results[0], args.out))
    return 0
