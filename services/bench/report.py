"""Turning a benchmark result into words, a chart and a profile summary.

``summary_lines`` is what a person reads at the end of a run; ``draw_chart`` writes the PNG
that BENCHMARKS.md shows (matplotlib, imported only when a chart is asked for);
``profile_summary`` reads py-spy's raw (collapsed-stack) output and says where the time went.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = [
    "draw_chart",
    "draw_heldout_chart",
    "draw_memory_chart",
    "draw_scale_chart",
    "draw_workers_chart",
    "heldout_bars",
    "profile_summary",
    "summary_lines",
]


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}{unit}"
    return f"{value}{unit}"


def summary_lines(result: dict[str, Any]) -> list[str]:
    """A short human-readable account of the run."""
    head = result["headline"]
    system = result.get("system", {})
    ratios = head.get("ratios", {})
    lines = [
        "",
        f"system: {system.get('created')} appeals created of {system.get('sent')} requests "
        f"({system.get('resends')} resends, {system.get('resends_answered_with_original')} "
        "answered with the original)",
        f"  accepted/s {_fmt(head['accepted_per_s'])}   dispatched/s {_fmt(head['appeals_per_s'])}"
        f"   routing decisions/s {_fmt(head['routing_events_per_s'])}",
        f"  intake -> routed (read from appeals.events): p50 {_fmt(head['p50_ms'], ' ms')}  "
        f"p95 {_fmt(head['p95_ms'], ' ms')}  p99 {_fmt(head['p99_ms'], ' ms')}",
        f"  outcomes {system.get('outcomes')}  without outcome {system.get('without_outcome')}",
        f"  lag at end {head.get('lag_end')}",
        f"baselines: broker {_fmt(head['baseline_broker_msgs_per_s'])} msg/s, "
        f"db insert_one {_fmt(head['baseline_db_writes_per_s'])}/s "
        f"update_one {_fmt(head['baseline_db_updates_per_s'])}/s, "
        f"http no-op {_fmt(head['baseline_http_req_per_s'])} req/s",
        f"ratios: {ratios}",
        f"routing capacity (burst): {_fmt(head.get('routing_capacity_per_s'))} decisions/s",
        f"rss MB: {head.get('rss_mb')}",
        f"cpu (share of one core during the run): {result.get('cpu_core_share')}",
        f"load average at the end of the run: {result.get('machine_load')}",
    ]
    if "staff" in result:
        lines.append(f"staff phase: {result['staff']}")
    return lines


def draw_chart(result: dict[str, Any], out: Path) -> Path:
    """Throughput per second with the offered load, latency percentiles, stage vs baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    head = result["headline"]
    progress = result.get("progress", [])
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    ax = axes[0]
    ts = [p["t"] for p in progress]
    offered = result.get("system", {}).get("offered_per_second", [])
    ax.plot([i + 0.5 for i in range(len(offered))], offered, color="0.6", label="offered/s")
    ax.plot(ts, [p["accepted_per_s"] for p in progress], label="accepted/s (intake)")
    # Progress ticks are about a second apart, more when the machine is busy: divide by dt.
    routed = [
        (b["outcomes"] - a["outcomes"]) / max(b["t"] - a["t"], 1e-9)
        for a, b in zip([{"t": 0.0, "outcomes": 0}, *progress[:-1]], progress, strict=True)
    ]
    ax.plot(ts, routed, label="routed/s (read back)")
    ax2 = ax.twinx()
    ax2.plot(ts, [p["lag"].get("routing", 0) for p in progress], "r:", label="routing lag")
    ax2.set_ylabel("routing consumer lag (messages)")
    ax.set_xlabel("seconds into the run (a day compressed)")
    ax.set_ylabel("appeals per second")
    ax.set_title("Throughput over the compressed day")
    ax.legend(loc="upper left", fontsize=8)
    ax2.legend(loc="upper right", fontsize=8)

    ax = axes[1]
    system = result.get("system", {})
    rows = [
        ("HTTP answer", system.get("http_latency_ms", {})),
        ("intake->stored decision", system.get("latency_occurred_ms", {})),
        ("intake->routed (read)", system.get("latency_ms", {})),
    ]
    qs = ["p50", "p95", "p99"]
    width = 0.25
    for i, (label, summary) in enumerate(rows):
        ax.bar([x + i * width for x in range(len(qs))],
               [summary.get(q) or 0 for q in qs], width, label=label)  # fmt: skip
    ax.axhline(250, color="k", ls="--", lw=1, label="target p99 250 ms")
    ax.set_xticks([x + width for x in range(len(qs))], qs)
    ax.set_ylabel("milliseconds")
    ax.set_yscale("log")
    ax.set_title("Latency percentiles")
    ax.legend(fontsize=8)

    ax = axes[2]
    pairs = [
        ("intake vs\nno-op HTTP", head.get("accepted_per_s"), head.get("baseline_http_req_per_s")),
        ("routing burst vs\nbroker", head.get("routing_capacity_per_s"),
         head.get("baseline_broker_msgs_per_s")),
        ("db writes vs\ninsert_one", head.get("db_writes_per_s"),
         head.get("baseline_db_writes_per_s")),
    ]  # fmt: skip
    labels = [p[0] for p in pairs]
    xs = range(len(pairs))
    ax.bar([x - 0.2 for x in xs], [p[2] or 0 for p in pairs], 0.4, label="baseline", color="0.7")
    ax.bar([x + 0.2 for x in xs], [p[1] or 0 for p in pairs], 0.4, label="system stage")
    for x, (_l, value, base) in zip(xs, pairs, strict=True):
        if value and base:
            ax.annotate(f"{value / base:.0%}", (x + 0.2, value), ha="center", va="bottom")
    ax.set_xticks(list(xs), labels, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("per second")
    ax.set_title("Each stage against its raw baseline")
    ax.legend(fontsize=8)
    fig.suptitle(
        f"appeals bench: {result['options']['rate']:.0f}/s mean ({result['options']['shape']}), "
        f"{result['options']['duration_s']:.0f} s, workers={result['options']['workers']}"
    )
    return _save(fig, out)


def draw_memory_chart(result: dict[str, Any], out: Path) -> Path:
    """RSS of every process over the run (the soak's question: does memory stay flat?)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = result.get("rss_samples", [])
    names = sorted({name for s in samples for name in s["rss_mb"]})
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for name in names:
        points = [(s["t"], s["rss_mb"][name]) for s in samples if name in s["rss_mb"]]
        ax.plot([t for t, _ in points], [mb for _, mb in points], label=name)
    ax.set_xlabel("seconds into the run")
    ax.set_ylabel("RSS (MB)")
    options = result.get("options", {})
    ax.set_title(
        f"Memory over the run: {options.get('rate', 0):.0f}/s offered for "
        f"{options.get('duration_s', 0):.0f} s"
    )
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    return _save(fig, out)


# The scale run's endpoint kinds, in the order a chart shows them, with their labels.
SCALE_KINDS: tuple[tuple[str, str], ...] = (
    ("status", "resident\nstatus"),
    ("unit_queue_page1", "unit queues\npage 1"),
    ("unit_queue_deep", "unit queues\ndeep pages"),
    ("district_triage", "district\ntriage"),
    ("street_section", "street\nsections"),
    ("queue_counts", "queue\ncounts"),
)


def _save(fig: Any, out: Path) -> Path:
    """Lay out, write and close a chart (every chart here is saved the same way)."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _started(result: dict[str, Any]) -> str:
    """When a run started, to the minute ("2026-11-26 16:07"), or "" when not recorded."""
    return str(result.get("started_at", ""))[:16].replace("T", " ")


def scale_label(result: dict[str, Any]) -> str:
    """How a scale run is named in a chart: appeals, backlog, the busiest street's open work,
    and where the queues were read from."""
    # Results from before the backlog option seeded the heavy mix; from before the open-work
    # view, every queue read the database.
    backlog = result.get("backlog", "heavy")
    held = result.get("desks", {}).get("held", {}).get("street")
    street = f", street {held:,} open" if held is not None else ""
    source = "open work in memory" if result.get("open_work") else "database"
    # Two runs of the same command differ only in when they ran (and the code they ran).
    started = _started(result)
    when = f" ({started} UTC)" if started else ""
    return f"{result['appeals']:,} appeals, {backlog} backlog{street}; queues from {source}{when}"


def draw_scale_chart(results: list[dict[str, Any]], out: Path, target_ms: float = 50.0) -> Path:
    """p95 latency of each endpoint kind, one bar per scale run, against the target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 4.8))
    width = 0.8 / max(len(results), 1)
    for i, result in enumerate(results):
        latency = result.get("latency_ms", {})
        heights = [latency.get(kind, {}).get("p95", 0.0) for kind, _ in SCALE_KINDS]
        xs = [k + (i - (len(results) - 1) / 2) * width for k in range(len(SCALE_KINDS))]
        bars = ax.bar(xs, heights, width, label=scale_label(result))
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.axhline(
        target_ms, color="red", linestyle="--", linewidth=1, label=f"target {target_ms:.0f} ms"
    )
    ax.set_xticks(range(len(SCALE_KINDS)), [label for _, label in SCALE_KINDS])
    ax.set_ylabel("p95 (ms), one request at a time")
    ax.set_yscale("log")
    ax.set_title("Work queues and status look-ups at scale (SecantusDB)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, out)


def rebuild_bars(results: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """(label, seconds projected for 1M events) of every rebuild in the results.

    Session 6's run also holds the reading by id range it tried (``rebuild``, with the one
    sorted query under ``rebuild_single_query``); every other ``bench scale`` run read one
    sorted query. A ``bench rebuild`` result holds several runs (``rebuild_runs``), each named
    by the checkout it ran and its round.
    """
    bars: list[tuple[str, float]] = []
    for result in results:
        size = f"{result.get('events', 0) / 1e6:.2f}M events, {_started(result)}"
        for run in result.get("rebuild_runs", []):
            if run.get("events_per_s"):
                label = f"{size}, {run['how']} (round {run['round']})"
                bars.append((label, 1_000_000 / run["events_per_s"]))
        tried_ranges = "rebuild_single_query" in result
        for key, how in (
            ("rebuild_single_query", "one sorted query"),
            ("rebuild", "by id range (dropped)" if tried_ranges else "one sorted query"),
        ):
            rebuild = result.get(key)
            if rebuild and rebuild.get("events_per_s"):
                bars.append((f"{size}, {how}", 1_000_000 / rebuild["events_per_s"]))
    return bars


def draw_rebuild_chart(results: list[dict[str, Any]], out: Path, target_s: float = 120.0) -> Path:
    """Seconds to rebuild 1M events' metrics (projected from each run's rate), against the
    target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = rebuild_bars(results)
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(bars) + 1.6))
    drawn = ax.barh([label for label, _ in bars], [seconds for _, seconds in bars])
    ax.bar_label(drawn, fmt="%.0f s", fontsize=8)
    ax.axvline(target_s, color="red", linestyle="--", linewidth=1, label=f"target {target_s:.0f} s")
    ax.invert_yaxis()
    ax.set_xlabel("seconds for 1M events (projected from the run's events/s)")
    ax.set_title("appeals metrics rebuild (SecantusDB)")
    ax.legend(fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, out)


def workers_bars(results: list[dict[str, Any]]) -> list[tuple[str, float, float]]:
    """(label, routing decisions/s in the burst, appeals/s routed end to end) of each
    ``appeals bench`` result, labelled by its workers and start."""
    bars: list[tuple[str, float, float]] = []
    for result in results:
        workers = result.get("options", {}).get("workers", 1)
        burst = (result.get("routing_burst") or {}).get("decisions_per_s") or 0.0
        routed = result.get("system", {}).get("appeals_per_s") or 0.0
        bars.append((f"{workers} worker{'s' if workers > 1 else ''}, {_started(result)}",
                     burst, routed))  # fmt: skip
    return bars


def draw_workers_chart(results: list[dict[str, Any]], out: Path) -> Path:
    """Routing capacity and appeals routed per second, one pair of bars per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = workers_bars(results)
    fig, ax = plt.subplots(figsize=(8, 0.9 * len(bars) + 1.6))
    rows = range(len(bars))
    burst = ax.barh([r - 0.2 for r in rows], [b for _, b, _ in bars], height=0.4,
                    label="routing capacity (burst of events straight onto the topic)")  # fmt: skip
    routed = ax.barh([r + 0.2 for r in rows], [a for _, _, a in bars], height=0.4,
                     label="appeals routed end to end (intake -> dispatched)")  # fmt: skip
    ax.bar_label(burst, fmt="%.1f/s", fontsize=8)
    ax.bar_label(routed, fmt="%.1f/s", fontsize=8)
    ax.set_yticks(list(rows), [label for label, _, _ in bars])
    ax.invert_yaxis()
    ax.set_xlabel("per second")
    ax.set_title("Routing and metrics workers: capacity and appeals routed")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, out)


TARGET_COVERAGE = 0.90  # issue 8: precision >= 0.99 at coverage >= 0.90


def heldout_bars(report: dict[str, Any]) -> list[tuple[str, list[tuple[str, float, float]]]]:
    """[(file, [(variant, coverage, precision), ...]), ...]: files in natural order (probe2
    before probe10, which a shell's glob does not give), the pooled figures last."""
    variants = report["variants"]
    names: list[str] = []
    for variant in variants.values():
        names += [n for n in variant["files"] if n not in names]
    names.sort(key=_file_order)
    return [
        (
            name,
            [
                (label, v["files"][name]["coverage"], v["files"][name]["precision"])
                for label, v in variants.items()
                if name in v["files"]
            ],
        )
        for name in names
    ]


def _file_order(name: str) -> tuple[bool, str, int]:
    """probe-appeals, probe2-appeals, ..., probe10-appeals, then pooled."""
    number = re.search(r"\d+", name)
    return (name == "pooled", re.sub(r"\d+", "", name), int(number.group()) if number else 0)


def draw_heldout_chart(
    report: dict[str, Any],
    out: Path,
    title: str = "Routing on held-out appeals: words alone and with the second opinion",
) -> Path:
    """``appeals routing heldout --chart``: coverage per probe file and variant (words alone vs
    second opinion, or any variants a report names); coverage is the bar, precision is written
    on it (coverage bought with wrong dispatches is no gain)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = heldout_bars(report)
    labels = list(report["variants"])
    thresholds = [f"{v['threshold']:.2f}" for v in report["variants"].values()]
    height = 0.8 / max(len(labels), 1)
    fig, ax = plt.subplots(figsize=(8.5, 0.75 * len(bars) + 2.0 + 0.2 * len(labels)))
    for i, label in enumerate(labels):
        rows = [(r, next((b for b in group if b[0] == label), None)) for r, (_, group) in
                enumerate(bars)]  # fmt: skip
        ys = [r - 0.4 + height * (i + 0.5) for r, b in rows if b]
        drawn = ax.barh(ys, [b[1] for _, b in rows if b], height=height,
                        label=f"{label} (threshold {thresholds[i]})")  # fmt: skip
        ax.bar_label(drawn, labels=[f"{b[1]:.2f} (precision {b[2]:.3f})" for _, b in rows if b],
                     fontsize=7, padding=2)  # fmt: skip
    ax.axvline(TARGET_COVERAGE, color="grey", linestyle="--", linewidth=1)
    # Below the last row: above the first it would run into the title when rows are few.
    ax.text(TARGET_COVERAGE, len(bars) - 0.45, " target 0.90", fontsize=7, color="grey")
    ax.set_yticks(range(len(bars)), [name for name, _ in bars])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.3)
    ax.set_xlabel("coverage at each variant's threshold (precision in brackets)")
    ax.set_title(title)
    # Below the axes: inside, it covers the last rows' bars and labels. The offset is in
    # inches (under the x label), not a share of the axes, which grow with the files.
    axes_inches = fig.get_figheight() * ax.get_position().height
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.55 / axes_inches), ncol=1)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, out)


def profile_summary(raw: Path, top: int = 15) -> dict[str, Any]:
    """Self and inclusive shares of py-spy raw output (``frame;frame;... count`` lines)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        own[_short(frames[-1])] += count
        for name in {_short(f) for f in frames}:
            inclusive[name] += count

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(k, round(v / total, 3)) for k, v in counter.most_common(top)] if total else []

    return {"samples": total, "self": share(own), "inclusive": share(inclusive)}


def _short(frame: str) -> str:
    # "function (path/to/module.py:123)" -> "function (module.py)"
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    short = "/".join(parts[-2:]) if parts else path
    return f"{name} ({short})"
