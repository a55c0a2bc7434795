"""`appeals routing ...`: the catalog owner's and developer's tools for the router.

Subcommands (each takes ``--jurisdiction`` and ``--matters``, defaulting to
``$APPEALS_JURISDICTION_FILE`` / ``$APPEALS_MATTERS_FILE``, else the demo city):

    appeals routing route   --data appeals.jsonl [--train labelled.jsonl] [--model M]
    appeals routing eval    --data dev.jsonl [--folds 5] [--seeds 8 1 2 3] [--report out.json]
    appeals routing heldout --data probe*.jsonl --train dev.jsonl [--train more.jsonl ...]
    appeals routing explain "楼下烧烤店油烟很大" [--address A] [--lon X --lat Y]
    appeals routing train   --data labelled.jsonl [--out model.pkl]
    appeals routing replay  --matters-new NEW.yaml --data appeals.jsonl [--report out.json]

Standalone: ``python -m services.routing.entrypoints.cli routing eval --data ...``. The
``appeals`` console script adds the group through ``register(subparsers)``; every subcommand
stores its handler in ``args.func`` (returns the exit status). The router's heavy imports
(scikit-learn, jieba, shapely) happen inside the commands, so ``register`` stays cheap.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from shared.city import City, CityDataError, load_city, load_matters

if TYPE_CHECKING:
    from services.routing.adapters.training_data import AppealRecord
    from services.routing.config import RoutingSettings
    from services.routing.domain.embedding import TextEmbedder
    from services.routing.domain.router import LabelledAppeal, RouteOutcome, Router

__all__ = ["main", "register"]

_ROUTE_FIELDS = (
    "street",
    "community",
    "matter",
    "unit",
    "co_handlers",
    "urgency",
    "triage",
    "transfer",
    "confidence",
    "reasons",
)


def _default_paths() -> tuple[str, str]:
    from shared.settings import DEMO_CITY

    return (
        os.environ.get("APPEALS_JURISDICTION_FILE") or str(DEMO_CITY / "jurisdiction.yaml"),
        os.environ.get("APPEALS_MATTERS_FILE") or str(DEMO_CITY / "matters.yaml"),
    )


@functools.cache
def _shared_embedder(cache: str) -> TextEmbedder:
    # One encoder per process: eval and replay build many routers.
    from services.routing.adapters.embedder import E5Embedder, EmbedderError

    try:
        return E5Embedder(cache=Path(cache))
    except EmbedderError as exc:
        raise _UsageError(f"{exc} (or run with --no-embeddings)") from None


def _settings() -> RoutingSettings:
    """The routing worker's settings (APPEALS_*): the CLI decides as the worker does."""
    from pydantic import ValidationError

    from services.routing.config import RoutingSettings

    try:
        return RoutingSettings()
    except ValidationError as exc:
        raise _UsageError(f"bad APPEALS_* setting: {exc}") from None


def _embedder(args: argparse.Namespace) -> TextEmbedder | None:
    # The worker's settings decide what the flag leaves open: APPEALS_ROUTING_EMBEDDINGS, and
    # the same vector cache (APPEALS_ROUTING_EMBEDDING_CACHE, else <APPEALS_DATA_DIR>/...).
    settings = _settings()
    flag = getattr(args, "embeddings", None)
    wanted = settings.routing_embeddings if flag is None else flag
    return _shared_embedder(str(settings.embedding_cache_path)) if wanted else None


_TRAIN_HELP = (
    "labelled appeals to train on as well (a JSONL file, or a folder of them; repeat for "
    "several; default: APPEALS_ROUTING_TRAINING_DATA, as the routing worker)"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``routing`` command group to a parent parser's subparsers."""
    jurisdiction, matters = _default_paths()
    group = subparsers.add_parser("routing", help="the router: route, eval, explain, train, replay")
    commands = group.add_subparsers(dest="routing_command", metavar="COMMAND", required=True)

    def city_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--jurisdiction", default=jurisdiction, help="jurisdiction.yaml")
        p.add_argument("--matters", default=matters, help="matters.yaml (the matter catalog)")
        p.add_argument("--threshold", type=float, default=None, help="dispatch threshold")
        p.add_argument(
            "--embeddings",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="second opinion of a sentence encoder for appeals the words would triage "
            "(default: APPEALS_ROUTING_EMBEDDINGS, else on)",
        )

    p = commands.add_parser("route", help="route every appeal of a JSONL file; JSON lines out")
    city_args(p)
    p.add_argument("--data", required=True, help="appeals, one JSON object a line")
    p.add_argument("--train", action="append", help=_TRAIN_HELP)
    p.add_argument("--model", help="a model saved by 'routing train'")
    p.set_defaults(func=_cmd_route)

    p = commands.add_parser("eval", help="cross-validated figures on labelled appeals")
    city_args(p)
    p.add_argument("--data", required=True, help="labelled appeals (JSONL with 'expected')")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--report", help="write the full report as JSON here")
    p.add_argument("--no-learning-curve", action="store_true", help="skip the learning curve")
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[8],
        help="fold shuffles: the first gives the main figures; with more, each is summarised",
    )
    p.set_defaults(func=_cmd_eval)

    p = commands.add_parser(
        "heldout", help="figures on labelled appeals the router never trained on (probe files)"
    )
    city_args(p)
    p.add_argument("--data", required=True, nargs="+", help="held-out labelled appeals (JSONL)")
    p.add_argument("--train", action="append", help=_TRAIN_HELP)
    p.add_argument("--report", help="write the figures as JSON here")
    p.add_argument("--chart", help="draw coverage and precision per file (PNG) here")
    p.add_argument(
        "--leave-one-out",
        action="store_true",
        help="judge each --data file by a router trained on --train and every other --data "
        "file (how a city's labelled history carries to wording of a writer not in it)",
    )
    p.set_defaults(func=_cmd_heldout)

    p = commands.add_parser("explain", help="one decision and its reasons, human-readable")
    city_args(p)
    p.add_argument("text")
    p.add_argument("--address")
    p.add_argument("--lon", type=float)
    p.add_argument("--lat", type=float)
    p.add_argument("--matter-hint")
    p.add_argument("--exclude", action="append", default=[], help="a unit that returned it")
    p.add_argument("--return-count", type=int, default=0)
    p.add_argument("--train", action="append", help=_TRAIN_HELP)
    p.add_argument("--model", help="a model saved by 'routing train'")
    p.set_defaults(func=_cmd_explain)

    p = commands.add_parser("train", help="train on catalog + labelled appeals and save")
    city_args(p)
    p.add_argument(
        "--data", action="append", help="labelled appeals (a JSONL file or a folder; repeatable)"
    )
    p.add_argument(
        "--history",
        action="store_true",
        help="learn also from the corrections stored in the appeals database "
        "(manual dispatches and coordinators' reassignments; APPEALS_MONGO_URL/APPEALS_MONGO_DB)",
    )
    p.add_argument("--out", default="routing-model.pkl", help="where to save the model")
    p.set_defaults(func=_cmd_train)

    p = commands.add_parser("replay", help="what-if: route stored appeals with a new catalog")
    city_args(p)
    p.add_argument(
        "--matters-new",
        "--new",
        dest="matters_new",
        required=True,
        help="the proposed matters.yaml",
    )
    p.add_argument("--data", required=True, help="stored appeals (JSONL)")
    p.add_argument("--train", action="append", help=f"{_TRAIN_HELP} (both routers)")
    p.add_argument("--report", help="write the full report as JSON here")
    p.set_defaults(func=_cmd_replay)


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry: ``python -m services.routing.entrypoints.cli routing ...``."""
    parser = argparse.ArgumentParser(prog="appeals")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


# ---------------------------------------------------------------------- helpers


class _UsageError(Exception):
    pass


def _load_city(args: argparse.Namespace) -> City:
    try:
        return load_city(args.jurisdiction, args.matters)
    except CityDataError as exc:
        raise _UsageError(str(exc)) from None


def _read(path: str) -> list[AppealRecord]:
    from services.routing.adapters.training_data import TrainingDataError, read_appeals

    try:
        return read_appeals(path)
    except TrainingDataError as exc:
        raise _UsageError(str(exc)) from None


def _threshold(args: argparse.Namespace) -> float | None:
    """--threshold, checked; None when not given (the router's default for its evidence)."""
    value = args.threshold
    if value is None:
        return None
    if not 0.0 <= value <= 1.0:
        raise _UsageError(f"--threshold must lie in [0, 1], not {value}")
    return float(value)


def _judged_threshold(args: argparse.Namespace, embedder: TextEmbedder | None) -> float:
    """The threshold an evaluation reads its figures at: --threshold, else the router's default
    for the evidence it has (the words alone, or with the second opinion)."""
    from services.routing.domain.router import default_threshold

    given = _threshold(args)
    return default_threshold(second_opinion=embedder is not None) if given is None else given


def _router(args: argparse.Namespace, city: City, training: list[LabelledAppeal]) -> Router:
    from services.routing.domain.router import Router, RouterModelError

    threshold = _threshold(args)
    model = getattr(args, "model", None)
    if model:
        try:
            return Router.load(model, city, threshold=threshold, embedder=_embedder(args))
        except RouterModelError as exc:
            raise _UsageError(str(exc)) from None
    try:
        return Router.from_city(
            city, training=training, threshold=threshold, embedder=_embedder(args)
        )
    except ValueError as exc:
        raise _UsageError(f"cannot train: {exc}") from None


def _labelled(paths: Sequence[str | Path]) -> list[LabelledAppeal]:
    """The training examples of labelled files and folders; a bad path is a usage error."""
    from services.routing.adapters.training_data import TrainingDataError, read_labelled

    try:
        return read_labelled(paths)
    except TrainingDataError as exc:
        raise _UsageError(str(exc)) from None


def _training(args: argparse.Namespace) -> list[LabelledAppeal]:
    # Several files or folders: a city's labelled history kept in parts (the heldout learning
    # curve of docs/routing.md trains on dev plus the probe files). Without --train, what the
    # routing worker trains on (APPEALS_ROUTING_TRAINING_DATA), so the CLI decides as it does.
    paths = getattr(args, "train", None) or _settings().routing_training_data
    if not paths and not getattr(args, "leave_one_out", False):
        # Deliberately no labelled file is picked up unasked (one lying next to the catalog
        # may be the test), so say what the router is missing.
        print(
            "note: no labelled appeals (--train, APPEALS_ROUTING_TRAINING_DATA): the router "
            "learns from the catalog alone and triages more (docs/routing.md, session 12)",
            file=sys.stderr,
        )
    return _labelled(paths)


def _guard(func: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            result: int = func(args)
            return result
        except _UsageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    run.__doc__ = func.__doc__
    return run


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


# ---------------------------------------------------------------------- commands


@_guard
def _cmd_route(args: argparse.Namespace) -> int:
    """JSON decision per appeal on stdout."""
    city = _load_city(args)
    records = _read(args.data)
    router = _router(args, city, _training(args))
    for record in records:
        outcome = router.route(record.request)
        line = {"id": record.id, **{k: outcome.to_dict()[k] for k in _ROUTE_FIELDS}}
        sys.stdout.write(_dumps(line) + "\n")
    return 0


@_guard
def _cmd_eval(args: argparse.Namespace) -> int:
    """Cross-validated figures, curves and the worst confusions."""
    from services.routing.domain.evaluation import (
        best_threshold,
        confusion,
        cross_validate,
        learning_curve,
        score,
        threshold_curve,
    )
    from services.routing.domain.router import Router

    city = _load_city(args)
    records = _read(args.data)
    labelled = [r for r in records if r.expected]
    if len(labelled) < args.folds:
        raise _UsageError(f"{args.data}: {len(labelled)} labelled appeals < {args.folds} folds")
    embedder = _embedder(args)
    threshold = _judged_threshold(args, embedder)

    def factory(examples: Sequence[LabelledAppeal]) -> Router:
        # Threshold 0: every threshold's figures from one run; the second opinion is asked
        # where a deployed router would ask it (its own setting, not the threshold).
        return Router.from_city(city, training=examples, threshold=0.0, embedder=embedder)

    started = time.perf_counter()
    seeds = list(dict.fromkeys(args.seeds))
    cv = cross_validate(labelled, factory, args.folds, seed=seeds[0])
    figures = score(cv.cases, cv.outcomes, city.catalog, threshold)
    shuffles = []
    for seed in seeds:
        run = cv if seed == seeds[0] else cross_validate(labelled, factory, args.folds, seed=seed)
        at = score(run.cases, run.outcomes, city.catalog, threshold)
        shuffles.append(
            {
                "seed": seed,
                "precision": at["precision"],
                "coverage": at["coverage"],
                "dispatched_wrong_unit": at["dispatched_wrong_unit"],
                "best_at_precision_0.99": best_threshold(run.cases, run.outcomes, 0.99),
            }
        )
    curve = threshold_curve(cv.cases, cv.outcomes)
    worst = confusion(cv.cases, cv.outcomes)
    learning = (
        []
        if args.no_learning_curve
        else learning_curve(labelled, factory, city.catalog, threshold, args.folds)
    )
    report = {
        "data": str(args.data),
        "jurisdiction": str(args.jurisdiction),
        "matters": str(args.matters),
        "folds": args.folds,
        "metrics": figures,
        "route_ms_per_appeal": cv.route_ms,
        "route_cpu_ms_per_appeal": cv.route_cpu_ms,
        "train_s_per_router": cv.train_s,
        "threshold_curve": curve,
        "shuffles": shuffles,
        "learning_curve": learning,
        "confusion": worst,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    _print_eval(report, sys.stdout)
    if args.report:
        Path(args.report).write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
        print(f"report written to {args.report}")
    return 0


def _print_eval(report: dict[str, Any], out: TextIO) -> None:
    m = report["metrics"]
    w = out.write
    w(
        f"{m['cases']} labelled appeals, {report['folds']}-fold cross-validation "
        f"(trained on catalog + other folds), threshold {m['threshold']:.2f}\n"
    )
    for key in (
        "street_accuracy",
        "community_accuracy",
        "matter_accuracy",
        "unit_accuracy",
        "urgency_accuracy",
        "triage_rate",
    ):
        w(f"  {key:<28}{m[key]:.4f}\n")
    w(
        f"  auto-dispatch precision     {m['precision']:.4f}  "
        f"({m['dispatched_right']}/{m['dispatched']} right unit)\n"
    )
    w(
        f"  auto-dispatch coverage      {m['coverage']:.4f}  "
        f"({m['dispatched']}/{m['appeals_with_unit']} appeals that have a unit)\n"
    )
    w(f"  dispatched without a unit   {m['dispatched_without_unit']}\n")
    w(
        f"  emergencies transferred     {m['emergencies_transferred']}/{m['emergencies']}"
        f"  (false transfers {m['false_transfers']})\n"
    )
    w(
        f"  routing time                {report['route_ms_per_appeal']:.3f} ms/appeal wall, "
        f"{report['route_cpu_ms_per_appeal']:.3f} ms CPU; "
        f"training {report['train_s_per_router']:.2f} s/router\n"
    )
    w("precision / coverage by threshold:\n")
    for row in report["threshold_curve"]:
        w(
            f"  t={row['threshold']:.2f}  precision {row['precision']:.4f}  coverage "
            f"{row['coverage']:.4f}  dispatched {row['dispatched']:>4}  wrong {row['wrong']}\n"
        )
    w("fold shuffles (seed: at the threshold; widest coverage at precision >= 0.99):\n")
    for row in report.get("shuffles", []):
        best = row["best_at_precision_0.99"]
        widest = (
            f"coverage {best['coverage']:.4f} at t={best['threshold']:.2f} "
            f"(precision {best['precision']:.4f})"
            if best
            else "none"
        )
        w(
            f"  seed {row['seed']:>3}  precision {row['precision']:.4f}  coverage "
            f"{row['coverage']:.4f}  wrong {row['dispatched_wrong_unit']}  |  {widest}\n"
        )
    if report["learning_curve"]:
        w("learning curve (share of the training folds used):\n")
        for row in report["learning_curve"]:
            w(
                f"  {row['fraction'] * 100:>5.0f}% ({row['training_appeals']:>4} appeals)  "
                f"precision {row['precision']:.4f}  coverage {row['coverage']:.4f}  "
                f"matter {row['matter_accuracy']:.4f}\n"
            )
    if report["confusion"]:
        w("worst matters (expected: errors/count -> taken for):\n")
        for row in report["confusion"]:
            taken = ", ".join(f"{k} x{v}" for k, v in row["taken_for"].items())
            w(f"  {row['expected']}: {row['errors']}/{row['count']} -> {taken}\n")


@_guard
def _cmd_heldout(args: argparse.Namespace) -> int:
    """The words alone and, with --embeddings, the second opinion, on each file and pooled."""
    from services.routing.adapters.training_data import training_examples
    from services.routing.domain.evaluation import held_out
    from services.routing.domain.router import Router

    city = _load_city(args)
    files = {Path(path).stem: [r for r in _read(path) if r.expected] for path in args.data}
    if not any(files.values()):
        raise _UsageError("no labelled appeal (with 'expected') in the --data files")
    training = _training(args)
    variants: dict[str, TextEmbedder | None] = {"words": None}
    embedder = _embedder(args)
    if embedder is not None:
        variants["second opinion"] = embedder
    report: dict[str, Any] = {
        "training": len(training),
        "leave_one_out": bool(args.leave_one_out),
        "variants": {},
    }
    for variant, encoder in variants.items():
        # Each variant is judged at its own threshold (its default unless --threshold); the
        # router runs at 0 so the widest coverage at 0.99 can be read, and asks the second
        # opinion where a deployed router would, as in eval.
        threshold = _judged_threshold(args, encoder)

        def trained(without: str | None, encoder: TextEmbedder | None = encoder) -> Router:
            # --leave-one-out: the other files are labelled history; the one judged is not.
            others = [
                example
                for name, cases in files.items()
                if without is not None and name != without
                for example in training_examples(cases)
            ]
            return Router.from_city(
                city, training=[*training, *others], threshold=0.0, embedder=encoder
            )

        router = None if args.leave_one_out else trained(None)
        rows: dict[str, Any] = {}
        pooled_cases: list[Any] = []
        pooled: list[RouteOutcome] = []
        cpu = 0.0  # routing only, not the training of each left-out file's router
        for number, (name, cases) in enumerate(files.items(), start=1):
            if not cases:
                continue
            if router is None:
                print(f"  {variant}: training without {name} ({number}/{len(files)})",
                      file=sys.stderr, flush=True)  # fmt: skip
            judge = router or trained(name)
            started = time.process_time()
            outcomes = [judge.route(c.request) for c in cases]
            cpu += time.process_time() - started
            rows[name] = held_out(cases, outcomes, city.catalog, threshold)
            pooled_cases += cases
            pooled += outcomes
        per_appeal = cpu / len(pooled) * 1000
        if len(rows) > 1:
            rows["pooled"] = held_out(pooled_cases, pooled, city.catalog, threshold)
        report["variants"][variant] = {
            "threshold": threshold,
            "files": rows,
            "cpu_ms_per_appeal": round(per_appeal, 2),
        }
        print(f"{variant} (threshold {threshold:.2f}; {per_appeal:.2f} ms CPU per appeal)")
        for name, row in rows.items():
            best = row["best_coverage_at_0_99"]
            print(
                f"  {name:24s} {row['cases']:4d}  precision {row['precision']:.4f}  "
                f"coverage {row['coverage']:.4f}  matter {row['matter_accuracy']:.4f}  "
                f"emergencies {row['emergencies_transferred']}/{row['emergencies']}  "
                f"false transfers {row['false_transfers']}  "
                f"best coverage at >= 0.99 {'-' if best is None else f'{best:.4f}'}"
            )
    if args.report:
        Path(args.report).write_text(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    if args.chart:
        from services.bench.report import draw_heldout_chart

        title = (
            "Routing on held-out appeals, each file with its writer left out of the training"
            if args.leave_one_out
            else "Routing on held-out appeals: words alone and with the second opinion"
        )
        print(f"chart: {draw_heldout_chart(report, Path(args.chart), title)}")
    return 0


@_guard
def _cmd_explain(args: argparse.Namespace) -> int:
    """One decision, human-readable."""
    from services.routing.domain.router import RouteRequest

    city = _load_city(args)
    if (args.lon is None) != (args.lat is None):
        raise _UsageError("give both --lon and --lat, or neither")
    router = _router(args, city, _training(args))
    request = RouteRequest(
        text=args.text,
        address=args.address,
        location=(args.lon, args.lat) if args.lon is not None else None,
        matter_hint=args.matter_hint,
        excluded_units=tuple(args.exclude),
        return_count=args.return_count,
    )
    started = time.perf_counter()
    outcome = router.route(request)
    elapsed = (time.perf_counter() - started) * 1000
    _print_outcome(outcome, city, sys.stdout)
    print(f"(routed in {elapsed:.2f} ms)")
    return 0


def _print_outcome(outcome: RouteOutcome, city: City, out: TextIO) -> None:
    w = out.write
    if outcome.transfer:
        w(f"TRANSFER to {outcome.transfer} ({outcome.matter})\n")
    elif outcome.triage:
        w(f"TRIAGE at {outcome.dispatch_center} ({city.unit_name(outcome.dispatch_center)})\n")
    else:
        w(f"DISPATCH to {outcome.unit} ({city.unit_name(outcome.unit)})\n")
        if outcome.co_handlers:
            names = ", ".join(f"{c} ({city.unit_name(c)})" for c in outcome.co_handlers)
            w(f"  co-handlers: {names}\n")
    matter = city.catalog.get(outcome.matter) if outcome.matter else None
    w(f"  matter:     {outcome.matter} {matter.name if matter else ''}\n")
    w(f"  place:      {outcome.street or '-'} / {outcome.community or '-'}\n")
    w(f"  urgency:    {outcome.urgency}\n")
    w(f"  confidence: {outcome.confidence:.2f}\n")
    w("  reasons:\n")
    for reason in outcome.reasons:
        w(f"    - {reason}\n")
    if outcome.candidates:
        w("  candidates:\n")
        for c in outcome.candidates:
            w(f"    {c['matter']:<32} {c['unit'] or '-':<14} {c['score']:.3f}\n")


@_guard
def _cmd_train(args: argparse.Namespace) -> int:
    """Train and save a model."""
    city = _load_city(args)
    if not args.data and not args.history:
        raise _UsageError("give --data FILE, --history, or both")
    examples = _labelled(args.data) if args.data else []
    if args.history:
        from services.routing.adapters.history import corrections_from_database
        from shared.settings import CommonSettings

        settings = CommonSettings()
        corrections = corrections_from_database(settings.mongo_url, settings.mongo_db)
        print(f"learning from {len(corrections)} corrections stored in {settings.mongo_db}")
        examples += corrections
    started = time.perf_counter()
    router = _router(args, city, examples)
    router.save(args.out)
    print(
        f"trained on the catalog + {len(examples)} labelled appeals in "
        f"{time.perf_counter() - started:.1f} s; saved to {args.out}"
    )
    return 0


@_guard
def _cmd_replay(args: argparse.Namespace) -> int:
    """Which stored appeals would move under a proposed catalog."""
    from services.routing.domain.catalog_change import check_catalog_change
    from services.routing.domain.replay import compare_catalogs
    from services.routing.domain.router import Router

    city = _load_city(args)
    try:
        new_city = City.build(
            city.jurisdiction, load_matters(args.matters_new), source=args.matters_new
        )
    except CityDataError as exc:
        raise _UsageError(str(exc)) from None
    errors = check_catalog_change(city.catalog, new_city.catalog)
    records = _read(args.data)
    training = _training(args)
    threshold = _threshold(args)
    embedder = _embedder(args)
    old = Router.from_city(city, training=training, threshold=threshold, embedder=embedder)
    new_training = [t for t in training if new_city.catalog.get(t.matter) is not None]
    new = Router.from_city(new_city, training=new_training, threshold=threshold, embedder=embedder)
    report = compare_catalogs(old, new, ((r.id, r.request) for r in records))
    for error in errors:
        print(f"catalog rule: {error}")
    print(f"{report.changed} of {report.total} appeals change matter or destination")
    for move in report.moves:
        print(
            f"  {move['from']:>16} -> {move['to']:<16} {move['count']:>5}  "
            f"e.g. {', '.join(move['examples'])}"
        )
    if args.report:
        payload = {"catalog_errors": errors, **report.to_dict()}
        Path(args.report).write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2))
        print(f"report written to {args.report}")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
